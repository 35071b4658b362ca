import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { generate, type TextTokenizer, type TokenEvent } from './generate.js';
import { stackLora } from './lora.js';
import { disposeAdapter } from './lora-trainable.js';
import { argmax } from './sampling.js';
import { randomAdapter } from './testing/random-adapter.js';
import { randomCheckpoint } from './testing/random-checkpoint.js';
import { referenceForward, toRefWeights } from './testing/reference-lm.js';
import { TransformerModel } from './transformer.js';

await initBackend();

// One character per token over a 37-symbol alphabet (the random checkpoints' vocabulary size).
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789.';
const charTokenizer: TextTokenizer = {
  encode: (text) => [...text].map((ch) => ALPHABET.indexOf(ch)),
  decode: (ids) => ids.map((i) => ALPHABET[i]).join(''),
};

describe.each(['gpt2', 'llama'] as const)('generate on %s', (family) => {
  const ck = randomCheckpoint(family, { maxPositions: 40 }, 9);
  const model = TransformerModel.create(ck.modelConfig, ck.weights);
  const prompts = ['hello', 'ab', 'lethe.forgets'];
  afterAll(() => {
    model.dispose();
    tf.dispose([...ck.weights.values()]);
  });

  it('greedy with the KV cache equals greedy without it and the float64 reference, token for token', async () => {
    const cached = await generate(model, charTokenizer, prompts, { maxTokens: 12, eosTokenId: null });
    const uncached = await generate(model, charTokenizer, prompts, { maxTokens: 12, eosTokenId: null, useCache: false });
    expect(cached.map((r) => r.tokenIds)).toEqual(uncached.map((r) => r.tokenIds));
    expect(cached.every((r) => r.finishReason === 'length' && r.completionTokens === 12)).toBe(true);
    expect(cached.map((r) => r.promptTokens)).toEqual([5, 2, 13]);
    // The reference's own greedy decode for the first prompt.
    const ref = toRefWeights(ck.weights);
    const ids = charTokenizer.encode(prompts[0]);
    for (let k = 0; k < 12; k++) ids.push(argmax(referenceForward(ck.modelConfig, ref, ids).logits.at(-1)!));
    expect(cached[0].tokenIds).toEqual(ids.slice(5));
  });

  it('seeded sampling is deterministic, and per-row streams do not depend on the other rows', async () => {
    const opts = { maxTokens: 10, temperature: 1.5, topP: 0.9, eosTokenId: null };
    const a = await generate(model, charTokenizer, prompts, { ...opts, seed: 123 });
    const b = await generate(model, charTokenizer, prompts, { ...opts, seed: 123 });
    const c = await generate(model, charTokenizer, prompts, { ...opts, seed: 124 });
    expect(a.map((r) => r.text)).toEqual(b.map((r) => r.text));
    expect(a.map((r) => r.text)).not.toEqual(c.map((r) => r.text));
    const first = await generate(model, charTokenizer, [prompts[0]], { ...opts, seed: 123 });
    expect(first[0].text).toBe(a[0].text);
  });

  it('stops on a stop sequence, streams exactly the returned text and never the stop string', async () => {
    const [free] = await generate(model, charTokenizer, ['hello'], { maxTokens: 12, eosTokenId: null });
    const stop = free.text.slice(4, 6);
    const cut = free.text.indexOf(stop);
    const events: TokenEvent[] = [];
    const [sut] = await generate(model, charTokenizer, ['hello'], {
      maxTokens: 12,
      eosTokenId: null,
      stop: ['zzzzzzz', stop],
      onToken: (e) => events.push(e),
    });
    expect(sut.finishReason).toBe('stop');
    expect(sut.text).toBe(free.text.slice(0, cut));
    expect(events).toHaveLength(sut.completionTokens);
    expect(events.map((e) => e.delta).join('')).toBe(sut.text);
    expect(events.at(-1)).toMatchObject({ done: true, finishReason: 'stop' });
    expect(events.slice(0, -1).every((e) => !e.done)).toBe(true);
  });

  it('stops on EOS (not part of the text) and on the context limit', async () => {
    const [free] = await generate(model, charTokenizer, ['hello'], { maxTokens: 12, eosTokenId: null });
    // The first generated token that did not occur before it becomes EOS.
    const k = free.tokenIds.findIndex((t, i) => i > 0 && !free.tokenIds.slice(0, i).includes(t));
    expect(k).toBeGreaterThan(0);
    const [sut] = await generate(model, charTokenizer, ['hello'], { maxTokens: 12, eosTokenId: free.tokenIds[k] });
    expect(sut).toMatchObject({ finishReason: 'stop', completionTokens: k + 1, tokenIds: free.tokenIds.slice(0, k), text: free.text.slice(0, k) });
    const long = 'abcdefghij'.repeat(3) + 'abcdefg'; // 37 tokens of a 40-position context
    const [limited] = await generate(model, charTokenizer, [long], { maxTokens: 10, eosTokenId: null });
    expect(limited).toMatchObject({ finishReason: 'length', completionTokens: 3 });
    await expect(generate(model, charTokenizer, ['a'.repeat(40)], { maxTokens: 1 })).rejects.toThrow(/context/);
  });

  it('keeps the tensor count flat across 1,000 generations (with and without LoRA)', async () => {
    const adapter = randomAdapter(ck.modelConfig, { rank: 2 }, 4);
    const lora = stackLora(model, [[{ adapter, strength: 1 }], []]);
    await generate(model, charTokenizer, ['ab', 'cde'], { maxTokens: 3, lora });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) {
      await generate(model, charTokenizer, ['ab', 'cde'], {
        maxTokens: 3,
        temperature: i % 2,
        seed: i,
        stop: ['q'],
        ...(i % 3 === 0 && { lora }),
      });
    }
    expect(tf.memory().numTensors).toBe(before);
    lora.dispose();
    disposeAdapter(adapter);
  }, 120_000);
});
