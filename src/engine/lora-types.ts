import type * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './model-config.js';

/**
 * LoRA factors of one adapted module, in PEFT's conventions:
 * A (`lora_A.weight`) is [r, dIn], B (`lora_B.weight`) is [dOut, r]; the update is ΔW = (α/r)·B·A.
 */
export interface LoraModuleWeights {
  a: tf.Tensor2D;
  b: tf.Tensor2D;
}

/**
 * A LoRA adapter. `modules` is keyed by the base model's module name as Hugging Face names it,
 * without the `.weight` suffix (`model.layers.0.self_attn.q_proj`, `transformer.h.0.attn.c_attn`),
 * so PEFT keys are `base_model.model.<module>.lora_A.weight`.
 */
export interface LoraAdapter {
  rank: number;
  alpha: number;
  /** PEFT `target_modules`: short names such as `q_proj` or `c_attn`. */
  targetModules: string[];
  modules: Map<string, LoraModuleWeights>;
}

/** One adapter applied at a strength s: contributes s·(α/r)·B·A·x. */
export interface PlanEntry {
  adapter: LoraAdapter;
  strength: number;
}

/**
 * What building a LoRA application needs of a model (TransformerModel is one): its config and its
 * weights by HF name, fast layout ([dIn, dOut] for linear weights).
 */
export interface LoraBase {
  readonly config: ModelConfig;
  readonly params: Map<string, tf.Tensor>;
}
