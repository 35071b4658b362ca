/**
 * Task adapters (DESIGN §4): train a task LoRA with the engine trainer, keeping the last N
 * checkpoints (ICM-LoRA learns a distribution of adapters, not one point); the task's condition
 * vector; greedy evaluation with the suite's scoring rule. Framework-free.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadCheckpoint } from '../engine/checkpoint.js';
import { conditionVector } from '../engine/features.js';
import { generate, type TextTokenizer } from '../engine/generate.js';
import { stackLora } from '../engine/lora.js';
import { createTrainableLora, disposeAdapter } from '../engine/lora-trainable.js';
import type { LoraAdapter, LoraModuleWeights } from '../engine/lora-types.js';
import { buildLmBatch, maskedCrossEntropy, train, warmupCosineSchedule, type LmExample, type TrainProgress } from '../engine/trainer.js';
import { parseModelConfig } from '../engine/model-config.js';
import type { TextTokenizer as EngineTokenizer } from '../engine/tokenizer.js';
import { TransformerModel } from '../engine/transformer.js';
import { defaultCheckpointEvery, TASK_LR_SCHEDULES, type TaskLrSchedule } from './task-schedule.js';
import { scoreTaskAnswer, type TaskExample } from './task-suite.js';

export { defaultCheckpointEvery, TASK_LR_SCHEDULES, type TaskLrSchedule } from './task-schedule.js';

/** Encoding the task code needs: the engine's generation tokenizer plus an end-of-text id. */
export type TaskTokenizer = TextTokenizer;

export interface TaskTrainingOptions {
  /** LoRA rank (default 4) and alpha (default 2·rank). */
  rank?: number;
  alpha?: number;
  /** PEFT short names (default: every attention and MLP projection of the family). */
  targetModules?: string[];
  /** Optimizer steps (default 200). */
  steps?: number;
  batchSize?: number;
  /** Peak learning rate (default 5e-3). */
  learningRate?: number;
  /** Default `cosine` (see TaskLrSchedule). */
  lrSchedule?: TaskLrSchedule;
  /** Floor of the cosine schedule as a fraction of the peak (default 0.1). */
  minLearningRateRatio?: number;
  /** Checkpoints kept: the last `keepCheckpoints` snapshots (default 10), one every `checkpointEvery` steps (default: defaultCheckpointEvery). */
  keepCheckpoints?: number;
  checkpointEvery?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (progress: TrainProgress) => void;
}

/** The optimizer's learning rate for a task run: the peak, or a step → rate schedule (1-based steps). */
export function taskLearningRate(
  peak: number,
  steps: number,
  schedule: TaskLrSchedule = 'cosine',
  minRatio = 0.1,
): number | ((step: number) => number) {
  if (!(peak > 0)) throw new Error(`learningRate must be > 0, got ${peak}`);
  if (schedule === 'constant') return peak;
  if (schedule !== 'cosine') throw new Error(`lrSchedule must be one of ${TASK_LR_SCHEDULES.join(', ')}, got ${String(schedule)}`);
  if (!(minRatio >= 0 && minRatio <= 1)) throw new Error(`minLearningRateRatio must be in [0, 1], got ${minRatio}`);
  // No warm-up: at this peak training was stable from step 1 with the constant rate, and the
  // problem was the end (checkpoints jittering), so only the tail changes.
  return warmupCosineSchedule(peak, 0, steps, minRatio);
}

/** One kept checkpoint: the adapter after `step` updates. */
export interface TaskCheckpoint {
  step: number;
  adapter: LoraAdapter;
}

export interface TaskTrainingResult {
  status: 'completed' | 'cancelled';
  /** The adapter after the last step (the caller owns its tensors). */
  adapter: LoraAdapter;
  /** Oldest first; the last one is the final adapter's snapshot (separate tensors). */
  checkpoints: TaskCheckpoint[];
  losses: number[];
  seconds: number;
}

/** undefined = DEFAULT_TARGET_MODULES of the model family: attention-only LoRAs (q, v) could not learn the suite's formats. */
export const DEFAULT_TASK_TARGETS: string[] | undefined = undefined;

/** The engine tokenizer as generation wants it: plain text in and out, no special tokens added. */
export function taskTokenizer(tok: EngineTokenizer): TaskTokenizer {
  return {
    encode: (text) => tok.encode(text, { addSpecialTokens: false }),
    decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }),
    eosTokenId: tok.eosId,
  };
}

/** A frozen base model and its tokenizer from a checkpoint folder (the backend must be initialised). */
export async function loadTaskModel(dir: string): Promise<{ model: TransformerModel; tokenizer: TaskTokenizer }> {
  const ckpt = await loadCheckpoint(dir);
  const model = TransformerModel.create(parseModelConfig(ckpt.config), ckpt.weights);
  for (const t of ckpt.weights.values()) t.dispose(); // create() copied them
  return { model, tokenizer: taskTokenizer(ckpt.tokenizer) };
}

/** Prompt ids and completion ids (+ end-of-text, so the adapter learns to stop). */
export function encodeTaskExamples(tokenizer: TaskTokenizer, examples: readonly TaskExample[]): LmExample[] {
  return examples.map((e) => ({
    prompt: tokenizer.encode(e.prompt),
    completion: [...tokenizer.encode(e.completion), ...(tokenizer.eosTokenId !== undefined ? [tokenizer.eosTokenId] : [])],
  }));
}

