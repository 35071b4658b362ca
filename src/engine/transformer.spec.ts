import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { conditionVector, promptFeatures, promptFeaturesAll } from './features.js';
import { KvCache } from './kv-cache.js';
import { stackLora } from './lora.js';
import { randomAdapter } from './testing/random-adapter.js';
import { ModelConfigError, parseModelConfig } from './model-config.js';
import { randomCheckpoint, type RandomCheckpointSizes } from './testing/random-checkpoint.js';
import { referenceForward, relativeError, toRefWeights } from './testing/reference-lm.js';
import { leftPadBatch, TransformerModel } from './transformer.js';

// Logits from float32 tfjs against the float64 reference: relative error (max |Δ| / max |ref|).
const TOL = 1e-4;

const variants: { name: string; family: 'gpt2' | 'llama'; sizes: RandomCheckpointSizes }[] = [
  { name: 'gpt2 (tied head)', family: 'gpt2', sizes: {} },
  { name: 'llama GQA 4q/2kv, untied head', family: 'llama', sizes: { nHeads: 4, nKvHeads: 2 } },
  { name: 'llama MQA 4q/1kv, tied head', family: 'llama', sizes: { nHeads: 4, nKvHeads: 1, tieWordEmbeddings: true } },
  { name: 'llama MHA, 3 layers, rope_theta 500', family: 'llama', sizes: { nHeads: 2, nKvHeads: 2, nLayers: 3, ropeTheta: 500 } },
];

function randomTokens(n: number, vocab: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % vocab;
  });
}

await initBackend();

