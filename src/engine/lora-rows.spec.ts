import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import type { LoraApplication } from './lora-application.js';
import { LoraRowCache, prefersRowLora, rowLora } from './lora-rows.js';
import { disposeAdapter } from './lora-trainable.js';
import type { PlanEntry } from './lora-types.js';
import { randomAdapter } from './testing/random-adapter.js';
import { randomCheckpoint } from './testing/random-checkpoint.js';
import { referenceForward, refLoraTerms, relativeError, toRefWeights } from './testing/reference-lm.js';
import { KvCache } from './kv-cache.js';
import { leftPadBatch, TransformerModel } from './transformer.js';

// float32 tfjs against the float64 explicit sum: relative error (max |Δ| / max |ref|).
const TOL = 1e-4;

await initBackend();

describe.each(['gpt2', 'llama'] as const)('per-row LoRA (BGMV) on %s', (family) => {
  const ck = randomCheckpoint(family, { nHeads: 4, nKvHeads: 2 }, 5);
  const c = ck.modelConfig;
  const model = TransformerModel.create(c, ck.weights);
  const ref = toRefWeights(ck.weights);
  const attn = family === 'gpt2' ? ['c_attn'] : ['q_proj', 'v_proj'];
  const mlp = family === 'gpt2' ? ['c_fc'] : ['gate_proj', 'down_proj'];
  const a1 = randomAdapter(c, { rank: 2, alpha: 3 }, 11);
  const a2 = randomAdapter(c, { rank: 4, alpha: 8, targetModules: attn }, 12);
  const a3 = randomAdapter(c, { rank: 3, alpha: 1.5, targetModules: mlp }, 13);
  afterAll(() => {
    model.dispose();
    [a1, a2, a3].forEach(disposeAdapter);
    tf.dispose([...ck.weights.values()]);
  });

  const logitsWith = (lora: LoraApplication, prompts: number[][]): number[][][] => {
    const batch = leftPadBatch(prompts, 0);
    const { logits } = model.forward(batch, { lora });
    const out = logits!.arraySync();
    tf.dispose([batch.tokenIds, batch.attentionMask, logits!]);
    return out;
  };

  it('every row of a batch gets exactly its own plan (float64 explicit sum), prefill and cached decode alike', () => {
    const rows: PlanEntry[][] = [
      [{ adapter: a1, strength: 0.7 }, { adapter: a2, strength: -0.4 }, { adapter: a3, strength: 1.3 }],
      [],
      [{ adapter: a2, strength: 1.1 }],
      [{ adapter: a1, strength: 0.2 }, { adapter: a1, strength: 0.5 }],
      [{ adapter: a3, strength: 2 }],
    ];
    const prompts = [[3, 14, 15, 9, 2, 6], [7, 1, 4], [9, 9, 8, 1], [5, 2], [3, 14, 15, 9, 2, 6]];
    const cache = new LoraRowCache();
    const lora = rowLora(model, rows, cache);
    expect(cache.size).toBe(3);
    const got = logitsWith(lora, prompts);
    const width = Math.max(...prompts.map((p) => p.length));
    const expected = rows.map((plan, r) => referenceForward(c, ref, prompts[r], refLoraTerms(plan)));
    // The plans must change the output visibly, or the comparison proves nothing.
    expect(relativeError(expected[0].logits.at(-1)!, referenceForward(c, ref, prompts[0]).logits.at(-1)!)).toBeGreaterThan(0.05);
    rows.forEach((_, r) => {
      const p = prompts[r];
      for (let t = 0; t < p.length; t++) expect(relativeError(got[r][width - p.length + t], expected[r].logits[t])).toBeLessThan(TOL);
    });
    // One cached decode step: the prompts minus their last token, then the last token as a new column.
    const kv = new KvCache();
    const head = leftPadBatch(
      prompts.map((p) => p.slice(0, -1)),
      0,
    );
    tf.dispose(model.forward(head, { cache: kv, lora, logits: 'none' }).logits ?? []);
    const step = { tokenIds: tf.tensor2d(prompts.map((p) => [p.at(-1)!]), [prompts.length, 1], 'int32') };
    const { logits } = model.forward(step, { cache: kv, lora, logits: 'last' });
    const last = logits!.arraySync();
    tf.dispose([head.tokenIds, head.attentionMask, step.tokenIds, logits!]);
    kv.dispose();
    rows.forEach((_, r) => expect(relativeError(last[r][0], expected[r].logits.at(-1)!)).toBeLessThan(TOL));
    lora.dispose();
  });

  it('prefers the per-row path exactly when the batch mixes adapters, and frees every tensor it makes', () => {
    expect(prefersRowLora([[{ adapter: a1, strength: 1 }], [{ adapter: a2, strength: 1 }]])).toBe(true);
    expect(prefersRowLora([[{ adapter: a2, strength: 1 }], [{ adapter: a2, strength: 0.5 }], []])).toBe(false);
    expect(prefersRowLora([[{ adapter: a1, strength: 1 }, { adapter: a2, strength: 1 }], [{ adapter: a2, strength: 1 }]])).toBe(false);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) rowLora(model, [[{ adapter: a1, strength: 1 }], [], [{ adapter: a3, strength: 0.5 }]]).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
