import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { LoraAdapter } from '../engine/lora-types.js';
import type { ModelConfig } from '../engine/model-config.js';
import { linearModules } from '../engine/transformer-weights.js';
import {
  adapterFlopsPerToken,
  adapterShapeFromTargets,
  adapterShapeOf,
  baseFlops,
  type FlopModelShape,
  layerMatrices,
  planFlopRatio,
} from './flops.js';

const llama: FlopModelShape = { family: 'llama', dModel: 64, nLayers: 3, dFf: 172, vocabSize: 500, nHeads: 8, nKvHeads: 2 };
const gpt2: FlopModelShape = { family: 'gpt2', dModel: 48, nLayers: 2, dFf: 192, vocabSize: 300, nHeads: 4, nKvHeads: 4 };

/**
 * Reference: walks the tokens one by one, listing every matmul of the architecture as
 * [rows, inner, cols] and adding 2·rows·inner·cols.
 */
function referenceFlops(m: FlopModelShape, P: number, G: number, allLogits: boolean): number {
  const d = m.dModel;
  const hd = d / m.nHeads;
  const mm = (rows: number, inner: number, cols: number) => 2 * rows * inner * cols;
  let total = 0;
  const forward = (position: number, logits: boolean) => {
    for (let l = 0; l < m.nLayers; l++) {
      if (m.family === 'gpt2') {
        total += mm(1, d, 3 * d) + mm(1, d, d) + mm(1, d, m.dFf) + mm(1, m.dFf, d);
      } else {
        total += mm(1, d, d) + 2 * mm(1, d, m.nKvHeads * hd) + mm(1, d, d) + 3 * mm(1, d, m.dFf);
      }
      for (let h = 0; h < m.nHeads; h++) total += mm(1, hd, position + 1) + mm(1, position + 1, hd);
    }
    if (logits) total += mm(1, d, m.vocabSize);
  };
  for (let i = 0; i < P; i++) forward(i, allLogits || i === P - 1);
  for (let j = 1; j < G; j++) forward(P + j - 1, true);
  return total;
}

describe('flops', () => {
  it('counts base FLOPs as a token-by-token walk of the architecture does', () => {
    for (const m of [llama, gpt2]) {
      for (const [P, G] of [[1, 1], [7, 0], [7, 1], [12, 9], [0, 0], [30, 64]] as const) {
        expect(baseFlops(m, P, G)).toBe(referenceFlops(m, P, G, false));
        expect(baseFlops(m, P, G, { prefillLogits: 'all' })).toBe(referenceFlops(m, P, G, true));
      }
    }
    expect(() => baseFlops(llama, -1, 2)).toThrow(/token counts/);
    expect(() => baseFlops(llama, 1.5, 2)).toThrow(/token counts/);
  });

  it("lists the same linear layers as the engine's model definition", () => {
    for (const m of [llama, gpt2]) {
      const config = { ...m, headDim: m.dModel / m.nHeads, maxPositions: 128, normEps: 1e-5, ropeTheta: 1e4, tieWordEmbeddings: true } as ModelConfig;
      const engine = linearModules(config).filter((x) => x.layer === 0).map(({ short, dIn, dOut }) => ({ short, dIn, dOut }));
      expect(layerMatrices(m)).toEqual(engine);
    }
  });

  it('gives 2r/d for a rank-r adapter on one square matrix', () => {
    const d = 4096;
    const r = 8;
    expect(adapterFlopsPerToken({ matrices: [{ rank: r, dIn: d, dOut: d }] }) / (2 * d * d)).toBeCloseTo((2 * r) / d, 15);
  });

  it('reads adapter shapes from real factors and from PEFT target names alike', async () => {
    await tf.setBackend('cpu');
    const r = 4;
    const hd = llama.dModel / llama.nHeads;
    const modules = new Map<string, { a: tf.Tensor2D; b: tf.Tensor2D }>();
    for (let l = 0; l < llama.nLayers; l++) {
      modules.set(`model.layers.${l}.self_attn.q_proj`, { a: tf.zeros([r, 64]), b: tf.zeros([64, r]) });
      modules.set(`model.layers.${l}.self_attn.v_proj`, { a: tf.zeros([r, 64]), b: tf.zeros([llama.nKvHeads * hd, r]) });
    }
    const adapter: LoraAdapter = { rank: r, alpha: 8, targetModules: ['q_proj', 'v_proj'], modules };
    const fromTensors = adapterShapeOf(adapter);
    expect(fromTensors).toEqual(adapterShapeFromTargets(llama, r, ['q_proj', 'v_proj']));
    expect(adapterFlopsPerToken(fromTensors)).toBe(3 * (2 * r * (64 + 64) + 2 * r * (64 + 16)));
    tf.dispose([...modules.values()].flatMap((x) => [x.a, x.b]));
    expect(adapterShapeFromTargets(gpt2, 2, ['c_proj']).matrices).toHaveLength(2 * gpt2.nLayers); // attn and mlp
    expect(() => adapterShapeFromTargets(gpt2, 2, ['q_proj'])).toThrow(/unknown target modules/);
  });

  it('relates a plan’s extra FLOPs to the base FLOPs of the same request', () => {
    const P = 20;
    const G = 16;
    const a = adapterShapeFromTargets(llama, 8, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    const b = adapterShapeFromTargets(llama, 4, ['q_proj']);
    const hd = llama.dModel / llama.nHeads;
    const perTokenA = llama.nLayers * 2 * 8 * (64 + 64 + (64 + 2 * hd) * 2 + 64 + 64 + (64 + 172) * 3);
    const perTokenB = llama.nLayers * 2 * 4 * (64 + 64);
    const expected = ((perTokenA + perTokenB) * (P + G - 1)) / referenceFlops(llama, P, G, false);
    expect(planFlopRatio(llama, [a, b], P, G)).toBeCloseTo(expected, 14);
    expect(planFlopRatio(llama, [], P, G)).toBe(0);
    expect(planFlopRatio(llama, [a], 0, 0)).toBe(0);
  });
});
