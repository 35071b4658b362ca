import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter, LoraModuleWeights } from '../engine/lora-types.js';

/** Mean and (population) standard deviation of one tensor, used for z-score normalisation. */
export interface TensorStats {
  mean: number;
  /** Never 0: a constant tensor (for example B at initialisation) gets std 1. */
  std: number;
}

/** Where one LoRA factor sits in the flat vector. */
export interface FlatTensorEntry {
  /** `<module>.lora_A.weight` or `<module>.lora_B.weight`. */
  key: string;
  module: string;
  factor: 'a' | 'b';
  shape: [number, number];
  offset: number;
  length: number;
}

/** Everything needed to rebuild an adapter from a flat vector (without the values). */
export interface FlatLayout {
  rank: number;
  alpha: number;
  targetModules: string[];
  /** In flat order: modules sorted naturally (layer numbers numerically), A before B. */
  entries: FlatTensorEntry[];
  /** Number of real values (sum of entry lengths). */
  length: number;
  /** Length of the flat vector including the zero padding at the end. */
  paddedLength: number;
}

export interface FlattenOptions {
  /** z-score each tensor (default true). */
  normalise?: boolean;
  /** Statistics to normalise with, one per entry in flat order (default: the adapter's own). */
  stats?: TensorStats[];
  /** Pad with zeros to a multiple of this (default 1: no padding). */
  multipleOf?: number;
}

export interface FlatAdapter {
  /** [paddedLength] */
  values: Float32Array;
  layout: FlatLayout;
  /** One per entry; identity stats (mean 0, std 1) when not normalised. */
  stats: TensorStats[];
}

const MIN_STD = 1e-12;

/** Module names in a stable order: natural sort, so layer 10 comes after layer 9. */
export function sortedModuleNames(adapter: LoraAdapter): string[] {
  return [...adapter.modules.keys()].sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
}

/** The flat layout of an adapter (no values read). */
export function flatLayoutOf(adapter: LoraAdapter, multipleOf = 1): FlatLayout {
  const entries: FlatTensorEntry[] = [];
  let offset = 0;
  for (const module of sortedModuleNames(adapter)) {
    const weights = adapter.modules.get(module)!;
    for (const factor of ['a', 'b'] as const) {
      const [rows, cols] = weights[factor].shape;
      const key = `${module}.lora_${factor.toUpperCase()}.weight`;
      entries.push({ key, module, factor, shape: [rows, cols], offset, length: rows * cols });
      offset += rows * cols;
    }
  }
  return {
    rank: adapter.rank,
    alpha: adapter.alpha,
    targetModules: [...adapter.targetModules],
    entries,
    length: offset,
    paddedLength: padTo(offset, multipleOf),
  };
}

/** Smallest multiple of `multipleOf` that is ≥ `n`. */
export function padTo(n: number, multipleOf: number): number {
  if (!Number.isInteger(multipleOf) || multipleOf < 1) throw new Error(`multipleOf must be a positive integer, got ${multipleOf}`);
  return Math.ceil(n / multipleOf) * multipleOf;
}

/** Mean and population std in float64; std 0 becomes 1 so that normalising is defined. */
export function tensorStats(values: Float32Array): TensorStats {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  const mean = values.length > 0 ? sum / values.length : 0;
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += (values[i] - mean) ** 2;
  const std = values.length > 0 ? Math.sqrt(sq / values.length) : 0;
  return { mean, std: std > MIN_STD ? std : 1 };
}

/**
 * Statistics per tensor pooled over several adapters of the same layout: what a generator
 * normalises its whole training set with, and un-normalises generated vectors with.
 */
export function pooledTensorStats(adapters: LoraAdapter[]): TensorStats[] {
  if (adapters.length === 0) throw new Error('pooledTensorStats needs at least one adapter');
  const layout = flatLayoutOf(adapters[0]);
  for (const adapter of adapters) assertSameLayout(layout, flatLayoutOf(adapter));
  return layout.entries.map((entry) => {
    const all = new Float32Array(entry.length * adapters.length);
    adapters.forEach((adapter, i) => all.set(readFactor(adapter, entry), i * entry.length));
    return tensorStats(all);
  });
}

/** Flattens an adapter into one vector (optionally z-scored per tensor, zero-padded). */
export function flattenAdapter(adapter: LoraAdapter, options: FlattenOptions = {}): FlatAdapter {
  const normalise = options.normalise ?? true;
  const layout = flatLayoutOf(adapter, options.multipleOf ?? 1);
  if (options.stats && options.stats.length !== layout.entries.length) {
    throw new Error(`expected ${layout.entries.length} tensor stats, got ${options.stats.length}`);
  }
  const values = new Float32Array(layout.paddedLength);
  const stats = layout.entries.map((entry, i) => {
    const raw = readFactor(adapter, entry);
    if (!normalise) {
      values.set(raw, entry.offset);
      return { mean: 0, std: 1 };
    }
    const s = options.stats?.[i] ?? tensorStats(raw);
    for (let j = 0; j < raw.length; j++) values[entry.offset + j] = (raw[j] - s.mean) / s.std;
    return s;
  });
  return { values, layout, stats };
}

/**
 * Rebuilds an adapter from a flat vector: un-normalises each tensor with `stats` (omit for a
 * vector that was not normalised) and reshapes. The caller owns (and disposes) the new tensors.
 */
export function unflattenAdapter(values: Float32Array, layout: FlatLayout, stats?: TensorStats[]): LoraAdapter {
  if (values.length < layout.length) throw new Error(`flat vector has ${values.length} values, layout needs ${layout.length}`);
  if (stats && stats.length !== layout.entries.length) throw new Error(`expected ${layout.entries.length} tensor stats, got ${stats.length}`);
  const modules = new Map<string, LoraModuleWeights>();
  const pending = new Map<string, Partial<LoraModuleWeights>>();
  layout.entries.forEach((entry, i) => {
    const slice = values.slice(entry.offset, entry.offset + entry.length);
    if (stats) {
      const { mean, std } = stats[i];
      for (let j = 0; j < slice.length; j++) slice[j] = slice[j] * std + mean;
    }
    const weights = pending.get(entry.module) ?? {};
    weights[entry.factor] = tf.tensor2d(slice, entry.shape);
    pending.set(entry.module, weights);
  });
  for (const [module, w] of pending) {
    if (!w.a || !w.b) throw new Error(`layout misses a factor of module ${module}`);
    modules.set(module, { a: w.a, b: w.b });
  }
  return { rank: layout.rank, alpha: layout.alpha, targetModules: [...layout.targetModules], modules };
}

/** Throws unless two layouts describe the same tensors at the same offsets. */
export function assertSameLayout(expected: FlatLayout, actual: FlatLayout): void {
  const describe = (l: FlatLayout) => l.entries.map((e) => `${e.key}[${e.shape.join('x')}]@${e.offset}`).join(',');
  if (expected.rank !== actual.rank || describe(expected) !== describe(actual)) {
    throw new Error('adapter layout differs from the generator layout (modules, shapes or rank)');
  }
}

function readFactor(adapter: LoraAdapter, entry: FlatTensorEntry): Float32Array {
  const t = adapter.modules.get(entry.module)?.[entry.factor];
  if (!t) throw new Error(`adapter has no ${entry.key}`);
  return t.dataSync() as Float32Array;
}
