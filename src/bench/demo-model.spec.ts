import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers every tfjs-core gradient (see src/engine/gradients.ts)
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { createRng } from './world.js';
import {
  type DemoModelConfig, fastMatMul, forwardHidden, fromHfWeights, headLogits, initParams, toHfWeights,
} from '../../scripts/train-demo-model.js';

const cfg: DemoModelConfig = { vocabSize: 11, dModel: 8, nLayers: 2, nHeads: 2, nKvHeads: 1, dFf: 12, maxPositions: 16, ropeTheta: 10000, normEps: 1e-5 };

beforeAll(async () => {
  await initBackend('wasm');
});

/** float64 reference of HF LLaMA (rotate_half RoPE, GQA, SwiGLU, tied head) from [dOut, dIn] weights. */
function referenceLogits(w: Map<string, { shape: number[]; data: Float32Array }>, ids: number[]): number[][] {
  const d = cfg.dModel, hd = d / cfg.nHeads, rep = cfg.nHeads / cfg.nKvHeads, T = ids.length;
  const W = (n: string) => Array.from(w.get(n)!.data, Number);
  const lin = (x: number[], name: string): number[] => {
    const [out, inn] = w.get(name)!.shape;
    const m = W(name);
    return Array.from({ length: out }, (_, o) => x.reduce((a, xi, i) => a + m[o * inn + i] * xi, 0));
  };
  const rms = (x: number[], g: number[]) => {
    const r = 1 / Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length + cfg.normEps);
    return x.map((v, i) => v * r * g[i]);
  };
  const rope = (v: number[], pos: number) => v.map((_, i) => {
    const half = hd / 2, k = i % half;
    const ang = pos / Math.pow(cfg.ropeTheta, (2 * k) / hd);
    const rot = i < half ? -v[i + half] : v[i - half];
    return v[i] * Math.cos(ang) + rot * Math.sin(ang);
  });
  const E = W('model.embed_tokens.weight');
  let xs = ids.map((id) => E.slice(id * d, id * d + d));
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `model.layers.${l}`;
    const h = xs.map((x) => rms(x, W(`${p}.input_layernorm.weight`)));
    const q = h.map((x) => lin(x, `${p}.self_attn.q_proj.weight`));
    const k = h.map((x) => lin(x, `${p}.self_attn.k_proj.weight`));
    const v = h.map((x) => lin(x, `${p}.self_attn.v_proj.weight`));
    const ctx = xs.map(() => new Array<number>(d).fill(0));
    for (let head = 0; head < cfg.nHeads; head++) {
      const kvh = Math.floor(head / rep);
      for (let t = 0; t < T; t++) {
        const qt = rope(q[t].slice(head * hd, head * hd + hd), t);
        const s = Array.from({ length: t + 1 }, (_, u) => {
          const ku = rope(k[u].slice(kvh * hd, kvh * hd + hd), u);
          return qt.reduce((a, qi, i) => a + qi * ku[i], 0) / Math.sqrt(hd);
        });
        const mx = Math.max(...s);
        const e = s.map((z) => Math.exp(z - mx));
        const z = e.reduce((a, b) => a + b, 0);
        for (let u = 0; u <= t; u++) for (let i = 0; i < hd; i++) ctx[t][head * hd + i] += (e[u] / z) * v[u][kvh * hd + i];
      }
    }
    xs = xs.map((x, t) => { const o = lin(ctx[t], `${p}.self_attn.o_proj.weight`); return x.map((xi, i) => xi + o[i]); });
    xs = xs.map((x) => {
      const m = rms(x, W(`${p}.post_attention_layernorm.weight`));
      const g = lin(m, `${p}.mlp.gate_proj.weight`), u = lin(m, `${p}.mlp.up_proj.weight`);
      const act = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]);
      const down = lin(act, `${p}.mlp.down_proj.weight`);
      return x.map((xi, i) => xi + down[i]);
    });
  }
  return xs.map((x) => {
    const hN = rms(x, W('model.norm.weight'));
    return Array.from({ length: cfg.vocabSize }, (_, vIdx) => hN.reduce((a, hi, i) => a + hi * E[vIdx * d + i], 0));
  });
}

describe('demo training model', () => {
  it('matches a float64 HF LLaMA reference through the exported weights (rel. error ≤ 1e-4)', () => {
    const params = initParams(cfg, 7);
    // larger than the init scale so attention and norms are exercised away from uniform
    for (const l of params.layers) for (const v of [l.wq, l.wk, l.wv]) v.assign(tf.mul(v, 20));
    const hf = toHfWeights(params);
    const ids = [[1, 4, 9, 2, 7], [3, 3, 10, 0, 5]];
    const logits = tf.tidy(() => headLogits(params, forwardHidden(params, cfg, tf.tensor2d(ids.flat(), [2, 5], 'int32')), tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'int32')));
    const got = Array.from(logits.dataSync());
    logits.dispose();
    const want = ids.flatMap((row) => referenceLogits(hf, row)).flat();
    const scale = Math.max(...want.map(Math.abs));
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]) / scale).toBeLessThan(1e-4);
    // the HF layout round-trips to the same parameters
    const back = fromHfWeights(new Map([...hf].map(([n, t]) => [n, tf.tensor(t.data, t.shape)])), cfg);
    expect(Array.from(back.layers[1].wGate.dataSync())).toEqual(Array.from(params.layers[1].wGate.dataSync()));
  });

  it('fastMatMul gradients equal the analytic float64 ones (2-D and batched 3-D)', () => {
    const rng = createRng(11);
    const rand = (n: number) => Array.from({ length: n }, () => rng() * 2 - 1);
    for (const [aShape, bShape] of [[[3, 4], [4, 5]], [[2, 3, 4], [2, 4, 5]]] as const) {
      const B = aShape.length === 3 ? aShape[0] : 1;
      const [m, k] = aShape.slice(-2), n = bShape[bShape.length - 1];
      const a = rand(B * m * k), b = rand(B * k * n), r = rand(B * m * n);
      const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(fastMatMul(x, y), tf.tensor(r, [...aShape.slice(0, -1), n]))))(
        [tf.tensor(a, [...aShape]), tf.tensor(b, [...bShape])]);
      const gaD = ga.dataSync(), gbD = gb.dataSync();
      for (let bi = 0; bi < B; bi++) {
        for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) {
          let s = 0;
          for (let c = 0; c < n; c++) s += r[bi * m * n + i * n + c] * b[bi * k * n + j * n + c];
          expect(gaD[bi * m * k + i * k + j]).toBeCloseTo(s, 5);
        }
        for (let j = 0; j < k; j++) for (let c = 0; c < n; c++) {
          let s = 0;
          for (let i = 0; i < m; i++) s += a[bi * m * k + i * k + j] * r[bi * m * n + i * n + c];
          expect(gbD[bi * k * n + j * n + c]).toBeCloseTo(s, 5);
        }
      }
    }
  });
});
