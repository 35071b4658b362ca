import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { LoraFactorCache, mergeLora, stackLora, type LoraApplication } from './lora.js';
import { createTrainableLora, disposeAdapter } from './lora-trainable.js';
import type { LoraAdapter, PlanEntry } from './lora-types.js';
import { randomAdapter } from './testing/random-adapter.js';
import { randomCheckpoint } from './testing/random-checkpoint.js';
import { referenceForward, refLoraTerms, relativeError, toRefWeights } from './testing/reference-lm.js';
import { leftPadBatch, TransformerModel } from './transformer.js';

// float32 tfjs against the float64 explicit sum: relative error (max |Δ| / max |ref|).
const TOL = 1e-4;

await initBackend();

describe.each(['gpt2', 'llama'] as const)('LoRA composition on %s', (family) => {
  const ck = randomCheckpoint(family, { nHeads: 4, nKvHeads: 2 }, 5);
  const c = ck.modelConfig;
  const model = TransformerModel.create(c, ck.weights);
  const ref = toRefWeights(ck.weights);
  const attn = family === 'gpt2' ? ['c_attn'] : ['q_proj', 'v_proj'];
  const mlp = family === 'gpt2' ? ['c_fc'] : ['gate_proj', 'down_proj'];
  const a1 = randomAdapter(c, { rank: 2, alpha: 3 }, 11);
  const a2 = randomAdapter(c, { rank: 4, alpha: 8, targetModules: attn }, 12);
  const a3 = randomAdapter(c, { rank: 3, alpha: 1.5, targetModules: mlp }, 13);
  const plan1: PlanEntry[] = [{ adapter: a1, strength: 0.7 }];
  const plan3: PlanEntry[] = [
    { adapter: a1, strength: 0.7 },
    { adapter: a2, strength: -0.4 },
    { adapter: a3, strength: 1.3 },
  ];
  const tokens = [3, 14, 15, 9, 2, 6];
  afterAll(() => {
    model.dispose();
    [a1, a2, a3].forEach(disposeAdapter);
    tf.dispose([...ck.weights.values()]);
  });

  const logitsWith = (lora: LoraApplication | undefined, prompts: number[][]): number[][][] => {
    const batch = leftPadBatch(prompts, 0);
    const { logits } = model.forward(batch, { lora });
    const out = logits!.arraySync();
    tf.dispose([batch.tokenIds, batch.attentionMask, logits!]);
    return out;
  };

  it.each([
    ['1 adapter', () => plan1],
    ['3 adapters, different ranks, alphas, strengths and modules', () => plan3],
  ])('stacked == merged == explicit float64 sum (%s)', (_, planOf) => {
    const plan = planOf();
    const expected = referenceForward(c, ref, tokens, refLoraTerms(plan));
    const base = referenceForward(c, ref, tokens);
    // The adapters must change the output visibly, or the comparison proves nothing.
    expect(relativeError(base.logits[tokens.length - 1], expected.logits[tokens.length - 1])).toBeGreaterThan(0.05);
    const stacked = stackLora(model, plan);
    const merged = mergeLora(model, plan);
    const gotStacked = logitsWith(stacked, [tokens])[0];
    const gotMerged = logitsWith(merged, [tokens])[0];
    for (let t = 0; t < tokens.length; t++) {
      expect(relativeError(gotStacked[t], expected.logits[t])).toBeLessThan(TOL);
      expect(relativeError(gotMerged[t], expected.logits[t])).toBeLessThan(TOL);
    }
    stacked.dispose();
    merged.dispose();
  });

  it('rows of one batch carry different adapter sets and strengths, each equal to the row alone', () => {
    const rows: PlanEntry[][] = [plan3, [], [{ adapter: a2, strength: 1.1 }], plan1, [{ adapter: a1, strength: 0.2 }, { adapter: a1, strength: 0.5 }]];
    const prompts = [tokens, [7, 1, 4], [9, 9, 8, 1], [5, 2], tokens];
    const cache = new LoraFactorCache();
    const mixed = stackLora(model, rows, { cache });
    const got = logitsWith(mixed, prompts);
    mixed.dispose();
    const width = Math.max(...prompts.map((p) => p.length));
    rows.forEach((plan, r) => {
      const p = prompts[r];
      const alone = stackLora(model, plan, { cache });
      const gotAlone = logitsWith(alone, [p])[0];
      alone.dispose();
      const expected = referenceForward(c, ref, p, refLoraTerms(plan));
      for (let t = 0; t < p.length; t++) {
        const row = got[r][width - p.length + t];
        expect(relativeError(row, gotAlone[t])).toBeLessThan(TOL);
        expect(relativeError(row, expected.logits[t])).toBeLessThan(TOL);
      }
    });
    expect(cache.size).toBe(3);
    cache.dispose();
  });

  it('frees every tensor it makes (stacking, merging, cache eviction)', () => {
    const before = tf.memory().numTensors;
    const cache = new LoraFactorCache();
    for (let i = 0; i < 3; i++) {
      stackLora(model, [plan3, plan1], { cache }).dispose();
      mergeLora(model, plan3, { cache }).dispose();
    }
    stackLora(model, plan3).dispose();
    cache.evict(a1);
    expect(cache.size).toBe(2);
    cache.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects adapters that do not fit and strengths that are not finite', () => {
    const other = randomCheckpoint(family, { dModel: 8, nHeads: 2, nKvHeads: 1 }, 1);
    const wrong = randomAdapter(other.modelConfig, { rank: 2 }, 1);
    expect(() => stackLora(model, [{ adapter: wrong, strength: 1 }])).toThrow(/adapter does not fit the model/);
    expect(() => stackLora(model, [{ adapter: a1, strength: Number.NaN }])).toThrow(/finite/);
    disposeAdapter(wrong);
    tf.dispose([...other.weights.values()]);
  });

  it('a fresh trainable LoRA starts as the identity edit (B = 0, seeded Kaiming-uniform A) and freezes to PEFT layout', () => {
    const sut = createTrainableLora(model, { rank: 4, alpha: 8, seed: 3 });
    const again = createTrainableLora(model, { rank: 4, alpha: 8, seed: 3 });
    const app = sut.application();
    const base = logitsWith(undefined, [tokens])[0];
    const withLora = logitsWith(app, [tokens])[0];
    expect(relativeError(withLora[tokens.length - 1], base[tokens.length - 1])).toBe(0);
    const frozen: LoraAdapter = sut.freeze();
    const frozenAgain = again.freeze();
    expect(frozen.targetModules.sort()).toEqual(family === 'gpt2' ? ['c_attn', 'c_fc', 'c_proj'] : ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    for (const [name, m] of frozen.modules) {
      const dIn = m.a.shape[1];
      expect(m.a.shape[0]).toBe(4);
      expect(m.b.shape[1]).toBe(4);
      const a = m.a.dataSync();
      expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(dIn));
      expect(a).toEqual(frozenAgain.modules.get(name)!.a.dataSync());
      expect(m.b.dataSync().every((v) => v === 0)).toBe(true);
    }
    // Resuming from a frozen adapter reproduces it exactly.
    const resumed = createTrainableLora(model, { rank: 4, alpha: 8, seed: 99, init: frozen });
    const back = resumed.freeze();
    for (const [name, m] of back.modules) expect(m.a.dataSync()).toEqual(frozen.modules.get(name)!.a.dataSync());
    app.dispose();
    [sut, again, resumed].forEach((l) => l.dispose());
    [frozen, frozenAgain, back].forEach(disposeAdapter);
  });
});
