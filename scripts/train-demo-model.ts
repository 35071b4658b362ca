/**
 * The minimal LLaMA-family training model used by scripts/train-demo.ts: weights as tf.Variables in
 * the fast [dIn, dOut] layout, a forward pass whose every matMul has a hand-written gradient that
 * uses explicit transposes (WASM's transposeA/transposeB matMul runs ~10× slower than the plain form),
 * and export to Hugging Face LLaMA names ([dOut, dIn] weights, tied embeddings).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SafetensorsTensor } from '../src/engine/safetensors.js';
import { createRng } from '../src/bench/world.js';

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

interface LayerParams {
  attnNorm: tf.Variable; wq: tf.Variable; wk: tf.Variable; wv: tf.Variable; wo: tf.Variable;
  mlpNorm: tf.Variable; wGate: tf.Variable; wUp: tf.Variable; wDown: tf.Variable;
}
export interface DemoParams {
  embed: tf.Variable; // [vocab, dModel], tied with the output head
  layers: LayerParams[];
  finalNorm: tf.Variable;
}

/** Named list of every parameter (stable order: optimizer state and checkpoints follow it). */
export function namedParams(p: DemoParams): [string, tf.Variable][] {
  const out: [string, tf.Variable][] = [['embed', p.embed]];
  p.layers.forEach((l, i) => {
    for (const [k, v] of Object.entries(l)) out.push([`layers.${i}.${k}`, v as tf.Variable]);
  });
  out.push(['finalNorm', p.finalNorm]);
  return out;
}

/** Seeded init: N(0, 0.02), residual output projections scaled by 1/√(2·layers), norms at 1. */
export function initParams(cfg: DemoModelConfig, seed: number): DemoParams {
  const rng = createRng(seed);
  const normal = (shape: number[], std: number): tf.Variable => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const u = Math.max(rng(), 1e-12);
      const r = Math.sqrt(-2 * Math.log(u)) * std;
      const th = 2 * Math.PI * rng();
      data[i] = r * Math.cos(th);
      if (i + 1 < n) data[i + 1] = r * Math.sin(th);
    }
    return tf.variable(tf.tensor(data, shape));
  };
  const ones = (n: number): tf.Variable => tf.variable(tf.ones([n]));
  const d = cfg.dModel;
  const kv = (d / cfg.nHeads) * cfg.nKvHeads;
  const outStd = 0.02 / Math.sqrt(2 * cfg.nLayers);
  const layers: LayerParams[] = [];
  for (let i = 0; i < cfg.nLayers; i++) {
    layers.push({
      attnNorm: ones(d), wq: normal([d, d], 0.02), wk: normal([d, kv], 0.02), wv: normal([d, kv], 0.02),
      wo: normal([d, d], outStd), mlpNorm: ones(d), wGate: normal([d, cfg.dFf], 0.02),
      wUp: normal([d, cfg.dFf], 0.02), wDown: normal([cfg.dFf, d], outStd),
    });
  }
  return { embed: normal([cfg.vocabSize, d], 0.02), layers, finalNorm: ones(d) };
}

const lastTwo = (x: tf.Tensor): tf.Tensor =>
  x.rank === 2 ? tf.transpose(x) : tf.transpose(x, [...x.shape.keys()].map((i) => (i < x.rank - 2 ? i : 2 * x.rank - 3 - i)));

/** a·b (2-D or batched 3-D) whose gradient uses plain matMuls on explicitly transposed operands. */
export const fastMatMul = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved;
      return [tf.matMul(dy as tf.Tensor3D, lastTwo(sb) as tf.Tensor3D), tf.matMul(lastTwo(sa) as tf.Tensor3D, dy as tf.Tensor3D)];
    },
  };
}) as never) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** Row gather table[ids] whose gradient (a scatter-add) runs in JavaScript: WASM lacks UnsortedSegmentSum. */
function gatherRows(table: tf.Tensor, ids: tf.Tensor1D): tf.Tensor {
  const idsArr = ids.dataSync();
  const [vocab, d] = table.shape as [number, number];
  const f = tf.customGrad(((t: tf.Tensor, save: tf.GradSaveFunc) => {
    save([]);
    return {
      value: tf.gather(t, ids),
      gradFunc: (dy: tf.Tensor) => {
        const g = new Float32Array(vocab * d);
        const dyArr = dy.dataSync();
        for (let r = 0; r < idsArr.length; r++) {
          const base = idsArr[r] * d;
          for (let c = 0; c < d; c++) g[base + c] += dyArr[r * d + c];
        }
        return [tf.tensor2d(g, [vocab, d])];
      },
    };
  }) as never) as (t: tf.Tensor) => tf.Tensor;
  return f(table);
}

const dense = (x: tf.Tensor, w: tf.Tensor): tf.Tensor => fastMatMul(x, w); // x [n, dIn], w [dIn, dOut]
const rmsNorm = (x: tf.Tensor, g: tf.Tensor, eps: number): tf.Tensor =>
  tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), g);

