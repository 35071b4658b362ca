import * as tf from '@tensorflow/tfjs-core';
import { transpose2dJs } from './layers.js';
import { targetLinearModules, validateAdapter } from './lora.js';
import type { LoraApplication } from './lora-application.js';
import type { LoraAdapter, LoraBase, LoraModuleWeights } from './lora-types.js';
import { seededRandom } from './transformer-weights.js';

/** A LoRA being trained: tf.Variables in the fast layout (Aᵀ [dIn, r], Bᵀ [r, dOut]). */
export interface TrainableLora {
  readonly rank: number;
  readonly alpha: number;
  readonly targetModules: string[];
  /** By HF module name. */
  readonly factors: Map<string, { aT: tf.Variable<tf.Rank.R2>; bT: tf.Variable<tf.Rank.R2> }>;
  /** Every trainable variable, in a stable order (module order, Aᵀ then Bᵀ). */
  variables(): tf.Variable[];
  /**
   * The LoRA as a forward-pass application at `strength` (default 1): it borrows the variables, so
   * gradients flow to them; dispose it to free only its scale tensors.
   */
  application(strength?: number): LoraApplication;
  /** A frozen copy in PEFT layout (A [r, dIn], B [dOut, r]); the caller owns its tensors. */
  freeze(): LoraAdapter;
  dispose(): void;
}

export interface TrainableLoraOptions {
  rank: number;
  /** Default: rank (scale 1). */
  alpha?: number;
  /** PEFT short names; default DEFAULT_TARGET_MODULES of the family. */
  targetModules?: readonly string[];
  /** Seed of A's init. */
  seed: number;
  /** Start from this adapter's factors instead of a fresh init (same rank and modules). */
  init?: LoraAdapter;
}

let nextId = 0;

/**
 * A fresh trainable LoRA for `model`, initialised as PEFT does: A ~ Kaiming-uniform(a=√5), i.e.
 * U(−1/√dIn, 1/√dIn) drawn in A's [r, dIn] order from a seeded generator, and B = 0 (so the
 * adapter starts as the identity edit).
 */
export function createTrainableLora(model: LoraBase, options: TrainableLoraOptions): TrainableLora {
  const { rank } = options;
  const alpha = options.alpha ?? rank;
  const targetModules = [...(options.targetModules ?? options.init?.targetModules ?? [])];
  const modules = targetLinearModules(model.config, targetModules.length > 0 ? targetModules : undefined);
  const shorts = [...new Set(modules.map((m) => m.short))];
  if (options.init) validateAdapter(model.config, options.init);
  const rand = seededRandom(options.seed);
  const factors = new Map<string, { aT: tf.Variable<tf.Rank.R2>; bT: tf.Variable<tf.Rank.R2> }>();
  for (const m of modules) {
    const init = options.init?.modules.get(m.name);
    let aT: tf.Tensor2D;
    let bT: tf.Tensor2D;
    if (init) {
      aT = transpose2dJs(init.a);
      bT = transpose2dJs(init.b);
    } else {
      const bound = 1 / Math.sqrt(m.dIn);
      const a = new Float32Array(rank * m.dIn);
      for (let i = 0; i < a.length; i++) a[i] = (2 * rand() - 1) * bound;
      const aTensor = tf.tensor2d(a, [rank, m.dIn]);
      aT = transpose2dJs(aTensor);
      aTensor.dispose();
      bT = tf.zeros([rank, m.dOut]);
    }
    const id = nextId++;
    factors.set(m.name, { aT: tf.variable(aT, true, `lora#${id}/${m.name}/aT`), bT: tf.variable(bT, true, `lora#${id}/${m.name}/bT`) });
    tf.dispose([aT, bT]);
  }
  return {
    rank,
    alpha,
    targetModules: shorts,
    factors,
    variables: () => [...factors.values()].flatMap((f) => [f.aT, f.bT]),
    application(strength = 1) {
      const app: LoraApplication = {
        modules: new Map(),
        weightOverrides: new Map(),
        dispose() {
          for (const m of app.modules.values()) m.scale.dispose();
          app.modules.clear();
        },
      };
      for (const [name, f] of factors) {
        app.modules.set(name, { aT: f.aT, bT: f.bT, scale: tf.fill([1, rank], (strength * alpha) / rank) as tf.Tensor2D });
      }
      return app;
    },
    freeze() {
      const out = new Map<string, LoraModuleWeights>();
      for (const [name, f] of factors) out.set(name, { a: transpose2dJs(f.aT), b: transpose2dJs(f.bT) });
      return { rank, alpha, targetModules: shorts, modules: out };
    },
    dispose() {
      for (const f of factors.values()) tf.dispose([f.aT, f.bT]);
      factors.clear();
    },
  };
}

/** Frees an adapter's tensors. */
export function disposeAdapter(adapter: LoraAdapter): void {
  for (const m of adapter.modules.values()) tf.dispose([m.a, m.b]);
}
