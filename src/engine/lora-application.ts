/**
 * LoRA as the forward pass consumes it (types and the per-row product). transformer.ts imports
 * only this file and lora-types.ts: the code that builds an application (lora.ts, lora-rows.ts,
 * lora-trainable.ts) takes the model as a `LoraBase`, so nothing imports back into the model.
 */
import * as tf from '@tensorflow/tfjs-core';
import { rowLoraAdd } from './wasm-kernels-lora.js';

/**
 * What the forward pass adds to one linear module, in the fast layout:
 * y = x·W + ((x·aT) ⊙ scale)·bT, where the Σr rank slots hold every adapter's factors side by side.
 */
export interface LoraModuleApply {
  /** Stacked Aᵀ: [dIn, Σr]. */
  aT: tf.Tensor2D;
  /** Stacked Bᵀ: [Σr, dOut]. */
  bT: tf.Tensor2D;
  /**
   * Per rank-slot factor s_i·α_i/r_i: [1, Σr] when every row uses the same plan, [batch, Σr] for
   * per-row plans (0 in the slots of adapters a row does not use).
   */
  scale: tf.Tensor2D;
}

/**
 * Per-row LoRA of one linear module (BGMV/Punica style): each batch row carries its own factors,
 * so a row pays its own plan's rank, not the sum over the batch. Row i adds B_i·(A_i·x_i), in
 * PEFT's layout; strengths and α/r are folded into B, rows without adapters hold zeros.
 */
export interface LoraRowApply {
  /** Each row's stacked A, zero-padded to the batch's largest row rank: [batch, r, dIn]. */
  a: tf.Tensor3D;
  /** Each row's stacked, scaled B: [batch, dOut, r]. */
  b: tf.Tensor3D;
  /** Rank slots each row uses (the rest are zero padding): lets the fused kernel skip them. */
  ranks?: number[];
}

/**
 * LoRA as the forward pass consumes it: stacked low-rank terms per module and/or merged weights
 * (W + ΔW, fast layout [dIn, dOut]) that replace the base weight of a module. Both may be present
 * (a merged hot plan plus per-row extras). Keys are HF module names without `.weight`.
 */
export interface LoraApplication {
  modules: Map<string, LoraModuleApply>;
  weightOverrides: Map<string, tf.Tensor2D>;
  /** Per-row factors (lora-rows.ts), added on top of the above; absent or empty: none. */
  rowModules?: Map<string, LoraRowApply>;
  /** Frees the tensors this application owns (never trainable variables it borrows). */
  dispose(): void;
}

/**
 * The per-row term for x [b·s, dIn]: [b·s, dOut]. Written as broadcast products summed over the
 * last axis ([b, s, 1, dIn]⊙[b, 1, r, dIn], then [b, s, 1, r]⊙[b, 1, dOut, r]): on WASM a batched
 * matMul runs one packed single-batch product per row, slower at LoRA ranks than these
 * b·s·r·(dIn + dOut) element operations.
 */
export function applyRowLora(x: tf.Tensor2D, m: LoraRowApply, b: number, s: number): tf.Tensor2D {
  const [, r, dIn] = m.a.shape;
  const dOut = m.b.shape[1];
  const t = tf.sum(tf.mul(tf.reshape(x, [b, s, 1, dIn]), tf.reshape(m.a, [b, 1, r, dIn])), 3); // [b, s, r]
  const y = tf.sum(tf.mul(tf.reshape(t, [b, s, 1, r]), tf.reshape(m.b, [b, 1, dOut, r])), 3); // [b, s, dOut]
  return tf.reshape(y, [b * s, dOut]) as tf.Tensor2D;
}

/**
 * y + the per-row term, y [b·s, dOut] the base projection of x [b·s, dIn]: on WASM one fused
 * kernel (wasm-kernels-lora.ts: one dispatch instead of five per module), elsewhere and under a
 * gradient tape applyRowLora and an add.
 */
export function addRowLora(y: tf.Tensor2D, x: tf.Tensor2D, m: LoraRowApply, b: number, s: number): tf.Tensor2D {
  return rowLoraAdd(y, x, m.a, m.b, s, () => applyRowLora(x, m, b, s), m.ranks);
}
