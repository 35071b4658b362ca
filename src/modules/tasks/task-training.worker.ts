/**
 * Worker-thread entry of the `tasks.train` job: loads the base model, trains the task LoRA, keeps
 * its last checkpoints, computes the task's condition vector and returns PEFT safetensors bytes.
 * Runs off the HTTP event loop (run-in-worker.ts); a fresh thread has its own tensor backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../../engine/backend.js';
import { disposeAdapter } from '../../engine/lora-trainable.js';
import { exportPeftAdapter } from '../../engine/peft.js';
import type { TaskExample } from '../../icm/task-suite.js';
import { loadTaskModel, taskCondition, trainTaskAdapter } from '../../icm/task-training.js';
import { serveWorkerTask } from '../../engine/worker/worker-task.js';
import type { TaskTrainSettings } from './task-jobs.js';

export interface TaskTrainingWorkerInput {
  modelDir: string;
  backend?: BackendName;
  examples: TaskExample[];
  trainingData: TaskExample[];
  settings: Required<TaskTrainSettings>;
}

export interface TaskTrainingWorkerOutput {
  rank: number;
  alpha: number;
  targetModules: string[];
  weights: Uint8Array;
  checkpoints: { step: number; bytes: Uint8Array }[];
  condition: Float32Array;
  firstLoss: number;
  finalLoss: number;
  steps: number;
  seconds: number;
}

export interface TaskTrainingWorkerProgress {
  step: number;
  total: number;
  loss: number;
  etaSeconds: number;
}

serveWorkerTask<TaskTrainingWorkerInput, TaskTrainingWorkerOutput, TaskTrainingWorkerProgress>(async (input, ctx) => {
  await initBackend(input.backend);
  const { model, tokenizer } = await loadTaskModel(input.modelDir);
  const s = input.settings;
  const condition = taskCondition(model, tokenizer, input.examples);
  const r = await trainTaskAdapter(model, tokenizer, input.trainingData, {
    rank: s.rank,
    steps: s.steps,
    batchSize: s.batchSize,
    learningRate: s.learningRate,
    lrSchedule: s.lrSchedule,
    minLearningRateRatio: s.minLearningRateRatio,
    keepCheckpoints: s.keepCheckpoints,
    checkpointEvery: s.checkpointEvery,
    seed: s.seed,
    signal: ctx.signal,
    onProgress: (p) => {
      if (p.step % 5 === 0 || p.step === p.totalSteps) ctx.progress({ step: p.step, total: p.totalSteps, loss: p.loss, etaSeconds: p.etaSeconds });
    },
  });
  try {
    if (r.status === 'cancelled') throw new Error('task training cancelled');
    const weights = exportPeftAdapter(r.adapter, model.config).weights;
    const checkpoints = r.checkpoints.map((c) => ({ step: c.step, bytes: exportPeftAdapter(c.adapter, model.config).weights }));
    const value: TaskTrainingWorkerOutput = {
      rank: r.adapter.rank,
      alpha: r.adapter.alpha,
      targetModules: r.adapter.targetModules,
      weights,
      checkpoints,
      condition,
      firstLoss: r.losses[0],
      finalLoss: r.losses[r.losses.length - 1],
      steps: r.losses.length,
      seconds: r.seconds,
    };
    return { value };
  } finally {
    disposeAdapter(r.adapter);
    for (const c of r.checkpoints) disposeAdapter(c.adapter);
    model.dispose();
  }
});
