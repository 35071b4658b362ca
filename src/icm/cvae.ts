import * as tf from '@tensorflow/tfjs-core';
import { conv1dDown, conv1dUp, KERNEL, linear, patchDown, patchUp } from './conv1d.js';
import { SeededRandom } from './random.js';

/** Architecture of the conditional VAE over flat adapter vectors. */
export interface CvaeConfig {
  /** Length of the (padded) flat vectors: a multiple of patch·2^channels.length. */
  inputLength: number;
  /** Kernel = stride of the first, non-overlapping convolution (1 = none). */
  patch: number;
  /** Channels after the patch convolution. */
  patchChannels: number;
  /** Length of the condition vector (the base model's hidden size). */
  condDim: number;
  /** Width of the learned linear projection of the condition; 0 concatenates it raw. */
  condProjDim: number;
  /** Output channels of each stride-2 encoder level; the decoder mirrors them. */
  channels: number[];
  latentDim: number;
  /** Weight of the KL term (ICM-LoRA: 0.005). */
  klWeight: number;
  /** LeakyReLU slope. */
  leak: number;
  /** BatchNorm running-statistics momentum (PyTorch convention: new = (1-m)·old + m·batch). */
  bnMomentum: number;
  /**
   * Rank k of the low-rank output head (0 or absent: none): the decoder adds
   * MLP([z, cond]) [batch, k] · basis [k, inputLength] to the convolutional output, so that it can
   * produce task-specific values without local structure. The basis is stored as float16.
   */
  basisRank?: number;
  /** Hidden width of the head's MLP. */
  basisHidden?: number;
}

export interface CvaeLosses {
  loss: tf.Scalar;
  mse: tf.Scalar;
  kl: tf.Scalar;
}

const BN_EPS = 1e-5;

/** Length at the bottleneck (after the patch convolution and all stride-2 levels). */
export function bottleneckLength(config: CvaeConfig): number {
  return config.inputLength / (config.patch * 2 ** config.channels.length);
}

/** Shapes of every stored tensor (trainable first, then BatchNorm running statistics). */
export function cvaeTensorShapes(config: CvaeConfig): { trainable: Map<string, number[]>; running: Map<string, number[]> } {
  validateConfig(config);
  const trainable = new Map<string, number[]>();
  const running = new Map<string, number[]>();
  const { channels, latentDim } = config;
  const cond = config.condProjDim > 0 ? config.condProjDim : config.condDim;
  const flat = bottleneckLength(config) * channels[channels.length - 1];
  const bn = (name: string, c: number) => {
    trainable.set(`${name}.gamma`, [c]);
    trainable.set(`${name}.beta`, [c]);
    running.set(`${name}.mean`, [c]);
    running.set(`${name}.var`, [c]);
  };
  if (config.condProjDim > 0) {
    trainable.set('cond.w', [config.condDim, config.condProjDim]);
    trainable.set('cond.b', [config.condProjDim]);
  }
  const pc = config.patchChannels;
  // Convolutions followed by BatchNorm carry no bias (BN removes the mean anyway).
  trainable.set('patch.w', [config.patch, pc]);
  bn('patch.bn', pc);
  channels.forEach((c, i) => {
    const cIn = i === 0 ? pc : channels[i - 1];
    trainable.set(`enc${i}.w`, [KERNEL * cIn, c]);
    bn(`enc${i}.bn`, c);
  });
  trainable.set('toLatent.w', [flat, latentDim]);
  trainable.set('toLatent.b', [latentDim]);
  for (const head of ['mu', 'logVar']) {
    trainable.set(`${head}.w`, [latentDim + cond, latentDim]);
    trainable.set(`${head}.b`, [latentDim]);
  }
  trainable.set('toDecode.w', [latentDim + cond, flat]);
  trainable.set('toDecode.b', [flat]);
  // Decoder level j maps channels[D-1-j] → channels[D-2-j] (the last one → patchChannels), then a
  // linear transposed patch convolution back to one channel.
  for (let j = 0; j < channels.length; j++) {
    const cIn = channels[channels.length - 1 - j];
    const cOut = j === channels.length - 1 ? pc : channels[channels.length - 2 - j];
    trainable.set(`dec${j}.w`, [cIn, KERNEL * cOut]);
    bn(`dec${j}.bn`, cOut);
  }
  trainable.set('unpatch.w', [pc, config.patch]);
  trainable.set('unpatch.b', [1]);
  const k = config.basisRank ?? 0;
  if (k > 0) {
    const hidden = config.basisHidden ?? 64;
    trainable.set('head1.w', [latentDim + cond, hidden]);
    trainable.set('head1.b', [hidden]);
    trainable.set('head2.w', [hidden, k]);
    trainable.set('head2.b', [k]);
    trainable.set('basis.w', [k, config.inputLength]);
  }
  return { trainable, running };
}

