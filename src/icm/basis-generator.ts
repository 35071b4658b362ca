/**
 * Basis generator (issue 15): a shared low-rank basis of task adapters plus a map from condition
 * (task vector) to coefficients. Trained on seen tasks' checkpoints only:
 *
 * - every checkpoint is flattened (raw LoRA factors; all task adapters start from one seeded init, so
 *   their factors live in one gauge and linear combinations are meaningful);
 * - centre = mean of the task means; the basis = the top-k principal directions of the task means
 *   around it (Gram-matrix PCA, float64), both stored quantised (4/8 bits with one absmax scale per
 *   LoRA factor, or float16);
 * - each task's coefficients = least squares of its checkpoints on the *stored* (dequantised) basis;
 * - the map: ridge regression from the normalised condition to the coefficients (linear, so a task
 *   whose task vector is a new combination of seen parts gets the same combination of their
 *   coefficients), plus optional exact interpolation of the seen tasks' residuals with a narrow
 *   Gaussian kernel (a seen condition gets its own coefficients back; far conditions only the
 *   linear part);
 * - sampling: coefficients + temperature · (within-task spread of the checkpoints' coefficients) · z,
 *   z ~ N(0, I) from a seeded stream.
 * Framework-free apart from the LoRA tensors it returns.
 */
import type { LoraAdapter } from '../engine/lora-types.js';
import { f16ToF32, f32ToF16 } from '../engine/safetensors-half.js';
import { assertSameLayout, flatLayoutOf, flattenAdapter, unflattenAdapter, type FlatLayout } from './flatten.js';
import { solveColumns } from './linear-solve.js';
import { symmetricEigen } from './pca.js';
import { codeBytes, dequantise, quantise, type QuantBits, type QuantisedVector, type Segment } from './quantize.js';
import { SeededRandom } from './random.js';

/** One seen task: its condition [condDim] and its kept checkpoints (one layout for all tasks). */
export interface BasisTrainingSet {
  task: string;
  condition: Float32Array;
  checkpoints: LoraAdapter[];
}

export interface BasisGeneratorOptions {
  /** Basis directions (default: tasks − 1, at most 64). */
  rank?: number;
  /** Storage of the centre and the basis (default 4: uniform levels, clipped scales; nf4: the basis in NF4, the centre in uniform 4-bit). */
  bits?: QuantBits;
  /** Ridge strength relative to the mean squared condition norm (default 0.05). */
  ridge?: number;
  /**
   * Gaussian-kernel interpolation of the seen tasks' residuals: bandwidth as a fraction of the
   * median nearest-neighbour distance between seen conditions (0: off; default 0.5).
   */
  interpolation?: number;
}

export interface BasisGeneratorConfig {
  rank: number;
  bits: QuantBits;
  ridge: number;
  interpolation: number;
  condDim: number;
  /** Kernel bandwidth in normalised-condition units (0: no interpolation). */
  bandwidth: number;
}

/** Everything a basis generator holds (all of it is serialised). */
export interface BasisGeneratorState {
  config: BasisGeneratorConfig;
  layout: FlatLayout;
  centre: QuantisedVector;
  /** [rank] directions [layout.length]. */
  basis: QuantisedVector[];
  /** Conditions are normalised as (c − condMean) / condScale. */
  condMean: Float32Array;
  condScale: number;
  /**
   * Coefficient map in dual form: coef = bias + Σ_t (anchor_t · x) · linear_t + Σ_t k(x, anchor_t) · kernel_t,
   * with the seen tasks' normalised conditions as anchors [tasks][condDim] (float16: no weight
   * matrix [rank][condDim] to store), ridge weights `linear` [tasks][rank] and Gaussian-kernel
   * interpolation weights `kernel` [tasks][rank] (empty without interpolation).
   */
  bias: Float32Array;
  anchors: Float32Array;
  linear: Float32Array;
  kernel: Float32Array;
  /** Per direction: spread of the checkpoints' coefficients around their task's (sampling noise). */
  spread: Float32Array;
  tasks: string[];
  samples: number;
}

const DEFAULTS = { bits: 4 as QuantBits, ridge: 0.05, interpolation: 0.5 };

/** A basis generator: `generate(condition, seed)` returns a LoRA adapter of the training layout. */
export class BasisGenerator {
  private readonly centre: Float32Array;
  private readonly basis: Float32Array[];

  constructor(readonly state: BasisGeneratorState) {
    const segs = segmentsOf(state.layout);
    this.centre = dequantise(state.centre, segs);
    this.basis = state.basis.map((b) => dequantise(b, segs));
    const { rank, condDim } = state.config;
    if (state.basis.length !== rank || state.bias.length !== rank || state.spread.length !== rank) {
      throw new Error('basis generator state does not match its rank');
    }
    if (state.condMean.length !== condDim) throw new Error('condition mean does not match the condition size');
    const tasks = state.anchors.length / condDim;
    if (!Number.isInteger(tasks) || state.linear.length !== tasks * rank || (state.kernel.length !== 0 && state.kernel.length !== tasks * rank)) {
      throw new Error('coefficient map anchors do not match their weights');
    }
  }

