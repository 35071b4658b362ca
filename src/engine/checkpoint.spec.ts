import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { CheckpointError, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { serializeSafetensors } from './safetensors.js';

const tokenizerJson = {
  version: '1.0',
  added_tokens: ['<unk>', '<s>', '</s>'].map((content, id) => ({ id, content, special: true, normalized: false, lstrip: false, rstrip: false, single_word: false })),
  pre_tokenizer: { type: 'WhitespaceSplit' },
  model: { type: 'WordLevel', vocab: { '<unk>': 0, '<s>': 1, '</s>': 2, hello: 3, world: 4 }, unk_token: '<unk>' },
};
const config = { model_type: 'llama', hidden_size: 4, vocab_size: 5, bos_token_id: 1, eos_token_id: [2, 0] };

function randomWeights(): Map<string, tf.Tensor> {
  return new Map<string, tf.Tensor>([
    ['model.embed_tokens.weight', tf.randomNormal([5, 4], 0, 1, 'float32', 1)],
    ['model.layers.0.self_attn.q_proj.weight', tf.randomNormal([4, 4], 0, 1, 'float32', 2)],
    ['model.norm.weight', tf.ones([4])],
  ]);
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'lethe-ckpt-'));
}

async function errorOf(p: Promise<unknown>): Promise<CheckpointError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof CheckpointError) return error;
    throw error;
  }
  throw new Error('expected a CheckpointError');
}

describe('checkpoint folders', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it.each([undefined, 100])('saves and loads exactly (maxShardBytes %s)', async (maxShardBytes) => {
    const dir = await tempDir();
    const weights = randomWeights();
    await saveCheckpoint(dir, { config, weights, tokenizerJson, generationConfig: { max_new_tokens: 8 }, maxShardBytes });
    const files = (await readdir(dir)).sort();
    if (maxShardBytes) {
      expect(files).toContain('model.safetensors.index.json');
      expect(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    } else {
      expect(files).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json']);
    }
    const sut = await loadCheckpoint(dir);
    expect(sut.config).toEqual(config);
    expect(sut.generationConfig).toEqual({ max_new_tokens: 8 });
    expect([...sut.weights.keys()].sort()).toEqual([...weights.keys()].sort());
    for (const [name, t] of weights) {
      expect(sut.weights.get(name)!.shape).toEqual(t.shape);
      expect(sut.weights.get(name)!.dataSync()).toEqual(t.dataSync());
    }
    expect(sut.tokenizer.encode('hello world there')).toEqual([3, 4, 0]);
    expect([sut.tokenizer.bosId, sut.tokenizer.eosId]).toEqual([1, 2]); // from config.json ids
    for (const t of [...weights.values(), ...sut.weights.values()]) t.dispose();
  });

  it('writes byte-identical files for the same input', async () => {
    const [a, b] = [await tempDir(), await tempDir()];
    const weights = randomWeights();
    await saveCheckpoint(a, { config, weights, tokenizerJson });
    await saveCheckpoint(b, { config, weights: new Map([...weights].reverse()), tokenizerJson });
    expect(await readFile(join(a, 'model.safetensors'))).toEqual(await readFile(join(b, 'model.safetensors')));
    weights.forEach((t) => t.dispose());
  });

  it('names the file and the defect', async () => {
    const dir = await tempDir();
    let e = await errorOf(loadCheckpoint(dir));
    expect(e.file).toBe(join(dir, 'config.json'));
    expect(e.reason).toBe('file not found');

    await writeFile(join(dir, 'config.json'), '[1]');
    e = await errorOf(loadCheckpoint(dir));
    expect(e.message).toBe(`${join(dir, 'config.json')}: not a JSON object`);

    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    e = await errorOf(loadCheckpoint(dir));
    expect(e.file).toBe(join(dir, 'model.safetensors'));

    await writeFile(join(dir, 'model.safetensors'), new Uint8Array(12));
    e = await errorOf(loadCheckpoint(dir));
    expect(e.message).toMatch(/model\.safetensors: invalid safetensors: header length 0/);
  });

  it('refuses index path tricks, missing and unlisted shard tensors', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    const index = (weightMap: Record<string, string>) => writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    await writeFile(join(dir, 'a.safetensors'), serializeSafetensors({ x: { shape: [1], data: new Float32Array([1]) }, y: { shape: [1], data: new Float32Array([2]) } }));

    await index({ x: '../a.safetensors' });
    expect((await errorOf(loadCheckpoint(dir))).reason).toMatch(/not a plain \.safetensors file name/);
    await index({ x: 'a.safetensors', y: 'a.safetensors', z: 'a.safetensors' });
    expect((await errorOf(loadCheckpoint(dir))).reason).toBe('tensor "z" listed in model.safetensors.index.json is missing');
    await index({ x: 'a.safetensors' });
    expect((await errorOf(loadCheckpoint(dir))).reason).toMatch(/tensor "y" is not listed/);
    await index({ x: 'a.safetensors', y: 'a.safetensors' });
    const sut = await loadCheckpoint(dir);
    expect(sut.weights.get('y')!.dataSync()).toEqual(new Float32Array([2]));
    sut.weights.forEach((t) => t.dispose());
  });
});
