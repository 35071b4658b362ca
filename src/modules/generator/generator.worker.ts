/**
 * Worker-thread entry of the generator: `train` fits an ICM-LoRA CVAE over task checkpoint sets
 * (PEFT bytes in, serialised generator out); `generate` decodes an adapter for a condition (given,
 * or computed from in-context examples with the base model). Off the HTTP event loop.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../../engine/backend.js';
import { disposeAdapter } from '../../engine/lora-trainable.js';
import { parseModelConfig, type ModelConfig } from '../../engine/model-config.js';
import { exportPeftAdapter, importPeftAdapter } from '../../engine/peft.js';
import { serveWorkerTask } from '../../engine/worker/worker-task.js';
import { deserialiseGenerator } from '../../icm/generator-io.js';
import { trainTaskGenerator, type GeneratorMetrics, type TaskCheckpointSet } from '../../icm/generator-training.js';
import type { TaskExample } from '../../icm/task-suite.js';
import { loadTaskModel, taskCondition } from '../../icm/task-training.js';

export interface PeftShape {
  rank: number;
  alpha: number;
  targetModules: string[];
}

export type GeneratorWorkerInput =
  | {
      mode: 'train';
      modelDir: string;
      backend?: BackendName;
      sets: { task: string; condition: number[]; peft: PeftShape; checkpoints: Uint8Array[] }[];
      epochs: number;
      seed: number;
      architecture: { latentDim?: number; width?: number; basisRank?: number };
      extra: Record<string, string>;
    }
  | {
      mode: 'generate';
      modelDir: string;
      backend?: BackendName;
      generator: Uint8Array;
      /** The task's stored condition, or in-context examples to compute one from. */
      condition?: number[];
      examples?: TaskExample[];
      seed: number;
    };

export type GeneratorWorkerOutput =
  | { mode: 'train'; bytes: Uint8Array; metrics: GeneratorMetrics }
  | { mode: 'generate'; weights: Uint8Array; condition: Float32Array; rank: number; alpha: number; targetModules: string[] };

export interface GeneratorWorkerProgress {
  epoch: number;
  epochs: number;
  loss: number;
}

async function modelConfig(dir: string): Promise<ModelConfig> {
  return parseModelConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
}

serveWorkerTask<GeneratorWorkerInput, GeneratorWorkerOutput, GeneratorWorkerProgress>(async (input, ctx) => {
  await initBackend(input.backend);
  if (input.mode === 'train') {
    const config = await modelConfig(input.modelDir);
    const sets: TaskCheckpointSet[] = input.sets.map((s) => ({
      task: s.task,
      condition: Float32Array.from(s.condition),
      checkpoints: s.checkpoints.map((bytes) =>
        importPeftAdapter({ peft_type: 'LORA', r: s.peft.rank, lora_alpha: s.peft.alpha, target_modules: s.peft.targetModules }, bytes, config),
      ),
    }));
    try {
      const r = await trainTaskGenerator(sets, config, {
        epochs: input.epochs,
        seed: input.seed,
        architecture: input.architecture,
        extra: input.extra,
        signal: ctx.signal,
        onProgress: (p) => ctx.progress({ epoch: p.epoch, epochs: p.epochs, loss: p.loss }),
      });
      r.generator.dispose();
      return { value: { mode: 'train', bytes: r.bytes, metrics: r.metrics } };
    } finally {
      for (const s of sets) s.checkpoints.forEach(disposeAdapter);
    }
  }
  const { generator } = deserialiseGenerator(input.generator);
  try {
    let condition: Float32Array;
    let config: ModelConfig;
    if (input.condition) {
      condition = Float32Array.from(input.condition);
      config = await modelConfig(input.modelDir);
    } else {
      const { model, tokenizer } = await loadTaskModel(input.modelDir);
      condition = taskCondition(model, tokenizer, input.examples ?? []);
      config = model.config;
      model.dispose();
    }
    const adapter = generator.generate(condition, input.seed);
    try {
      const weights = exportPeftAdapter(adapter, config).weights;
      return { value: { mode: 'generate', weights, condition, rank: adapter.rank, alpha: adapter.alpha, targetModules: adapter.targetModules } };
    } finally {
      disposeAdapter(adapter);
    }
  } finally {
    generator.dispose();
  }
});