/** cos/sin [seq, headDim] in HF LLaMA's rotate_half layout. */
export function ropeTables(seq: number, headDim: number, theta: number): { cos: tf.Tensor; sin: tf.Tensor } {
  const half = headDim / 2;
  const cos = new Float32Array(seq * headDim);
  const sin = new Float32Array(seq * headDim);
  for (let p = 0; p < seq; p++) {
    for (let i = 0; i < half; i++) {
      const a = p / Math.pow(theta, (2 * i) / headDim);
      cos[p * headDim + i] = cos[p * headDim + i + half] = Math.cos(a);
      sin[p * headDim + i] = sin[p * headDim + i + half] = Math.sin(a);
    }
  }
  return { cos: tf.tensor(cos, [1, 1, seq, headDim]), sin: tf.tensor(sin, [1, 1, seq, headDim]) };
}

/** x [b, heads, seq, hd] → x·cos + rotate_half(x)·sin. */
function rope(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  const hd = x.shape[3] as number;
  const [x1, x2] = tf.split(x, 2, 3);
  return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), sin));
}

/** Causal additive mask [1, 1, seq, seq]: 0 on and below the diagonal, -1e9 above. */
export function causalMask(seq: number): tf.Tensor {
  const m = new Float32Array(seq * seq);
  for (let i = 0; i < seq; i++) for (let j = i + 1; j < seq; j++) m[i * seq + j] = -1e9;
  return tf.tensor(m, [1, 1, seq, seq]);
}

/**
 * Final hidden states (after the last RMSNorm) for ids int32 [b, seq] → [b·seq, dModel].
 * Right padding needs no mask beyond the causal one: real tokens never attend to later pads.
 */
export function forwardHidden(p: DemoParams, cfg: DemoModelConfig, ids: tf.Tensor2D): tf.Tensor {
  const [b, seq] = ids.shape;
  const hd = cfg.dModel / cfg.nHeads;
  const rep = cfg.nHeads / cfg.nKvHeads;
  const { cos, sin } = ropeTables(seq, hd, cfg.ropeTheta);
  const mask = causalMask(seq);
  const scale = 1 / Math.sqrt(hd);
  let x = gatherRows(p.embed, tf.reshape(ids, [-1]) as tf.Tensor1D); // [b·seq, d]
  for (const l of p.layers) {
    const h = rmsNorm(x, l.attnNorm, cfg.normEps);
    const heads = (w: tf.Tensor, n: number): tf.Tensor => tf.transpose(tf.reshape(dense(h, w), [b, seq, n, hd]), [0, 2, 1, 3]);
    const q = rope(heads(l.wq, cfg.nHeads), cos, sin); // [b, H, seq, hd]
    let k = rope(heads(l.wk, cfg.nKvHeads), cos, sin); // [b, KV, seq, hd]
    let v = heads(l.wv, cfg.nKvHeads);
    if (rep > 1) {
      // query head h reads kv head floor(h / rep), as HF repeat_kv
      const repeat = (t: tf.Tensor): tf.Tensor =>
        tf.concat(tf.split(t, cfg.nKvHeads, 1).flatMap((head) => new Array<tf.Tensor>(rep).fill(head)), 1);
      k = repeat(k);
      v = repeat(v);
    }
    const q3 = tf.reshape(q, [b * cfg.nHeads, seq, hd]);
    const kT = tf.transpose(tf.reshape(k, [b * cfg.nHeads, seq, hd]), [0, 2, 1]);
    const scores = tf.add(tf.reshape(tf.mul(fastMatMul(q3, kT), scale), [b, cfg.nHeads, seq, seq]), mask);
    const probs = tf.reshape(tf.softmax(scores), [b * cfg.nHeads, seq, seq]);
    const ctx3 = fastMatMul(probs, tf.reshape(v, [b * cfg.nHeads, seq, hd])); // [b·H, seq, hd]
    const ctx = tf.reshape(tf.transpose(tf.reshape(ctx3, [b, cfg.nHeads, seq, hd]), [0, 2, 1, 3]), [b * seq, cfg.dModel]);
    x = tf.add(x, dense(ctx, l.wo));
    const m = rmsNorm(x, l.mlpNorm, cfg.normEps);
    const gate = dense(m, l.wGate);
    x = tf.add(x, dense(tf.mul(tf.mul(gate, tf.sigmoid(gate)), dense(m, l.wUp)), l.wDown));
  }
  return rmsNorm(x, p.finalNorm, cfg.normEps);
}

/** Logits [rows, vocab] for selected rows of hidden [n, d] (tied head: h·Eᵀ). */
export function headLogits(p: DemoParams, hidden: tf.Tensor, rows: tf.Tensor1D): tf.Tensor {
  return fastMatMul(gatherRows(hidden, rows), tf.transpose(p.embed));
}