describe.each(variants)('TransformerModel $name', ({ family, sizes }) => {
  const ck = randomCheckpoint(family, sizes, 7);
  const sut = TransformerModel.create(ck.modelConfig, ck.weights);
  const ref = toRefWeights(ck.weights);
  const c = ck.modelConfig;
  afterAll(() => {
    sut.dispose();
    tf.dispose([...ck.weights.values()]);
  });

  it('logits match the float64 reference', () => {
    const tokens = randomTokens(9, c.vocabSize, 3);
    const expected = referenceForward(c, ref, tokens);
    const ids = tf.tensor2d([tokens], [1, tokens.length], 'int32');
    const { logits } = sut.forward({ tokenIds: ids });
    const got = logits!.arraySync()[0];
    for (let t = 0; t < tokens.length; t++) expect(relativeError(got[t], expected.logits[t])).toBeLessThan(TOL);
    tf.dispose([ids, logits!]);
  });

  it('left-padded batch rows equal each prompt alone (and right padding works too)', () => {
    const prompts = [randomTokens(7, c.vocabSize, 11), randomTokens(3, c.vocabSize, 12), randomTokens(5, c.vocabSize, 13)];
    const batch = leftPadBatch(prompts, 0);
    const { logits } = sut.forward(batch);
    const got = logits!.arraySync();
    prompts.forEach((p, r) => {
      const expected = referenceForward(c, ref, p);
      const offset = 7 - p.length;
      for (let t = 0; t < p.length; t++) expect(relativeError(got[r][offset + t], expected.logits[t])).toBeLessThan(TOL);
    });
    tf.dispose([batch.tokenIds, batch.attentionMask, logits!]);

    // Right padding: positions still count from each row's first real token.
    const ids = tf.tensor2d([[...prompts[1], 5, 5, 5, 5]], [1, 7], 'int32');
    const mask = tf.tensor2d([[1, 1, 1, 0, 0, 0, 0]]);
    const right = sut.forward({ tokenIds: ids, attentionMask: mask });
    const expected = referenceForward(c, ref, prompts[1]);
    const rows = right.logits!.arraySync()[0];
    for (let t = 0; t < 3; t++) expect(relativeError(rows[t], expected.logits[t])).toBeLessThan(TOL);
    tf.dispose([ids, mask, right.logits!]);
  });

  it('incremental decoding with the KV cache equals the full forward', () => {
    const prompts = [randomTokens(6, c.vocabSize, 21), randomTokens(4, c.vocabSize, 22)];
    const extra = [randomTokens(3, c.vocabSize, 23), randomTokens(3, c.vocabSize, 24)];
    const cache = new KvCache();
    const batch = leftPadBatch(prompts, 0);
    const first = sut.forward(batch, { cache, logits: 'last' });
    const steps: number[][][] = [first.logits!.arraySync().map((r) => r[0])];
    for (let k = 0; k < 3; k++) {
      const ids = tf.tensor2d(extra.map((e) => [e[k]]), [2, 1], 'int32');
      const out = sut.forward({ tokenIds: ids }, { cache, logits: 'last' });
      steps.push(out.logits!.arraySync().map((r) => r[0]));
      tf.dispose([ids, out.logits!]);
    }
    expect(cache.length).toBe(9);
    cache.dispose();
    tf.dispose([batch.tokenIds, batch.attentionMask, first.logits!]);
    prompts.forEach((p, r) => {
      const full = referenceForward(c, ref, [...p, ...extra[r]]);
      for (let k = 0; k <= 3; k++) {
        expect(relativeError(steps[k][r], full.logits[p.length - 1 + k])).toBeLessThan(TOL);
      }
    });
  });

  it('finalOnly (the default for last logits) keeps the last logits, the KV cache and the next step of the full last layer, with per-row LoRA too', () => {
    const prompts = [randomTokens(6, c.vocabSize, 51), randomTokens(4, c.vocabSize, 52)];
    const adapter = randomAdapter(c, { rank: 4 }, 5);
    const lora = stackLora(sut, [[{ adapter, strength: 1 }], []]);
    const run = (finalOnly: boolean) => {
      const cache = new KvCache();
      const batch = leftPadBatch(prompts, 0);
      const first = sut.forward(batch, { cache, lora, logits: 'last', finalOnly });
      const ids = tf.tensor2d([[3], [4]], [2, 1], 'int32');
      const next = sut.forward({ tokenIds: ids }, { cache, lora, logits: 'last' });
      const out = { first: first.logits!.arraySync(), next: next.logits!.arraySync(), keys: cache.layer(c.nLayers - 1)!.keysT.arraySync() };
      tf.dispose([batch.tokenIds, batch.attentionMask, ids, first.logits!, next.logits!]);
      cache.dispose();
      return out;
    };
    const full = run(false);
    const cut = run(true);
    lora.dispose();
    for (const m of adapter.modules.values()) tf.dispose([m.a, m.b]);
    for (let r = 0; r < 2; r++) {
      expect(relativeError(cut.first[r][0], full.first[r][0])).toBeLessThan(TOL);
      expect(relativeError(cut.next[r][0], full.next[r][0])).toBeLessThan(TOL);
    }
    expect(cut.keys).toEqual(full.keys);
    // The row with the adapter answers differently from the same prompt without it (the LoRA was applied).
    expect(relativeError(cut.first[0][0], referenceForward(c, ref, prompts[0]).logits[5])).toBeGreaterThan(TOL);
  });

  it('hidden states, pooled features and condition vectors match the reference', () => {
    const prompts = [randomTokens(5, c.vocabSize, 31), randomTokens(2, c.vocabSize, 32)];
    const features = promptFeatures(sut, prompts);
    expect(features).toHaveLength(c.nLayers + 1);
    const refs = prompts.map((p) => referenceForward(c, ref, p));
    for (let l = 0; l <= c.nLayers; l++) {
      prompts.forEach((p, r) => {
        const mean = new Float64Array(c.dModel);
        for (const h of refs[r].hidden[l]) for (let i = 0; i < c.dModel; i++) mean[i] += h[i] / p.length;
        expect(relativeError(features[l][r], mean)).toBeLessThan(TOL);
      });
    }
    const cond = conditionVector(sut, prompts);
    const expected = new Float64Array(c.dModel);
    refs.forEach((o) => {
      const last = o.hidden[c.nLayers][o.hidden[c.nLayers].length - 1];
      for (let i = 0; i < c.dModel; i++) expected[i] += last[i] / refs.length;
    });
    expect(relativeError(cond, expected)).toBeLessThan(TOL);
  });

  it('with pooled: false, skips pooling and still gives every layer\'s final-token state and the condition vector as the reference', () => {
    const prompts = [randomTokens(5, c.vocabSize, 41), randomTokens(3, c.vocabSize, 42)];
    const all = promptFeaturesAll(sut, prompts, { pooled: false });
    expect(all.pooled.every((layer) => layer.length === 0)).toBe(true);
    const refs = prompts.map((p) => referenceForward(c, ref, p));
    for (let l = 0; l <= c.nLayers; l++) {
      prompts.forEach((p, r) => expect(relativeError(all.finalToken[l][r], refs[r].hidden[l][p.length - 1])).toBeLessThan(TOL));
    }
    prompts.forEach((p, r) => expect(relativeError(all.last[r], refs[r].hidden[c.nLayers][p.length - 1])).toBeLessThan(TOL));
    // The same states as with pooling on.
    const withPooled = promptFeaturesAll(sut, prompts);
    expect(withPooled.finalToken).toEqual(all.finalToken);
  });

  it('exports its weights back in HF naming and layout, bit for bit', () => {
    const exported = sut.exportWeights();
    expect([...exported.keys()].sort()).toEqual([...ck.weights.keys()].sort());
    for (const [name, t] of exported) expect(t.dataSync()).toEqual(ck.weights.get(name)!.dataSync());
    tf.dispose([...exported.values()]);
  });
});

