import * as tf from '@tensorflow/tfjs-core';
import { f16ToF32, f32ToF16 } from '../engine/safetensors-half.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import { Cvae, type CvaeConfig } from './cvae.js';
import { trainCvae, type CvaeProgress } from './cvae-train.js';
import { assertSameLayout, flatLayoutOf, flattenAdapter, padTo, pooledTensorStats, unflattenAdapter, type FlatLayout, type TensorStats } from './flatten.js';
import { scaledPrincipalBasis } from './pca.js';
import { SeededRandom } from './random.js';

/** One training example: a task adapter (one checkpoint) and its task's condition vector. */
export interface GeneratorSample {
  adapter: LoraAdapter;
  /** [condDim]: the base model's last-layer hidden state at the final position, averaged over examples. */
  condition: Float32Array;
}

/** Architecture knobs; anything left out is chosen from the flat length by planCvaeConfig. */
export interface ArchitectureOptions {
  patch?: number;
  /** Channels of every level (patch convolution and stride-2 levels). */
  width?: number;
  levels?: number;
  /** Largest bottleneck length when levels is not given. */
  maxBottleneck?: number;
  latentDim?: number;
  condProjDim?: number;
  klWeight?: number;
  /** Rank of the low-rank output head (0: none; default 8); see CvaeConfig.basisRank. */
  basisRank?: number;
  basisHidden?: number;
}

export interface TrainGeneratorOptions {
  architecture?: ArchitectureOptions;
  /** Seeds weights, batch order and noise (default 0). */
  seed?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  onProgress?: (progress: CvaeProgress) => void;
  signal?: AbortSignal;
}

/** What a generator carries besides its network (all of it is serialised). */
export interface GeneratorState {
  layout: FlatLayout;
  /** Pooled per-tensor statistics of the training adapters: generated vectors are un-normalised with them. */
  stats: TensorStats[];
  /** [layout.paddedLength] mean normalised training vector, stored as float16 (rounded at training). */
  centre: Float32Array;
  /** The CVAE models (normalised − centre) / residualScale. */
  residualScale: number;
  /** [condDim] conditions are centred and divided by one scale, which keeps their geometry. */
  condMean: Float32Array;
  condScale: number;
  /** Per-epoch losses of the training run. */
  history: CvaeProgress[];
  samples: number;
  seed: number;
}

/** Default architecture for a flat length; see docs/icm.md for the reasoning. */
export function planCvaeConfig(flatLength: number, condDim: number, o: ArchitectureOptions = {}): CvaeConfig {
  const patch = o.patch ?? (flatLength >= 65_536 ? 64 : flatLength >= 8_192 ? 32 : flatLength >= 1_024 ? 8 : 2);
  const width = o.width ?? 32;
  const maxBottleneck = o.maxBottleneck ?? 16;
  const levels = o.levels ?? Math.max(1, Math.ceil(Math.log2(flatLength / (patch * maxBottleneck))));
  return {
    inputLength: padTo(flatLength, patch * 2 ** levels),
    patch,
    patchChannels: width,
    channels: new Array<number>(levels).fill(width),
    condDim,
    condProjDim: o.condProjDim ?? 32,
    latentDim: o.latentDim ?? 64,
    klWeight: o.klWeight ?? 0.005,
    leak: 0.2,
    bnMomentum: 0.1,
    basisRank: o.basisRank ?? 8,
    basisHidden: o.basisHidden ?? 64,
  };
}

/**
 * An ICM-LoRA generator: a CVAE over flattened, normalised task adapters, conditioned on task
 * vectors. `generate(condition, seed)` samples z ~ N(0, I), decodes and returns a LoraAdapter.
 */
export class AdapterGenerator {
  constructor(
    readonly model: Cvae,
    readonly state: GeneratorState,
  ) {
    if (state.centre.length !== model.config.inputLength) throw new Error('centre length does not match the CVAE input length');
    if (state.condMean.length !== model.config.condDim) throw new Error('condition mean does not match the CVAE condition size');
  }