/** Hugging Face LLaMA tensors ([dOut, dIn] linear weights; tied lm_head omitted). */
export function toHfWeights(p: DemoParams): Map<string, SafetensorsTensor> {
  const out = new Map<string, SafetensorsTensor>();
  const put = (name: string, t: tf.Tensor, transpose: boolean): void => {
    const v = transpose ? tf.tidy(() => tf.transpose(t)) : t;
    out.set(name, { shape: [...v.shape], data: Float32Array.from(v.dataSync()) });
    if (transpose) v.dispose();
  };
  put('model.embed_tokens.weight', p.embed, false);
  p.layers.forEach((l, i) => {
    const pre = `model.layers.${i}`;
    put(`${pre}.input_layernorm.weight`, l.attnNorm, false);
    put(`${pre}.self_attn.q_proj.weight`, l.wq, true);
    put(`${pre}.self_attn.k_proj.weight`, l.wk, true);
    put(`${pre}.self_attn.v_proj.weight`, l.wv, true);
    put(`${pre}.self_attn.o_proj.weight`, l.wo, true);
    put(`${pre}.post_attention_layernorm.weight`, l.mlpNorm, false);
    put(`${pre}.mlp.gate_proj.weight`, l.wGate, true);
    put(`${pre}.mlp.up_proj.weight`, l.wUp, true);
    put(`${pre}.mlp.down_proj.weight`, l.wDown, true);
  });
  put('model.norm.weight', p.finalNorm, false);
  return out;
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

/** Rebuilds training-layout parameters from Hugging Face LLaMA tensors (inverse of toHfWeights). */
export function fromHfWeights(w: Map<string, tf.Tensor>, cfg: DemoModelConfig): DemoParams {
  const get = (name: string, transpose: boolean): tf.Variable => {
    const t = w.get(name);
    if (!t) throw new Error(`missing tensor ${name}`);
    return tf.variable(transpose ? tf.transpose(t) : t.clone(), false);
  };
  const layers: LayerParams[] = [];
  for (let i = 0; i < cfg.nLayers; i++) {
    const pre = `model.layers.${i}`;
    layers.push({
      attnNorm: get(`${pre}.input_layernorm.weight`, false), wq: get(`${pre}.self_attn.q_proj.weight`, true),
      wk: get(`${pre}.self_attn.k_proj.weight`, true), wv: get(`${pre}.self_attn.v_proj.weight`, true),
      wo: get(`${pre}.self_attn.o_proj.weight`, true), mlpNorm: get(`${pre}.post_attention_layernorm.weight`, false),
      wGate: get(`${pre}.mlp.gate_proj.weight`, true), wUp: get(`${pre}.mlp.up_proj.weight`, true),
      wDown: get(`${pre}.mlp.down_proj.weight`, true),
    });
  }
  return { embed: get('model.embed_tokens.weight', false), layers, finalNorm: get('model.norm.weight', false) };
}

/** Config back from a HF config.json written by hfConfig. */
export function configFromHf(c: Record<string, unknown>): DemoModelConfig {
  return {
    vocabSize: c.vocab_size as number, dModel: c.hidden_size as number, nLayers: c.num_hidden_layers as number,
    nHeads: c.num_attention_heads as number, nKvHeads: c.num_key_value_heads as number, dFf: c.intermediate_size as number,
    maxPositions: c.max_position_embeddings as number, ropeTheta: c.rope_theta as number, normEps: c.rms_norm_eps as number,
  };
}

/**
 * Greedy decoding without a KV cache (full forward per step, right-padded rows, each row read at its
 * own last position). Stops a row at `eosId` or a token containing a newline; returns generated ids.
 */
export function greedyGenerate(
  p: DemoParams, cfg: DemoModelConfig, prompts: number[][], maxNew: number, eosId: number, padId: number,
  stopIds: ReadonlySet<number>,
): number[][] {
  const seqs = prompts.map((x) => [...x]);
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  for (let stepI = 0; stepI < maxNew && done.some((d) => !d); stepI++) {
    const active = seqs.map((_, i) => i).filter((i) => !done[i]);
    const seq = Math.max(...active.map((i) => seqs[i].length));
    const ids = new Int32Array(active.length * seq).fill(padId);
    active.forEach((i, r) => ids.set(seqs[i], r * seq));
    const rows = Int32Array.from(active.map((i, r) => r * seq + seqs[i].length - 1));
    const next = tf.tidy(() =>
      tf.argMax(headLogits(p, forwardHidden(p, cfg, tf.tensor2d(ids, [active.length, seq], 'int32')), tf.tensor1d(rows, 'int32')), -1),
    );
    const nextIds = next.dataSync();
    next.dispose();
    active.forEach((i, r) => {
      const id = nextIds[r];
      if (id === eosId || stopIds.has(id)) {
        done[i] = true;
        if (id !== eosId) out[i].push(id);
        return;
      }
      out[i].push(id);
      seqs[i].push(id);
    });
  }
  return out;
}