/**
 * The task's condition vector [dModel]: the base model's last-layer hidden state at the final
 * position of each in-context example (prompt + completion), averaged over the examples.
 */
export function taskCondition(model: TransformerModel, tokenizer: TaskTokenizer, examples: readonly TaskExample[]): Float32Array {
  if (examples.length === 0) throw new Error('a task condition needs at least one example');
  return conditionVector(
    model,
    examples.map((e) => tokenizer.encode(e.prompt + e.completion)),
  );
}

/** Trains a task LoRA on `examples` (loss on completion tokens only) and keeps the last checkpoints. */
export async function trainTaskAdapter(
  model: TransformerModel,
  tokenizer: TaskTokenizer,
  examples: readonly TaskExample[],
  options: TaskTrainingOptions = {},
): Promise<TaskTrainingResult> {
  const rank = options.rank ?? 4;
  const steps = options.steps ?? 200;
  const keep = options.keepCheckpoints ?? 10;
  const every = options.checkpointEvery ?? defaultCheckpointEvery(steps, keep);
  if (keep < 1 || every < 1) throw new Error('keepCheckpoints and checkpointEvery must be ≥ 1');
  const data = encodeTaskExamples(tokenizer, examples);
  const pad = model.config.padTokenId ?? 0;
  const lora = createTrainableLora(model, {
    rank,
    alpha: options.alpha ?? 2 * rank,
    targetModules: options.targetModules ?? DEFAULT_TASK_TARGETS,
    seed: options.seed ?? 0,
  });
  const app = lora.application(1);
  const checkpoints: TaskCheckpoint[] = [];
  try {
    const result = await train<LmExample>({
      variables: lora.variables(),
      examples: data,
      batchSize: options.batchSize ?? 16,
      steps,
      seed: options.seed ?? 0,
      optimizer: { learningRate: taskLearningRate(options.learningRate ?? 5e-3, steps, options.lrSchedule, options.minLearningRateRatio) },
      maxGradNorm: 1,
      signal: options.signal,
      loss: (batch) => {
        const b = buildLmBatch(batch, pad, model.config.maxPositions);
        const tokenIds = tf.tensor2d(b.inputIds, [b.batch, b.seq], 'int32'); // [batch, seq]
        const targets = tf.tensor2d(b.targets, [b.batch, b.seq], 'int32');
        const mask = tf.tensor2d(b.mask, [b.batch, b.seq]);
        const { logits } = model.forward({ tokenIds }, { lora: app, logits: 'all' }); // [batch, seq, vocab]
        return maskedCrossEntropy(logits!, targets, mask);
      },
      onProgress: (p) => {
        // Snapshot on the checkpoint grid and always at the end, keeping only the last `keep`.
        if (p.step % every === 0 || p.step === steps) {
          if (checkpoints.at(-1)?.step !== p.step) checkpoints.push({ step: p.step, adapter: lora.freeze() });
          while (checkpoints.length > keep) disposeAdapter(checkpoints.shift()!.adapter);
        }
        options.onProgress?.(p);
      },
    });
    return { status: result.status, adapter: lora.freeze(), checkpoints, losses: result.losses, seconds: result.seconds };
  } catch (error) {
    for (const c of checkpoints) disposeAdapter(c.adapter);
    throw error;
  } finally {
    app.dispose();
    lora.dispose();
  }
}

/** Element-wise mean of adapters of one layout, factor by factor (the checkpoint-average baseline). */
export function averageAdapters(adapters: readonly LoraAdapter[]): LoraAdapter {
  if (adapters.length === 0) throw new Error('averageAdapters needs at least one adapter');
  const first = adapters[0];
  const modules = new Map<string, LoraModuleWeights>();
  for (const name of first.modules.keys()) {
    const mean = (f: 'a' | 'b') =>
      tf.tidy(() => tf.div(tf.addN(adapters.map((a) => a.modules.get(name)![f])), adapters.length) as tf.Tensor2D);
    modules.set(name, { a: mean('a'), b: mean('b') });
  }
  return { rank: first.rank, alpha: first.alpha, targetModules: [...first.targetModules], modules };
}

export interface EvaluateOptions {
  maxTokens?: number;
  /** Prompts per generate call (default 32). */
  batchSize?: number;
}

/** Greedy answers with `adapter` (or the base model) scored with scoreTaskAnswer: accuracy in [0, 1]. */
export async function evaluateTask(
  model: TransformerModel,
  tokenizer: TaskTokenizer,
  items: readonly { prompt: string; expected: string }[],
  adapter?: LoraAdapter,
  options: EvaluateOptions = {},
): Promise<{ accuracy: number; answers: string[] }> {
  if (items.length === 0) return { accuracy: 0, answers: [] };
  const lora = adapter ? stackLora(model, [{ adapter, strength: 1 }]) : undefined;
  const answers: string[] = [];
  let correct = 0;
  try {
    const size = options.batchSize ?? 32;
    for (let i = 0; i < items.length; i += size) {
      const chunk = items.slice(i, i + size);
      const out = await generate(
        model,
        tokenizer,
        chunk.map((it) => it.prompt),
        { maxTokens: options.maxTokens ?? 16, temperature: 0, stop: ['\n'], lora },
      );
      out.forEach((o, k) => {
        answers.push(o.text);
        if (scoreTaskAnswer(o.text, chunk[k].expected)) correct++;
      });
    }
  } finally {
    lora?.dispose();
  }
  return { accuracy: correct / items.length, answers };
}