  /** Trains a generator on task adapter checkpoints (all of one layout) and their conditions. */
  static async train(samples: GeneratorSample[], options: TrainGeneratorOptions = {}): Promise<AdapterGenerator> {
    if (samples.length === 0) throw new Error('a generator needs at least one training adapter');
    const seed = options.seed ?? 0;
    const condDim = samples[0].condition.length;
    if (samples.some((s) => s.condition.length !== condDim)) throw new Error('all conditions must have the same length');
    const layout0 = flatLayoutOf(samples[0].adapter);
    const config = planCvaeConfig(layout0.length, condDim, options.architecture);
    const stats = pooledTensorStats(samples.map((s) => s.adapter));
    const flats = samples.map((s) => flattenAdapter(s.adapter, { stats, multipleOf: config.inputLength }).values);
    const layout = flatLayoutOf(samples[0].adapter, config.inputLength);

    const centre = roundToF16(meanRows(flats));
    const residuals = flats.map((f) => f.map((v, i) => v - centre[i]));
    const residualScale = rms(residuals) || 1;
    for (const r of residuals) for (let i = 0; i < r.length; i++) r[i] /= residualScale;

    const condMean = meanRows(samples.map((s) => s.condition));
    const centred = samples.map((s) => s.condition.map((v, i) => v - condMean[i]));
    const condScale = rms(centred) || 1;
    const cond = centred.map((c) => c.map((v) => v / condScale));

    const model = Cvae.create(config, seed);
    try {
      // The output basis starts as the residuals' principal directions (trainable afterwards).
      if (config.basisRank) model.setBasis(scaledPrincipalBasis(residuals, config.basisRank));
      const history = await trainCvae(
        model,
        { x: residuals, cond },
        {
          epochs: options.epochs ?? 60,
          batchSize: options.batchSize ?? 8,
          learningRate: options.learningRate ?? 2e-3,
          seed: seed + 1,
          onProgress: options.onProgress,
          signal: options.signal,
        },
      );
      model.roundBasisTo(roundToF16); // stored as F16: generate with exactly what is stored
      const state = { layout, stats, centre, residualScale, condMean, condScale, history, samples: samples.length, seed };
      return new AdapterGenerator(model, state);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /** Generates the flat, un-normalised vector [layout.length] for a raw condition [condDim]. */
  generateFlat(condition: Float32Array, seed: number, temperature = 1): Float32Array {
    const { config } = this.model;
    if (condition.length !== config.condDim) throw new Error(`condition has ${condition.length} values, expected ${config.condDim}`);
    const { centre, residualScale, condMean, condScale, layout, stats } = this.state;
    const z = new SeededRandom(seed).normals(config.latentDim).map((v) => v * temperature);
    const cond = condition.map((v, i) => (v - condMean[i]) / condScale);
    const out = tf.tidy(() => this.model.generate(tf.tensor2d(z, [1, config.latentDim]), tf.tensor2d(cond, [1, config.condDim])));
    const residual = out.dataSync() as Float32Array;
    out.dispose();
    const flat = new Float32Array(layout.length);
    for (const [i, entry] of layout.entries.entries()) {
      for (let j = entry.offset; j < entry.offset + entry.length; j++) {
        flat[j] = (centre[j] + residualScale * residual[j]) * stats[i].std + stats[i].mean;
      }
    }
    return flat;
  }

  /** A new adapter (caller disposes its tensors) for a condition, deterministic in `seed`. */
  generate(condition: Float32Array, seed: number, temperature = 1): LoraAdapter {
    return unflattenAdapter(this.generateFlat(condition, seed, temperature), this.state.layout);
  }

  /** Throws unless `adapter` has the layout this generator produces. */
  assertCompatible(adapter: LoraAdapter): void {
    assertSameLayout(this.state.layout, flatLayoutOf(adapter, this.state.layout.paddedLength));
  }

  dispose(): void {
    this.model.dispose();
  }
}

function meanRows(rows: Float32Array[]): Float32Array {
  const out = new Float64Array(rows[0].length);
  for (const r of rows) for (let i = 0; i < r.length; i++) out[i] += r[i];
  return Float32Array.from(out, (v) => v / rows.length);
}

function rms(rows: Float32Array[]): number {
  let sq = 0;
  let n = 0;
  for (const r of rows) for (let i = 0; i < r.length; i++) (sq += r[i] * r[i]), n++;
  return Math.sqrt(sq / Math.max(n, 1));
}

/** Rounds to float16 so that what the CVAE learns against is exactly what is stored. */
function roundToF16(values: Float32Array): Float32Array {
  return values.map((v) => f16ToF32(f32ToF16(v)));
}
