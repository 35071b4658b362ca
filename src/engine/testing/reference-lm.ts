import type * as tf from '@tensorflow/tfjs-core';
import type { PlanEntry } from '../lora-types.js';
import type { ModelConfig } from '../model-config.js';

/**
 * An independent float64 reference of GPT-2 and LLaMA written from the architectures' definitions
 * (plain loops over Float64Array, HF weight layouts as stored: GPT-2 Conv1D [in, out], LLaMA
 * nn.Linear [out, in]). For tests only: one unpadded sequence, no cache, no tricks.
 */
export interface RefWeight {
  data: Float64Array;
  shape: number[];
}

export type RefWeights = Map<string, RefWeight>;

/** One LoRA term of the explicit sum: s·(α/r)·B·A·x per module (A [r, dIn], B [dOut, r]). */
export interface RefLoraTerm {
  strength: number;
  alpha: number;
  rank: number;
  modules: Map<string, { a: RefWeight; b: RefWeight }>;
}

export function toRef(t: tf.Tensor): RefWeight {
  return { data: Float64Array.from(t.dataSync()), shape: [...t.shape] };
}

/** A LoRA plan as float64 reference terms (the explicit sum Σ s·(α/r)·B·A·x). */
export function refLoraTerms(plan: PlanEntry[]): RefLoraTerm[] {
  return plan.map(({ adapter, strength }) => ({
    strength,
    alpha: adapter.alpha,
    rank: adapter.rank,
    modules: new Map([...adapter.modules].map(([k, m]) => [k, { a: toRef(m.a), b: toRef(m.b) }])),
  }));
}

export function toRefWeights(weights: Map<string, tf.Tensor>): RefWeights {
  return new Map([...weights].map(([k, t]) => [k, toRef(t)]));
}

export interface RefOutput {
  /** [seq][vocab] */
  logits: Float64Array[];
  /** [layers+1][seq][dModel], HF order (embeddings first, final-norm output last). */
  hidden: Float64Array[][];
}

