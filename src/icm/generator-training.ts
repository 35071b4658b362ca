/**
 * Generator training over every task's checkpoint set (ICM-LoRA): each checkpoint is one CVAE
 * sample conditioned on its task's condition vector. Returns the generator, its serialised bytes
 * and the metrics a generator version stores. Framework-free.
 */
import { exportPeftAdapter } from '../engine/peft.js';
import { parseSafetensors, serializeSafetensors } from '../engine/safetensors.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import type { ModelConfig } from '../engine/model-config.js';
import { AdapterGenerator, type TrainGeneratorOptions } from './generator.js';
import { serialiseGenerator } from './generator-io.js';

/** One task's kept checkpoints and its condition vector [condDim]. */
export interface TaskCheckpointSet {
  task: string;
  condition: Float32Array;
  checkpoints: LoraAdapter[];
}

/** What a trained generator version records. */
export interface GeneratorMetrics {
  tasks: string[];
  samples: number;
  epochs: number;
  finalLoss: number;
  finalMse: number;
  finalKl: number;
  /** First epoch's loss, to show it went down. */
  firstLoss: number;
  seconds: number;
  generatorBytes: number;
  /** Bytes of every checkpoint the generator was trained on, as stored (PEFT safetensors). */
  checkpointBytes: number;
  /** generatorBytes / checkpointBytes. */
  storageRatio: number;
}

export interface GeneratorTrainingResult {
  generator: AdapterGenerator;
  bytes: Uint8Array;
  metrics: GeneratorMetrics;
}

/** PEFT safetensors size of one adapter: what a stored checkpoint costs. */
export function adapterBytes(adapter: LoraAdapter, model: ModelConfig): number {
  return exportPeftAdapter(adapter, model).weights.byteLength;
}

/**
 * Size of an adapter as a float16 PEFT weights file (adapter_model.safetensors, same names and
 * header): what storing it costs, the denominator of a generator's storage ratio (issue 15).
 */
export function adapterBytesF16(adapter: LoraAdapter, model: ModelConfig): number {
  const parsed = parseSafetensors(exportPeftAdapter(adapter, model).weights);
  const half = new Map([...parsed.tensors].map(([k, t]) => [k, { ...t, dtype: 'F16' as const }]));
  return serializeSafetensors(half, parsed.metadata).byteLength;
}

/** A generator file's size against the checkpoints it was trained on and against one float16 adapter per task. */
export function storageMetrics(generatorBytes: number, checkpointBytes: number, adapterBytesF16: number) {
  return {
    generatorBytes,
    checkpointBytes,
    storageRatio: generatorBytes / checkpointBytes,
    adapterBytesF16,
    storageRatioF16: generatorBytes / adapterBytesF16,
  };
}

/**
 * Trains an AdapterGenerator on all sets (every checkpoint must have the same layout) and
 * serialises it with `extra` metadata (for example the service's version id).
 */
export async function trainTaskGenerator(
  sets: readonly TaskCheckpointSet[],
  model: ModelConfig,
  options: TrainGeneratorOptions & { extra?: Record<string, string> } = {},
): Promise<GeneratorTrainingResult> {
  const samples = sets.flatMap((s) => s.checkpoints.map((adapter) => ({ adapter, condition: s.condition })));
  if (sets.length < 2) throw new Error(`a generator needs checkpoint sets of at least 2 tasks, got ${sets.length}`);
  if (samples.length === 0) throw new Error('the checkpoint sets hold no checkpoints');
  const started = performance.now();
  const generator = await AdapterGenerator.train(samples, options);
  try {
    const bytes = serialiseGenerator(generator, options.extra ?? {});
    const checkpointBytes = samples.reduce((n, s) => n + adapterBytes(s.adapter, model), 0);
    const h = generator.state.history;
    const last = h[h.length - 1];
    const metrics: GeneratorMetrics = {
      tasks: sets.map((s) => s.task),
      samples: samples.length,
      epochs: h.length,
      firstLoss: h[0]?.loss ?? NaN,
      finalLoss: last?.loss ?? NaN,
      finalMse: last?.mse ?? NaN,
      finalKl: last?.kl ?? NaN,
      seconds: (performance.now() - started) / 1000,
      generatorBytes: bytes.byteLength,
      checkpointBytes,
      storageRatio: bytes.byteLength / checkpointBytes,
    };
    return { generator, bytes, metrics };
  } catch (error) {
    generator.dispose();
    throw error;
  }
}