/** Number of stored values (trainable parameters plus BatchNorm running statistics). */
export function cvaeParameterCount(config: CvaeConfig): number {
  const { trainable, running } = cvaeTensorShapes(config);
  const count = (m: Map<string, number[]>) => [...m.values()].reduce((s, sh) => s + sh.reduce((p, d) => p * d, 1), 0);
  return count(trainable) + count(running);
}

function validateConfig(c: CvaeConfig): void {
  if (c.channels.length < 1) throw new Error('CVAE needs at least one level');
  const unit = c.patch * 2 ** c.channels.length;
  if (!Number.isInteger(c.inputLength) || c.inputLength % unit !== 0) {
    throw new Error(`inputLength ${c.inputLength} is not a multiple of patch·2^levels = ${unit}`);
  }
  if (c.latentDim < 1 || c.condDim < 1 || c.condProjDim < 0) throw new Error('latentDim and condDim must be ≥ 1');
  if ((c.basisRank ?? 0) < 0 || (c.basisRank && (c.basisHidden ?? 64) < 1)) throw new Error('basisRank must be ≥ 0 and basisHidden ≥ 1');
}

/**
 * Conditional VAE (ICM-LoRA): encoder of stride-2 convolutions + BatchNorm + LeakyReLU, a linear map
 * to the latent width, the condition concatenated before the mean / log-variance heads and again at
 * the decoder input, and a decoder of mirrored transposed convolutions ending in a linear one.
 */
export class Cvae {
  private constructor(
    readonly config: CvaeConfig,
    private readonly params: Map<string, tf.Variable>,
    private readonly running: Map<string, tf.Variable>,
  ) {}

  /** Fresh weights, PyTorch-style uniform(±1/√fanIn) from a seeded stream. */
  static create(config: CvaeConfig, seed: number): Cvae {
    const shapes = cvaeTensorShapes(config);
    const rng = new SeededRandom(seed);
    const params = new Map<string, tf.Variable>();
    const fanIn = new Map<string, number>();
    for (const [name, shape] of shapes.trainable) if (name.endsWith('.w')) fanIn.set(name.slice(0, -2), shape[0]);
    for (const [name, shape] of shapes.trainable) {
      const size = shape.reduce((p, d) => p * d, 1);
      let data: Float32Array;
      if (name.endsWith('.gamma')) data = new Float32Array(size).fill(1);
      else if (name.endsWith('.beta')) data = new Float32Array(size);
      else {
        const layer = name.slice(0, name.lastIndexOf('.'));
        // Transposed convolutions: each output sees cIn·2 inputs on average; use cIn as fan-in.
        const bound = 1 / Math.sqrt(fanIn.get(layer)!);
        data = rng.uniforms(size, -bound, bound);
      }
      params.set(name, tf.variable(tf.tensor(data, shape), true, `cvae/${name}/${seed}/${Math.random()}`));
    }
    const running = new Map<string, tf.Variable>();
    for (const [name, shape] of shapes.running) {
      const init = name.endsWith('.var') ? tf.ones(shape) : tf.zeros(shape);
      running.set(name, tf.variable(init, false, `cvae/${name}/${Math.random()}`));
    }
    return new Cvae(config, params, running);
  }

