/**
 * The demo model as scripts/train-demo.ts trains it: the engine's `TransformerModel` in training
 * mode (LLaMA family, tied embeddings; every weight a tf.Variable in the fast [dIn, dOut] layout),
 * the trainer's seeded init, its loss on answer tokens and its Adam step with clipping. The served
 * model and the trained one are the same class, so what training optimises is what inference runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '../src/bench/world.js';
import { embed } from '../src/engine/layers.js';
import { parseModelConfig } from '../src/engine/model-config.js';
import { TransformerModel } from '../src/engine/transformer.js';
import type { Batch } from './train-demo-data.js';

export interface DemoModelConfig {
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  dFf: number;
  maxPositions: number;
  ropeTheta: number;
  normEps: number;
}

/** The trainer's fixed settings and default shape (the command line can change lr, batch and sizes). */
export const DEMO_TRAINING = Object.freeze({
  seed: 20260,
  batch: 64,
  peakLr: 3e-3,
  warmupSteps: 100,
  clip: 1.0,
  model: (vocabSize: number): DemoModelConfig => ({
    vocabSize, dModel: 128, nLayers: 4, nHeads: 4, nKvHeads: 2, dFf: 384, maxPositions: 128, ropeTheta: 10000, normEps: 1e-5,
  }),
});

/** Linear warm-up to `peak` over the warm-up steps, then cosine down to a tenth of it at `totalSteps`. */
export function learningRate(step: number, peak: number, totalSteps: number): number {
  const warmup = DEMO_TRAINING.warmupSteps;
  if (step < warmup) return (peak * (step + 1)) / warmup;
  return peak * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, totalSteps - warmup))));
}

/** HF `config.json` for the model. */
export function hfConfig(cfg: DemoModelConfig, eosId: number, padId: number): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: cfg.vocabSize, hidden_size: cfg.dModel,
    intermediate_size: cfg.dFf, num_hidden_layers: cfg.nLayers, num_attention_heads: cfg.nHeads,
    num_key_value_heads: cfg.nKvHeads, head_dim: cfg.dModel / cfg.nHeads, max_position_embeddings: cfg.maxPositions,
    rms_norm_eps: cfg.normEps, rope_theta: cfg.ropeTheta, hidden_act: 'silu', tie_word_embeddings: true,
    attention_bias: false, mlp_bias: false, bos_token_id: eosId, eos_token_id: eosId, pad_token_id: padId,
    torch_dtype: 'float32',
  };
}

/**
 * Seeded init in HF names and layout ([dOut, dIn] linear weights): N(0, 0.02), residual output
 * projections (o_proj, down_proj) scaled by 1/√(2·layers), norms at 1. The draws run layer by layer
 * (q, k, v, o, gate, up, down, each filled in [dIn, dOut] order) and the embedding last: the order
 * the demo model in models/demo was trained from, so a retrain starts from the same weights.
 */
export function initWeights(cfg: DemoModelConfig, seed: number): Map<string, tf.Tensor> {
  const rng = createRng(seed);
  /** Box-Muller pairs, filled row-major over [rows, cols]. */
  const normal = (rows: number, cols: number, std: number): Float32Array => {
    const n = rows * cols;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const u = Math.max(rng(), 1e-12);
      const r = Math.sqrt(-2 * Math.log(u)) * std;
      const th = 2 * Math.PI * rng();
      data[i] = r * Math.cos(th);
      if (i + 1 < n) data[i + 1] = r * Math.sin(th);
    }
    return data;
  };
  /** A linear weight drawn as [dIn, dOut], stored as HF's [dOut, dIn]. */
  const linear = (dIn: number, dOut: number, std: number): tf.Tensor => {
    const fast = normal(dIn, dOut, std);
    const hf = new Float32Array(fast.length);
    for (let i = 0; i < dIn; i++) for (let o = 0; o < dOut; o++) hf[o * dIn + i] = fast[i * dOut + o];
    return tf.tensor2d(hf, [dOut, dIn]);
  };
  const d = cfg.dModel;
  const kv = (d / cfg.nHeads) * cfg.nKvHeads;
  const outStd = 0.02 / Math.sqrt(2 * cfg.nLayers);
  const w = new Map<string, tf.Tensor>();
  for (let i = 0; i < cfg.nLayers; i++) {
    const pre = `model.layers.${i}`;
    w.set(`${pre}.input_layernorm.weight`, tf.ones([d]));
    w.set(`${pre}.self_attn.q_proj.weight`, linear(d, d, 0.02));
    w.set(`${pre}.self_attn.k_proj.weight`, linear(d, kv, 0.02));
    w.set(`${pre}.self_attn.v_proj.weight`, linear(d, kv, 0.02));
    w.set(`${pre}.self_attn.o_proj.weight`, linear(d, d, outStd));
    w.set(`${pre}.post_attention_layernorm.weight`, tf.ones([d]));
    w.set(`${pre}.mlp.gate_proj.weight`, linear(d, cfg.dFf, 0.02));
    w.set(`${pre}.mlp.up_proj.weight`, linear(d, cfg.dFf, 0.02));
    w.set(`${pre}.mlp.down_proj.weight`, linear(cfg.dFf, d, outStd));
  }
  w.set('model.norm.weight', tf.ones([d]));
  w.set('model.embed_tokens.weight', tf.tensor2d(normal(cfg.vocabSize, d, 0.02), [cfg.vocabSize, d]));
  return w;
}