export function referenceForward(c: ModelConfig, w: RefWeights, tokens: number[], lora: RefLoraTerm[] = []): RefOutput {
  const gpt2 = c.family === 'gpt2';
  const get = (name: string): RefWeight => {
    const x = w.get(name);
    if (!x) throw new Error(`reference: missing ${name}`);
    return x;
  };
  const d = c.dModel;
  const hd = c.headDim;

  const linear = (module: string, x: Float64Array): Float64Array => {
    const W = get(`${module}.weight`);
    const bias = w.get(`${module}.bias`);
    const [dIn, dOut] = gpt2 ? W.shape : [W.shape[1], W.shape[0]];
    const y = new Float64Array(dOut);
    for (let j = 0; j < dOut; j++) {
      let acc = bias ? bias.data[j] : 0;
      for (let i = 0; i < dIn; i++) acc += x[i] * (gpt2 ? W.data[i * dOut + j] : W.data[j * dIn + i]);
      y[j] = acc;
    }
    for (const term of lora) {
      const m = term.modules.get(module);
      if (!m) continue;
      const r = term.rank;
      const ax = new Float64Array(r);
      for (let k = 0; k < r; k++) for (let i = 0; i < dIn; i++) ax[k] += m.a.data[k * dIn + i] * x[i];
      const f = (term.strength * term.alpha) / term.rank;
      for (let j = 0; j < dOut; j++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += m.b.data[j * r + k] * ax[k];
        y[j] += f * acc;
      }
    }
    return y;
  };
  const layerNorm = (x: Float64Array, prefix: string): Float64Array => {
    const g = get(`${prefix}.weight`).data;
    const b = get(`${prefix}.bias`).data;
    const mean = x.reduce((a, v) => a + v, 0) / x.length;
    const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
    return x.map((v, i) => ((v - mean) / Math.sqrt(variance + c.normEps)) * g[i] + b[i]);
  };
  const rmsNorm = (x: Float64Array, name: string): Float64Array => {
    const g = get(name).data;
    const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
    return x.map((v, i) => (v / Math.sqrt(ms + c.normEps)) * g[i]);
  };
  const rope = (x: Float64Array, heads: number, pos: number): Float64Array => {
    const out = new Float64Array(x.length);
    const half = hd / 2;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < half; i++) {
        const angle = pos * Math.pow(c.ropeTheta, (-2 * i) / hd);
        const a = x[h * hd + i];
        const b = x[h * hd + i + half];
        out[h * hd + i] = a * Math.cos(angle) - b * Math.sin(angle);
        out[h * hd + i + half] = b * Math.cos(angle) + a * Math.sin(angle);
      }
    }
    return out;
  };
  const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  const silu = (v: number) => v / (1 + Math.exp(-v));

  const emb = get(gpt2 ? 'transformer.wte.weight' : 'model.embed_tokens.weight');
  let hs: Float64Array[] = tokens.map((t, pos) => {
    const v = emb.data.slice(t * d, (t + 1) * d);
    if (gpt2) {
      const wpe = get('transformer.wpe.weight').data;
      for (let i = 0; i < d; i++) v[i] += wpe[pos * d + i];
    }
    return v;
  });
  const hidden: Float64Array[][] = [hs.map((v) => v.slice())];
  const groups = c.nHeads / c.nKvHeads;
  for (let l = 0; l < c.nLayers; l++) {
    const pre = gpt2 ? `transformer.h.${l}` : `model.layers.${l}`;
    const xs = hs.map((h) => (gpt2 ? layerNorm(h, `${pre}.ln_1`) : rmsNorm(h, `${pre}.input_layernorm.weight`)));
    let qs: Float64Array[], ks: Float64Array[], vs: Float64Array[];
    if (gpt2) {
      const qkv = xs.map((x) => linear(`${pre}.attn.c_attn`, x));
      qs = qkv.map((o) => o.slice(0, d));
      ks = qkv.map((o) => o.slice(d, 2 * d));
      vs = qkv.map((o) => o.slice(2 * d, 3 * d));
    } else {
      qs = xs.map((x, pos) => rope(linear(`${pre}.self_attn.q_proj`, x), c.nHeads, pos));
      ks = xs.map((x, pos) => rope(linear(`${pre}.self_attn.k_proj`, x), c.nKvHeads, pos));
      vs = xs.map((x) => linear(`${pre}.self_attn.v_proj`, x));
    }
    const contexts = qs.map((q, t) => {
      const ctx = new Float64Array(c.nHeads * hd);
      for (let h = 0; h < c.nHeads; h++) {
        const kvh = Math.floor(h / groups);
        const scores = new Float64Array(t + 1);
        for (let u = 0; u <= t; u++) {
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += q[h * hd + i] * ks[u][kvh * hd + i];
          scores[u] = dot / Math.sqrt(hd);
        }
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const sum = e.reduce((a, v) => a + v, 0);
        for (let u = 0; u <= t; u++) for (let i = 0; i < hd; i++) ctx[h * hd + i] += (e[u] / sum) * vs[u][kvh * hd + i];
      }
      return ctx;
    });
    const oName = gpt2 ? `${pre}.attn.c_proj` : `${pre}.self_attn.o_proj`;
    hs = hs.map((h, t) => {
      const a = linear(oName, contexts[t]);
      return h.map((v, i) => v + a[i]);
    });
    hs = hs.map((h) => {
      let m: Float64Array;
      if (gpt2) {
        const x = layerNorm(h, `${pre}.ln_2`);
        m = linear(`${pre}.mlp.c_proj`, linear(`${pre}.mlp.c_fc`, x).map(gelu));
      } else {
        const x = rmsNorm(h, `${pre}.post_attention_layernorm.weight`);
        const g = linear(`${pre}.mlp.gate_proj`, x);
        const u = linear(`${pre}.mlp.up_proj`, x);
        m = linear(`${pre}.mlp.down_proj`, g.map((v, i) => silu(v) * u[i]));
      }
      return h.map((v, i) => v + m[i]);
    });
    hidden.push(hs.map((v) => v.slice()));
  }
  const normed = hs.map((h) => (gpt2 ? layerNorm(h, 'transformer.ln_f') : rmsNorm(h, 'model.norm.weight')));
  hidden[hidden.length - 1] = normed;
  const head = c.tieWordEmbeddings ? emb : get('lm_head.weight');
  const logits = normed.map((h) => {
    const out = new Float64Array(c.vocabSize);
    for (let v = 0; v < c.vocabSize; v++) {
      let acc = 0;
      for (let i = 0; i < d; i++) acc += head.data[v * d + i] * h[i];
      out[v] = acc;
    }
    return out;
  });
  return { logits, hidden };
}

/** max |a − b| / max |b| over matching arrays: the relative error the specs bound. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} ≠ ${expected.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-30);
}