  /** Rebuilds a model from stored values (see toTensors); every expected tensor must be present. */
  static fromTensors(config: CvaeConfig, tensors: Map<string, { shape: number[]; data: Float32Array }>): Cvae {
    const shapes = cvaeTensorShapes(config);
    const load = (name: string, shape: number[], trainable: boolean) => {
      const t = tensors.get(name);
      if (!t) throw new Error(`CVAE weights miss ${name}`);
      if (t.shape.join('x') !== shape.join('x')) throw new Error(`CVAE weight ${name} has shape [${t.shape}], expected [${shape}]`);
      return tf.variable(tf.tensor(t.data, shape), trainable, `cvae/${name}/${Math.random()}`);
    };
    const params = new Map([...shapes.trainable].map(([n, s]) => [n, load(n, s, true)] as const));
    const running = new Map([...shapes.running].map(([n, s]) => [n, load(n, s, false)] as const));
    return new Cvae(config, params, running);
  }

  /** All stored values by name (copies), trainable and running statistics. */
  toTensors(): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, v] of [...this.params, ...this.running]) out.set(name, { shape: [...v.shape], data: v.dataSync().slice() as Float32Array });
    return out;
  }

  trainableVariables(): tf.Variable[] {
    return [...this.params.values()];
  }

  /** cond [batch, condDim] → [batch, condProjDim or condDim]. */
  projectCondition(cond: tf.Tensor2D): tf.Tensor2D {
    if (this.config.condProjDim === 0) return cond;
    return tf.add(linear(cond, this.p('cond.w')), this.p('cond.b'));
  }

  /** x [batch, inputLength], projected cond [batch, c] → mu, logVar [batch, latentDim]. */
  encode(x: tf.Tensor2D, cond: tf.Tensor2D, training: boolean): { mu: tf.Tensor2D; logVar: tf.Tensor2D } {
    const batch = x.shape[0];
    let h = patchDown(x, this.p('patch.w')); // [batch, inputLength/patch, patchChannels]
    h = tf.leakyRelu(this.batchNorm(h, 'patch.bn', training), this.config.leak);
    this.config.channels.forEach((_, i) => {
      h = conv1dDown(h, this.p(`enc${i}.w`));
      h = tf.leakyRelu(this.batchNorm(h, `enc${i}.bn`, training), this.config.leak);
    });
    const flat = tf.reshape(h, [batch, -1]);
    const hidden = tf.add(linear(flat, this.p('toLatent.w')), this.p('toLatent.b'));
    const joint = tf.concat([hidden, cond], 1);
    return {
      mu: tf.add(linear(joint, this.p('mu.w')), this.p('mu.b')),
      logVar: tf.add(linear(joint, this.p('logVar.w')), this.p('logVar.b')),
    };
  }

  /** z [batch, latentDim], projected cond [batch, c] → [batch, inputLength]. */
  decode(z: tf.Tensor2D, cond: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const { channels } = this.config;
    const batch = z.shape[0];
    const joint = tf.concat([z, cond], 1);
    const flat = tf.add(linear(joint, this.p('toDecode.w')), this.p('toDecode.b'));
    let h: tf.Tensor3D = tf.reshape(flat, [batch, bottleneckLength(this.config), channels[channels.length - 1]]);
    for (let j = 0; j < channels.length; j++) {
      h = conv1dUp(h, this.p(`dec${j}.w`));
      h = tf.leakyRelu(this.batchNorm(h, `dec${j}.bn`, training), this.config.leak);
    }
    const conv = patchUp(h, this.p('unpatch.w'), this.p('unpatch.b')); // [batch, inputLength]
    if (!this.config.basisRank) return conv;
    const hidden = tf.leakyRelu(tf.add(linear(joint, this.p('head1.w')), this.p('head1.b')), this.config.leak);
    const coeffs = tf.add(linear(hidden, this.p('head2.w')), this.p('head2.b')); // [batch, k]
    // + [batch, k]·[k, inputLength] as a broadcast multiply and a sum over k, not a matMul: on the
    // WASM backend a training step with the basis as a matMul operand corrupts the heap at real
    // size ("memory access out of bounds" in a later free; cpu backend fine, same ops alone fine).
    const k = this.config.basisRank;
    const basis = tf.reshape(this.p('basis.w'), [1, k, this.config.inputLength]);
    return tf.add(conv, tf.sum(tf.mul(tf.reshape(coeffs, [batch, k, 1]), basis), 1));
  }

  /** Replaces the output basis (k rows of inputLength values), e.g. with principal directions. */
  setBasis(rows: Float32Array[]): void {
    const k = this.config.basisRank ?? 0;
    if (rows.length !== k || rows.some((r) => r.length !== this.config.inputLength)) {
      throw new Error(`basis needs ${k} rows of ${this.config.inputLength} values`);
    }
    const flat = new Float32Array(k * this.config.inputLength);
    rows.forEach((r, i) => flat.set(r, i * this.config.inputLength));
    tf.tidy(() => this.p<tf.Variable>('basis.w').assign(tf.tensor2d(flat, [k, this.config.inputLength])));
  }

  /** Rounds the basis to float16 values in place, so that what is stored (F16) is what was used. */
  roundBasisTo(round: (values: Float32Array) => Float32Array): void {
    if (!this.config.basisRank) return;
    const v = this.p<tf.Variable>('basis.w');
    const data = round(v.dataSync() as Float32Array);
    tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  }

  /**
   * Training loss: MSE(recon, x) (mean over all values) + klWeight · KL(q(z|x,c) ‖ N(0, I))
   * (summed over latent dims, averaged over the batch). eps [batch, latentDim] is the
   * reparameterisation noise, passed in so that training is reproducible.
   */
  losses(x: tf.Tensor2D, cond: tf.Tensor2D, eps: tf.Tensor2D, training: boolean): CvaeLosses {
    const c = this.projectCondition(cond);
    const { mu, logVar } = this.encode(x, c, training);
    const z = tf.add<tf.Tensor2D>(mu, tf.mul(eps, tf.exp(tf.mul(logVar, 0.5))));
    const recon = this.decode(z, c, training);
    const mse = tf.mean(tf.squaredDifference(recon, x)) as tf.Scalar;
    const klPerSample = tf.mul(-0.5, tf.sum(tf.sub(tf.add(1, logVar), tf.add(tf.square(mu), tf.exp(logVar))), 1));
    const kl = tf.mean(klPerSample) as tf.Scalar;
    return { loss: tf.add(mse, tf.mul(kl, this.config.klWeight)) as tf.Scalar, mse, kl };
  }

  /** Decodes z for a raw condition in inference mode: [batch, latentDim], [batch, condDim] → [batch, inputLength]. */
  generate(z: tf.Tensor2D, cond: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.decode(z, this.projectCondition(cond), false));
  }

  dispose(): void {
    for (const v of [...this.params.values(), ...this.running.values()]) v.dispose();
  }

  private p<T extends tf.Tensor>(name: string): T {
    const v = this.params.get(name);
    if (!v) throw new Error(`CVAE has no parameter ${name}`);
    return v as unknown as T;
  }

  /** BatchNorm over batch and length per channel; training mode also updates running stats. */
  private batchNorm(x: tf.Tensor3D, name: string, training: boolean): tf.Tensor3D {
    const runMean = this.running.get(`${name}.mean`)!;
    const runVar = this.running.get(`${name}.var`)!;
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    if (training) {
      ({ mean, variance } = tf.moments(x, [0, 1]));
      const m = this.config.bnMomentum;
      const n = x.shape[0] * x.shape[1];
      const unbiased = tf.mul(variance, n / Math.max(n - 1, 1));
      // assign shares the data (ref-counted), so the tidy around the step does not free it.
      runMean.assign(tf.add(tf.mul(runMean, 1 - m), tf.mul(mean, m)));
      runVar.assign(tf.add(tf.mul(runVar, 1 - m), tf.mul(unbiased, m)));
    } else {
      mean = runMean;
      variance = runVar;
    }
    // One affine pass over the big tensor: x·scale + shift, with per-channel scale and shift.
    const scale = tf.mul(this.p(`${name}.gamma`), tf.rsqrt(tf.add(variance, BN_EPS)));
    const shift = tf.sub(this.p(`${name}.beta`), tf.mul(mean, scale));
    return tf.add(tf.mul(x, scale), shift);
  }
}