  static train(sets: readonly BasisTrainingSet[], options: BasisGeneratorOptions = {}): BasisGenerator {
    if (sets.length < 2) throw new Error(`a basis generator needs at least 2 tasks, got ${sets.length}`);
    if (sets.some((s) => s.checkpoints.length === 0)) throw new Error('every task needs at least one checkpoint');
    const condDim = sets[0].condition.length;
    if (sets.some((s) => s.condition.length !== condDim)) throw new Error('all conditions must have the same length');
    const layout = flatLayoutOf(sets[0].checkpoints[0]);
    const flats = sets.map((s) =>
      s.checkpoints.map((c) => {
        assertSameLayout(layout, flatLayoutOf(c));
        return flattenAdapter(c, { normalise: false }).values;
      }),
    );
    const n = sets.length;
    const rank = Math.min(options.rank ?? Math.min(n - 1, 64), n - 1);
    if (!(rank >= 1)) throw new Error(`rank must be ≥ 1 (and < tasks), got ${options.rank}`);
    const bits = options.bits ?? DEFAULTS.bits;
    const ridge = options.ridge ?? DEFAULTS.ridge;
    const interpolation = options.interpolation ?? DEFAULTS.interpolation;
    if (!(ridge >= 0) || !(interpolation >= 0)) throw new Error('ridge and interpolation must be ≥ 0');
    const segs = segmentsOf(layout);

    const means = flats.map(meanRows);
    const centreF = meanRows(means);
    // The centre is mostly the shared random init of A (uniform values): uniform levels suit it.
    const centre = quantise(centreF, segs, bits === 'nf4' ? 4 : bits);
    const centreQ = dequantise(centre, segs);
    const directions = principalDirections(means.map((m) => sub(m, centreF)), rank);
    const basis = directions.map((d) => quantise(d, segs, bits));
    const basisQ = basis.map((b) => dequantise(b, segs));

    // Coefficients of every checkpoint on the stored basis (least squares: the basis is no longer orthonormal once rounded).
    const gram = basisQ.map((u) => basisQ.map((v) => dot(u, v)));
    const coefOf = (flat: Float32Array) => solveSpd(gram, basisQ.map((u) => dotDiff(u, flat, centreQ)));
    const coefs = flats.map((rows) => rows.map(coefOf));
    const taskCoef = coefs.map((rows) => meanRowsF64(rows));
    const spread = new Float32Array(rank);
    let count = 0;
    coefs.forEach((rows, t) => rows.forEach((c) => (count++, c.forEach((v, k) => (spread[k] += (v - taskCoef[t][k]) ** 2)))));
    for (let k = 0; k < rank; k++) spread[k] = Math.sqrt(spread[k] / Math.max(count - n, 1));

    // Conditions: centred, one scalar scale (keeps their geometry).
    const condMean = meanRows(sets.map((s) => s.condition));
    const centred = sets.map((s) => sub(s.condition, condMean));
    const condScale = Math.sqrt(centred.reduce((a, c) => a + dot(c, c), 0) / n) || 1;
    // Stored as float16 (the anchors): rounded before fitting so memory and file agree.
    const xs = centred.map((c) => c.map((v) => f16ToF32(f32ToF16(v / condScale))));
    const anchors = new Float32Array(n * condDim);
    xs.forEach((x, t) => anchors.set(x, t * condDim));

    // Ridge in dual form (n ≪ condDim): coef(x) = bias + Σ_t (x_t · x) α_t, α = (X Xᵀ + λ I)⁻¹ C with C centred.
    const bias = Float32Array.from(meanRowsF64(taskCoef));
    const cc = taskCoef.map((c) => c.map((v, k) => v - bias[k]));
    const kx = xs.map((a) => xs.map((b) => dot(a, b)));
    const lambda = ridge * (kx.reduce((a, r, i) => a + r[i], 0) / n) + 1e-12;
    const linear = Float32Array.from(solveColumns(kx.map((r, i) => r.map((v, j) => v + (i === j ? lambda : 0))), cc, 'the basis generator').flat());

    // Interpolation of what the linear map leaves on the seen tasks.
    let bandwidth = 0;
    let kernel = new Float32Array(0);
    if (interpolation > 0) {
      const dist = xs.map((a) => xs.map((b) => Math.sqrt(Math.max(0, dot(a, a) + dot(b, b) - 2 * dot(a, b)))));
      const nearest = dist.map((r, i) => Math.min(...r.filter((_, j) => j !== i)));
      bandwidth = interpolation * median(nearest);
      if (bandwidth > 0) {
        const fitted = xs.map((x) => linearCoef(bias, anchors, linear, x, rank));
        const residual = taskCoef.map((c, t) => c.map((v, k) => v - fitted[t][k]));
        const kern = dist.map((r) => r.map((d) => gaussian(d, bandwidth)));
        for (let i = 0; i < n; i++) kern[i][i] += 1e-9;
        kernel = Float32Array.from(solveColumns(kern, residual, 'the basis generator').flat());
      }
    }
    return new BasisGenerator({
      config: { rank, bits, ridge, interpolation, condDim, bandwidth },
      layout,
      centre,
      basis,
      condMean,
      condScale,
      bias,
      anchors,
      linear,
      kernel,
      spread,
      tasks: sets.map((s) => s.task),
      samples: flats.reduce((a, r) => a + r.length, 0),
    });
  }

