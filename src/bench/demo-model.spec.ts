/**
 * The demo trainer (scripts/train-demo.ts) trains the engine's TransformerModel in training mode.
 * Checked here: its forward through the trainer's loss path matches a float64 HF LLaMA reference,
 * and a short retrain reproduces, step for step, the losses of the trainer that produced
 * models/demo (before it moved onto TransformerModel), so the committed model stays reproducible.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { ensureGradients } from '../engine/gradients.js';
import { generateWorld, trainingItems } from './world.js';
import { encodeItems, epochBatches, loadDemoTokenizer } from '../../scripts/train-demo-data.js';
import {
  batchLoss, createDemoModel, DEMO_TRAINING, type DemoModelConfig, DemoOptimizer, initWeights, learningRate, targetLogits,
} from '../../scripts/train-demo-model.js';

const cfg: DemoModelConfig = { vocabSize: 11, dModel: 8, nLayers: 2, nHeads: 2, nKvHeads: 1, dFf: 12, maxPositions: 16, ropeTheta: 10000, normEps: 1e-5 };

beforeAll(async () => {
  await ensureGradients();
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

/**
 * Per-step losses of the trainer that produced models/demo (commit d0c667e, its own training-mode
 * model), default settings (seed 20260, batch 64, peak lr 3e-3, d_model 128, 4 layers), on WASM;
 * the same on two runs.
 */
const COMMITTED_TRAINER_LOSSES = [7.403991222381592, 7.294516563415527, 7.10009241104126, 6.969433307647705, 6.793720722198486];

describe('demo trainer on TransformerModel', () => {
  it('matches a float64 HF LLaMA reference through the loss path (rel. error <= 1e-4), and exports the weights it was given', () => {
    const init = initWeights(cfg, 7);
    // larger than the init scale so attention and norms are exercised away from uniform
    for (const l of [0, 1]) {
      for (const m of ['q_proj', 'k_proj', 'v_proj']) {
        const name = `model.layers.${l}.self_attn.${m}.weight`;
        const scaled = tf.mul(init.get(name)!, 20);
        init.get(name)!.dispose();
        init.set(name, scaled);
      }
    }
    const hf = new Map([...init].map(([n, t]) => [n, { shape: [...t.shape], data: Float32Array.from(t.dataSync()) }]));
    const sut = createDemoModel(cfg, init, 0, 0);
    const ids = [[1, 4, 9, 2, 7], [3, 3, 10, 0, 5]];
    const rows = Int32Array.from({ length: 10 }, (_, i) => i);
    const logits = tf.tidy(() => targetLogits(sut, { ids: Int32Array.from(ids.flat()), b: 2, seq: 5, rows }));
    const got = Array.from(logits.dataSync());
    logits.dispose();
    const want = ids.flatMap((row) => referenceLogits(hf, row)).flat();
    const scale = Math.max(...want.map(Math.abs));
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]) / scale).toBeLessThan(1e-4);
    // HF layout out (fast layout inside): exactly the weights that went in
    const out = sut.exportWeights();
    expect([...out.keys()].sort()).toEqual([...hf.keys()].sort());
    for (const [name, t] of out) expect(Array.from(t.dataSync()), name).toEqual(Array.from(hf.get(name)!.data));
    tf.dispose([...out.values(), ...init.values()]);
    sut.dispose();
  });

  it(`retrains the first ${COMMITTED_TRAINER_LOSSES.length} steps with the committed trainer's losses (to 1e-4)`, () => {
    const { tok, eosId, padId, vocabSize } = loadDemoTokenizer();
    const train = encodeItems(tok, trainingItems(generateWorld()), eosId);
    const batches = epochBatches(train, DEMO_TRAINING.batch, DEMO_TRAINING.seed, 0, padId);
    const demo = DEMO_TRAINING.model(vocabSize);
    const init = initWeights(demo, DEMO_TRAINING.seed);
    const sut = createDemoModel(demo, init, eosId, padId);
    tf.dispose([...init.values()]);
    const optimizer = new DemoOptimizer(sut.variables(), DEMO_TRAINING.clip);
    const losses = COMMITTED_TRAINER_LOSSES.map((_, step) =>
      optimizer.step(() => batchLoss(sut, batches[step]), learningRate(step, DEMO_TRAINING.peakLr, 60 * batches.length), step),
    );
    optimizer.dispose();
    sut.dispose();
    losses.forEach((loss, i) => expect(Math.abs(loss - COMMITTED_TRAINER_LOSSES[i]), `step ${i + 1}: ${loss}`).toBeLessThanOrEqual(1e-4));
  });
});