describe('TransformerModel.create', () => {
  it('lists every missing, misshapen or unknown weight in one error', () => {
    const ck = randomCheckpoint('llama', {}, 1);
    const weights = new Map(ck.weights);
    weights.delete('model.norm.weight');
    weights.set('model.layers.0.mlp.up_proj.weight', tf.zeros([3, 3]));
    weights.set('model.layers.0.surprise.weight', tf.zeros([2]));
    expect(() => TransformerModel.create(ck.modelConfig, weights)).toThrow(
      'checkpoint does not match the llama config: model.layers.0.mlp.up_proj.weight has shape [3,3], expected [24,16]; ' +
        'unexpected weight model.layers.0.surprise.weight; missing weight model.norm.weight',
    );
    tf.dispose([...weights.values(), ...ck.weights.values()]);
  });

  it('accepts original GPT-2 names without the transformer. prefix and ignores attention buffers', () => {
    const ck = randomCheckpoint('gpt2', { nLayers: 1 }, 2);
    const stripped = new Map([...ck.weights].map(([k, t]) => [k.replace(/^transformer\./, ''), t]));
    stripped.set('h.0.attn.bias', tf.ones([1, 1, 64, 64]));
    const sut = TransformerModel.create(ck.modelConfig, stripped);
    expect(sut.params.has('transformer.h.0.attn.c_attn.weight')).toBe(true);
    sut.dispose();
    tf.dispose([...stripped.values()]);
  });
});

describe('parseModelConfig', () => {
  it('maps gpt2 and llama configs and rejects bad ones with every problem listed', () => {
    const gpt2 = parseModelConfig({ model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024 });
    expect(gpt2).toMatchObject({ family: 'gpt2', dModel: 768, dFf: 3072, nKvHeads: 12, headDim: 64, tieWordEmbeddings: true, normEps: 1e-5 });
    const llama = parseModelConfig({
      model_type: 'llama', vocab_size: 32000, hidden_size: 2048, num_hidden_layers: 22, num_attention_heads: 32,
      num_key_value_heads: 4, intermediate_size: 5632, rms_norm_eps: 1e-5, rope_theta: 10000, eos_token_id: 2, bos_token_id: 1,
    });
    expect(llama).toMatchObject({ family: 'llama', nKvHeads: 4, headDim: 64, tieWordEmbeddings: false, eosTokenId: 2, bosTokenId: 1 });
    expect(() => parseModelConfig({ model_type: 'bert' })).toThrow(ModelConfigError);
    try {
      parseModelConfig({ model_type: 'llama', vocab_size: 10, hidden_size: 30, num_hidden_layers: 0, num_attention_heads: 4, num_key_value_heads: 3, intermediate_size: 8 });
      expect.unreachable();
    } catch (error) {
      const problems = (error as ModelConfigError).problems.join('\n');
      expect(problems).toMatch(/num_hidden_layers/);
      expect(problems).toMatch(/multiple of num_key_value_heads/);
      expect(problems).toMatch(/divisible/);
    }
  });
});