/** A trainable TransformerModel from HF-named weights (does not take ownership of `weights`). */
export function createDemoModel(cfg: DemoModelConfig, weights: Map<string, tf.Tensor>, eosId: number, padId: number): TransformerModel {
  return TransformerModel.create(parseModelConfig(hfConfig(cfg, eosId, padId)), weights, { trainable: true });
}

/**
 * Logits [rows, vocab] at the batch's target positions only (flat b·seq indices): the head runs on
 * a few hundred rows, not every padded position. Right padding needs no attention mask: real
 * tokens never attend to later pads, and positions count from each row's first token either way.
 * Call inside tf.tidy (or a gradient tape's function): the intermediates are the caller's.
 */
export function targetLogits(model: TransformerModel, batch: Pick<Batch, 'ids' | 'b' | 'seq' | 'rows'>): tf.Tensor2D {
  const ids = tf.tensor2d(batch.ids, [batch.b, batch.seq], 'int32');
  const { hiddenStates } = model.forward({ tokenIds: ids }, { logits: 'none', hiddenStates: true });
  const last = tf.reshape(hiddenStates!.at(-1)!, [batch.b * batch.seq, model.config.dModel]);
  // embed(): a row gather whose gradient WASM can run (tf.gather's needs UnsortedSegmentSum).
  const picked = embed(last, tf.tensor1d(batch.rows, 'int32'), model.trainable) as tf.Tensor2D;
  return model.headLogits(picked);
}

/** Mean cross-entropy on the batch's target tokens. */
export function batchLoss(model: TransformerModel, batch: Batch): tf.Scalar {
  return tf.tidy(() => {
    const logits = targetLogits(model, batch);
    const onehot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), model.config.vocabSize);
    return tf.div(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), onehot))), batch.labels.length) as tf.Scalar;
  });
}

/** Adam (β 0.9 / 0.98, ε 1e-8, bias-corrected) with global gradient-norm clipping, over the model's variables. */
export class DemoOptimizer {
  static readonly BETA1 = 0.9;
  static readonly BETA2 = 0.98;
  readonly m: tf.Variable[];
  readonly s: tf.Variable[];

  constructor(
    private readonly vars: tf.Variable[],
    private readonly clip: number,
  ) {
    this.m = vars.map((v) => tf.variable(tf.zerosLike(v)));
    this.s = vars.map((v) => tf.variable(tf.zerosLike(v)));
  }

  /**
   * One update from the gradient of `loss` at learning rate `lr`; `step` counts from 0 (bias
   * correction uses step + 1). Returns the loss before the update.
   */
  step(loss: () => tf.Scalar, lr: number, step: number): number {
    const { value, grads } = tf.variableGrads(loss, this.vars);
    tf.tidy(() => {
      const gs = this.vars.map((v) => grads[v.name]);
      const norm = Math.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g)))).dataSync()[0]);
      const scale = Math.min(1, this.clip / (norm + 1e-6));
      const b1 = DemoOptimizer.BETA1, b2 = DemoOptimizer.BETA2, t = step + 1;
      this.vars.forEach((v, i) => {
        const g = tf.mul(gs[i], scale);
        this.m[i].assign(tf.add(tf.mul(this.m[i], b1), tf.mul(g, 1 - b1)));
        this.s[i].assign(tf.add(tf.mul(this.s[i], b2), tf.mul(tf.square(g), 1 - b2)));
        const denom = tf.add(tf.sqrt(tf.div(this.s[i], 1 - b2 ** t)), 1e-8);
        v.assign(tf.sub(v, tf.mul(tf.div(tf.div(this.m[i], 1 - b1 ** t), denom), lr)));
      });
    });
    const loss0 = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return loss0;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.s]);
  }
}
