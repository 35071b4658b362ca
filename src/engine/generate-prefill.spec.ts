import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { promptFeaturesAll } from './features.js';
import { generate, type TextTokenizer } from './generate.js';
import { disposeRowPrefill, joinPrefill, prefillRows } from './generate-prefill.js';
import { stackLora } from './lora.js';
import { disposeAdapter } from './lora-trainable.js';
import { argmax } from './sampling.js';
import { randomAdapter } from './testing/random-adapter.js';
import { randomCheckpoint } from './testing/random-checkpoint.js';
import { referenceForward, relativeError, toRef, toRefWeights } from './testing/reference-lm.js';
import { TransformerModel } from './transformer.js';

// float32 tfjs against float64: relative error (max |Δ| / max |ref|).
const TOL = 1e-4;

await initBackend();

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789.';
const charTokenizer: TextTokenizer = {
  encode: (text) => [...text].map((ch) => ALPHABET.indexOf(ch)),
  decode: (ids) => ids.map((i) => ALPHABET[i]).join(''),
};

describe.each(['gpt2', 'llama'] as const)('generation from a kept prefill on %s', (family) => {
  const ck = randomCheckpoint(family, { maxPositions: 40, nHeads: 4, nKvHeads: 2 }, 9);
  const c = ck.modelConfig;
  const model = TransformerModel.create(c, ck.weights);
  const ref = toRefWeights(ck.weights);
  const prompts = ['hello', 'ab', 'lethe.forgets'].map((p) => charTokenizer.encode(p));
  const adapter = randomAdapter(c, { rank: 3, alpha: 6 }, 21);
  afterAll(() => {
    model.dispose();
    disposeAdapter(adapter);
    tf.dispose([...ck.weights.values()]);
  });

  it("the features pass keeps each prompt's cache and last logits (= the float64 reference); generating from it equals generating from scratch", async () => {
    const f = promptFeaturesAll(model, prompts, { keepPrefill: true, batchSize: 2 }); // two chunks: 2 + 1 prompts
    expect(f.prefill!.map((p) => p.length)).toEqual([5, 2, 13]);
    prompts.forEach((p, r) => {
      const expected = referenceForward(c, ref, p).logits.at(-1)!;
      expect(relativeError(f.prefill![r].lastLogits, expected)).toBeLessThan(TOL);
    });
    const opts = { maxTokens: 10, eosTokenId: null };
    const fresh = await generate(model, charTokenizer, prompts, opts);
    const reused = await generate(model, charTokenizer, prompts, { ...opts, prefilled: joinPrefill(f.prefill!) });
    f.prefill!.forEach(disposeRowPrefill);
    expect(reused.map((r) => r.tokenIds)).toEqual(fresh.map((r) => r.tokenIds));
    expect(reused.map((r) => r.promptTokens)).toEqual([5, 2, 13]);
    // The reference's own greedy decode of the longest prompt.
    const ids = [...prompts[2]];
    for (let k = 0; k < 10; k++) ids.push(argmax(referenceForward(c, ref, ids).logits.at(-1)!));
    expect(reused[2].tokenIds).toEqual(ids.slice(13));
  });

  it('rows prefilled apart (one with its adapter) and joined decode as each row alone', async () => {
    const plans = [[], [{ adapter, strength: 0.8 }], []];
    const opts = { maxTokens: 8, eosTokenId: null };
    const alone = [];
    for (const [r, p] of prompts.entries()) {
      const lora = plans[r].length ? stackLora(model, plans[r]) : undefined;
      alone.push((await generate(model, charTokenizer, [p], { ...opts, lora }))[0].tokenIds);
      lora?.dispose();
    }
    // The adapter must change that row's answer, or the check proves nothing.
    expect(alone[1]).not.toEqual((await generate(model, charTokenizer, [prompts[1]], opts))[0].tokenIds);
    const adapted = stackLora(model, plans[1]);
    const rowAdapted = prefillRows(model, [prompts[1]], adapted);
    const rowsBase = prefillRows(model, [prompts[0], prompts[2]]);
    adapted.dispose();
    const before = tf.memory().numTensors;
    const lora = stackLora(model, plans);
    const state = joinPrefill([rowsBase[0], rowAdapted[0], rowsBase[1]]);
    const joined = await generate(model, charTokenizer, prompts, { ...opts, lora, prefilled: state });
    lora.dispose();
    expect(tf.memory().numTensors).toBe(before); // generate freed the joined cache
    [...rowsBase, ...rowAdapted].forEach(disposeRowPrefill);
    expect(joined.map((r) => r.tokenIds)).toEqual(alone);
    // The adapted row's first token came from its adapted prefill: the float64 reference with the adapter.
    const term = { strength: 0.8, alpha: 6, rank: 3, modules: new Map([...adapter.modules].map(([k, m]) => [k, { a: toRef(m.a), b: toRef(m.b) }])) };
    expect(relativeError(rowAdapted[0].lastLogits, referenceForward(c, ref, prompts[1], [term]).logits.at(-1)!)).toBeLessThan(TOL);
  });

  it('refuses a prefill that does not match the prompts, and frees it', async () => {
    const rows = prefillRows(model, [prompts[0], prompts[1]]);
    const before = tf.memory().numTensors;
    await expect(generate(model, charTokenizer, [prompts[1], prompts[0]], { maxTokens: 2, prefilled: joinPrefill(rows) })).rejects.toThrow(/caches 5 tokens; its prompt has 2/);
    await expect(generate(model, charTokenizer, [prompts[0]], { maxTokens: 2, prefilled: joinPrefill(rows) })).rejects.toThrow(/2 cached rows/);
    await expect(generate(model, charTokenizer, prompts.slice(0, 2), { maxTokens: 2, useCache: false, prefilled: joinPrefill(rows) })).rejects.toThrow(/KV cache/);
    expect(tf.memory().numTensors).toBe(before);
    rows.forEach(disposeRowPrefill);
  });
});