  /** The coefficients [rank] for a raw condition (no noise). */
  coefficients(condition: Float32Array): Float64Array {
    const { config, condMean, condScale, bias, anchors, linear, kernel } = this.state;
    if (condition.length !== config.condDim) throw new Error(`condition has ${condition.length} values, expected ${config.condDim}`);
    const x = condition.map((v, i) => (v - condMean[i]) / condScale);
    const coef = linearCoef(bias, anchors, linear, x, config.rank);
    const tasks = kernel.length === 0 ? 0 : anchors.length / config.condDim;
    for (let t = 0; t < tasks; t++) {
      const a = anchors.subarray(t * config.condDim, (t + 1) * config.condDim);
      let d2 = 0;
      for (let j = 0; j < x.length; j++) d2 += (x[j] - a[j]) ** 2;
      const w = gaussian(Math.sqrt(d2), config.bandwidth);
      if (w < 1e-12) continue;
      for (let k = 0; k < config.rank; k++) coef[k] += w * kernel[t * config.rank + k];
    }
    return coef;
  }

  /** The flat adapter [layout.length] for a condition, deterministic in `seed`. */
  generateFlat(condition: Float32Array, seed: number, temperature = 1): Float32Array {
    const coef = this.coefficients(condition);
    const z = new SeededRandom(seed).normals(coef.length);
    const out = Float32Array.from(this.centre);
    this.basis.forEach((u, k) => {
      const c = coef[k] + temperature * this.state.spread[k] * z[k];
      for (let i = 0; i < out.length; i++) out[i] += c * u[i];
    });
    return out;
  }

  /** A new adapter (the caller disposes its tensors). */
  generate(condition: Float32Array, seed: number, temperature = 1): LoraAdapter {
    return unflattenAdapter(this.generateFlat(condition, seed, temperature), this.state.layout);
  }

  /** Bytes of the stored centre and basis (codes and scales): what the generator's size is made of. */
  basisBytes(): number {
    const q = [this.state.centre, ...this.state.basis];
    return q.reduce((a, v) => a + codeBytes(v.length, v.bits) + 4 * v.scales.length, 0);
  }
}

/** One quantisation segment per LoRA factor. */
export function segmentsOf(layout: FlatLayout): Segment[] {
  return layout.entries.map((e) => ({ offset: e.offset, length: e.length }));
}

function linearCoef(bias: Float32Array, anchors: Float32Array, linear: Float32Array, x: Float32Array, rank: number): Float64Array {
  const coef = Float64Array.from(bias);
  const condDim = x.length;
  for (let t = 0; t < linear.length / rank; t++) {
    const s = dot(anchors.subarray(t * condDim, (t + 1) * condDim), x);
    for (let k = 0; k < rank; k++) coef[k] += s * linear[t * rank + k];
  }
  return coef;
}

const gaussian = (d: number, h: number): number => (h > 0 ? Math.exp(-(d * d) / (2 * h * h)) : 0);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Orthonormal top-k principal directions of rows (already centred), via the n×n Gram matrix. */
function principalDirections(rows: Float32Array[], k: number): Float32Array[] {
  const n = rows.length;
  const gram = rows.map((a) => Float64Array.from(rows, (b) => dot(a, b)));
  const { values, vectors } = symmetricEigen(gram);
  const length = rows[0].length;
  return Array.from({ length: k }, (_, c) => {
    const out = new Float64Array(length);
    if (c < n && values[c] > 1e-12 * Math.max(values[0], 1e-300)) {
      for (let i = 0; i < n; i++) {
        const w = vectors[c][i];
        for (let t = 0; t < length; t++) out[t] += w * rows[i][t];
      }
      const norm = Math.sqrt(out.reduce((a, v) => a + v * v, 0));
      for (let t = 0; t < length; t++) out[t] /= norm;
    }
    return Float32Array.from(out);
  });
}

function meanRows(rows: Float32Array[]): Float32Array {
  const out = new Float64Array(rows[0].length);
  for (const r of rows) for (let i = 0; i < r.length; i++) out[i] += r[i];
  return Float32Array.from(out, (v) => v / rows.length);
}

function meanRowsF64(rows: Float64Array[]): Float64Array {
  const out = new Float64Array(rows[0].length);
  for (const r of rows) for (let i = 0; i < r.length; i++) out[i] += r[i] / rows.length;
  return out;
}

const sub = (a: Float32Array, b: Float32Array): Float32Array => a.map((v, i) => v - b[i]);

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** u · (a − b) */
function dotDiff(u: Float32Array, a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < u.length; i++) s += u[i] * (a[i] - b[i]);
  return s;
}

/** Solves A x = b for a symmetric positive (semi)definite A by Gaussian elimination with partial pivoting. */
function solveSpd(a: number[][], b: number[]): Float64Array {
  return Float64Array.from(solveColumns(a, b.map((v) => [v]), 'the basis generator').map((r) => r[0]));
}
