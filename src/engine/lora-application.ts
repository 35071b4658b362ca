import type * as tf from '@tensorflow/tfjs-core';

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
