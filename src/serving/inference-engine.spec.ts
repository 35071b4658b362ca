import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prefillRows } from '../engine/generate-prefill.js';
import { createModelFixture, randomPeftFiles, type ModelFixture } from './testing/model-fixture.js';
import { InferenceEngine, type EngineBatch } from './inference-engine.js';
import { PrefillStore } from './prefill-store.js';

const options = { maxTokens: 8, temperature: 0, topP: 1, stop: [] as string[] };

describe('inference engine: generation continues from the routing prefill', () => {
  let fixture: ModelFixture;
  let sut: InferenceEngine;

  beforeAll(async () => {
    fixture = await createModelFixture(11);
    sut = await InferenceEngine.load(fixture.dir, 'wasm');
    for (const seed of [1, 2]) {
      const files = randomPeftFiles(fixture.config, seed);
      sut.addAdapter({ key: `a${seed}@1`, rank: 4, alpha: 8, targetModules: files.adapterConfig.target_modules as string[], weights: files.weights });
    }
  });

  afterAll(async () => {
    sut?.dispose();
    await fixture?.dispose();
  });

  it('rows with kept prefills, rows with adapters and rows without a prefill answer as without reuse, and nothing is left behind', async () => {
    const rows: EngineBatch['rows'] = [
      { prompt: [5, 17, 42, 8, 99], plan: [] },
      { prompt: [7, 3, 250], plan: [{ key: 'a1@1', strength: 1 }] },
      { prompt: [11, 12], plan: [] },
      { prompt: [30, 31, 32, 33, 34, 35, 36], plan: [{ key: 'a1@1', strength: 0.5 }, { key: 'a2@1', strength: 1.5 }] },
    ];
    const fresh = await sut.generate({ rows, options });
    const alone = [];
    for (const row of rows) alone.push((await sut.generate({ rows: [row], options }))[0]);
    expect(fresh).toEqual(alone);
    const tensors = tf.memory().numTensors;
    // The router scored rows 0, 1 and 3 (row 2 was never scored, e.g. routed without gates).
    sut.features([rows[0].prompt, rows[1].prompt, rows[3].prompt], { keepPrefill: true });
    expect(sut.keptPrefills).toBe(3);
    const reused = await sut.generate({ rows, options });
    expect(reused).toEqual(fresh);
    expect(sut.keptPrefills).toBe(0); // taken (or dropped, for rows with adapters) by the generation
    expect(tf.memory().numTensors).toBe(tensors);
    // A lone base row answered from its kept prefill, as the routed path does.
    sut.features([rows[2].prompt], { keepPrefill: true });
    expect(await sut.generate({ rows: [rows[2]], options })).toEqual([fresh[2]]);
    expect(tf.memory().numTensors).toBe(tensors);
    // Features without keepPrefill keep nothing.
    sut.features([rows[0].prompt]);
    expect(sut.keptPrefills).toBe(0);
  });

  it('speculative adapted prefills in the features pass: base features unchanged, a right guess is continued from, a wrong one dropped, same answers', async () => {
    const rows: EngineBatch['rows'] = [
      { prompt: [5, 17, 42, 8, 99], plan: [{ key: 'a1@1', strength: 1 }] },
      { prompt: [7, 3, 250], plan: [{ key: 'a1@1', strength: 0.5 }, { key: 'a2@1', strength: 1.5 }] },
      { prompt: [11, 12], plan: [] },
    ];
    const fresh = [];
    for (const row of rows) fresh.push((await sut.generate({ rows: [row], options }))[0]);
    const prompts = rows.map((r) => r.prompt);
    const plain = sut.features(prompts);
    const before = { ...sut.prefillReuse };
    // Guesses: row 0 right, row 1 wrong (a2 alone), row 2 guessed a1 though it runs without adapters.
    const spec = sut.features(prompts, {
      keepPrefill: true,
      speculate: [
        { row: 0, plan: rows[0].plan },
        { row: 1, plan: [{ key: 'a2@1', strength: 1 }] },
        { row: 1, plan: rows[1].plan },
        { row: 2, plan: [{ key: 'a1@1', strength: 1 }] },
      ],
    });
    // The base rows of the speculative pass are the base model's (their LoRA scales are 0).
    spec.last.forEach((v, i) => v.forEach((x, k) => expect(Math.abs(x - plain.last[i][k])).toBeLessThan(1e-5)));
    expect(spec.detector).toHaveLength(3);
    expect(sut.keptPrefills).toBe(3 + 4);
    const tensors = tf.memory().numTensors;
    const reused = [];
    for (const row of rows) reused.push((await sut.generate({ rows: [row], options }))[0]);
    expect(reused).toEqual(fresh);
    expect(sut.prefillReuse.adapted - before.adapted).toBe(2); // rows 0 and 1 (its second guess)
    expect(sut.prefillReuse.base - before.base).toBe(1); // row 2
    expect(sut.keptPrefills).toBe(0); // wrong guesses dropped when their prompt's generation began
    expect(tf.memory().numTensors).toBeLessThan(tensors);
  });

  it('with mergeHotPlans, merges a hot shared plan into the weights from its second use: same answers, tensors bounded, freed on eviction', async () => {
    const merging = await InferenceEngine.load(fixture.dir, 'wasm', { mergeHotPlans: true });
    try {
      await mergesHotPlans(merging);
    } finally {
      merging.dispose();
    }
  });

  async function mergesHotPlans(sut: InferenceEngine): Promise<void> {
    const files = randomPeftFiles(fixture.config, 9);
    const before = tf.memory().numTensors;
    sut.addAdapter({ key: 'hot@1', rank: 4, alpha: 8, targetModules: files.adapterConfig.target_modules as string[], weights: files.weights });
    const loaded = tf.memory().numTensors;
    const prompts = [[5, 17, 42, 8, 99], [7, 3, 250], [30, 31, 32, 33]];
    const batch = (prompt: number[]) => ({ rows: [{ prompt, plan: [{ key: 'hot@1', strength: 1.25 }] }], options });
    // First use of the plan: stacked. A mixed batch (per-row stacking) gives the reference answers.
    const reference = await sut.generate({ rows: prompts.map((prompt) => batch(prompt).rows[0]).concat([{ prompt: [1, 2], plan: [] }]), options });
    const first = await sut.generate(batch(prompts[0]));
    const stacked = tf.memory().numTensors;
    const later = [];
    for (const p of prompts) later.push((await sut.generate(batch(p)))[0]); // merged from here on
    const merged = tf.memory().numTensors;
    expect(first[0]).toEqual(reference[0]);
    expect(later).toEqual(reference.slice(0, 3));
    // Per adapted module: one merged copy plus the factor cache's two transposed factors; the
    // stacked application (three tensors per module) is gone, and reuse adds nothing.
    const modules = sut.model.config.nLayers * (files.adapterConfig.target_modules as string[]).length;
    expect(merged - loaded).toBe(3 * modules);
    expect(stacked - loaded).toBeGreaterThan(merged - loaded);
    await sut.generate(batch(prompts[1]));
    expect(tf.memory().numTensors).toBe(merged);
    sut.evictAdapters(['hot@1']);
    expect(tf.memory().numTensors).toBe(before);
  }

  it('by default keeps every plan stacked, with the same answers as a merging engine', async () => {
    const merging = await InferenceEngine.load(fixture.dir, 'wasm', { mergeHotPlans: true });
    try {
      const files = randomPeftFiles(fixture.config, 9);
      const payload = { key: 'hot@1', rank: 4, alpha: 8, targetModules: files.adapterConfig.target_modules as string[], weights: files.weights };
      sut.addAdapter(payload);
      merging.addAdapter(payload);
      const batch = { rows: [{ prompt: [5, 17, 42, 8, 99], plan: [{ key: 'hot@1', strength: 1.25 }] }], options };
      const first = await sut.generate(batch);
      const tensors = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) expect(await sut.generate(batch)).toEqual(first);
      expect(tf.memory().numTensors).toBe(tensors); // nothing merged, nothing added
      await merging.generate(batch);
      expect(await merging.generate(batch)).toEqual(first); // merged from its second use, same answer
      sut.evictAdapters(['hot@1']);
    } finally {
      merging.dispose();
    }
  });

  it('with rowLora, batches that mix plans run per-row (fused kernel) with the same answers as rank stacking, and free their factors on eviction', async () => {
    const rows = await InferenceEngine.load(fixture.dir, 'wasm', { rowLora: true });
    try {
      for (const seed of [1, 2]) {
        const files = randomPeftFiles(fixture.config, seed);
        rows.addAdapter({ key: `a${seed}@1`, rank: 4, alpha: 8, targetModules: files.adapterConfig.target_modules as string[], weights: files.weights });
      }
      const batch: EngineBatch = {
        rows: [
          { prompt: [7, 3, 250], plan: [{ key: 'a1@1', strength: 1 }] },
          { prompt: [11, 12], plan: [] },
          { prompt: [30, 31, 32, 33, 34, 35, 36], plan: [{ key: 'a1@1', strength: 0.5 }, { key: 'a2@1', strength: 1.5 }] },
          { prompt: [5, 17, 42, 8, 99], plan: [{ key: 'a2@1', strength: -1 }] },
        ],
        options,
      };
      const tensors = tf.memory().numTensors;
      expect(await rows.generate(batch)).toEqual(await sut.generate(batch));
      expect(tf.memory().numTensors).toBe(tensors);
      rows.evictAdapters(['a1@1', 'a2@1']);
      expect(rows.memory().adapters).toBe(0);
    } finally {
      rows.dispose();
    }
  });

  it('the prefill store takes each prompt once and evicts the oldest beyond its bounds', () => {
    const before = tf.memory().numTensors;
    const store = new PrefillStore(Number.MAX_SAFE_INTEGER, 2);
    const prompts = [[1, 2], [3], [4, 5, 6]];
    const rows = prefillRows(sut.model, prompts);
    rows.forEach((r, i) => store.put(prompts[i], r));
    expect(store.size).toBe(2);
    expect(store.take([1, 2])).toBeUndefined(); // evicted (oldest)
    const got = store.take([3]);
    expect(got?.length).toBe(1);
    expect(store.take([3])).toBeUndefined();
    for (const l of got!.layers) tf.dispose([l.keysT, l.values]);
    store.dispose();
    expect(store.size).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('inference engine: probe pass of an adapter to import (issue 12)', () => {
  let fixture: ModelFixture;
  let sut: InferenceEngine;

  beforeAll(async () => {
    fixture = await createModelFixture(11);
    sut = await InferenceEngine.load(fixture.dir, 'wasm');
  });

  afterAll(async () => {
    sut?.dispose();
    await fixture?.dispose();
  });

  const payload = (alpha: number) => {
    const files = randomPeftFiles(fixture.config, 5, 4, 8, 0.5);
    return { key: 'probe', rank: 4, alpha, targetModules: files.adapterConfig.target_modules as string[], weights: files.weights };
  };

  it('sees finite logits for an ordinary adapter and non-finite ones for an overflowing one, keeping nothing', () => {
    const tensors = tf.memory().numTensors;
    const ok = sut.probeAdapter(payload(8));
    expect(ok).toMatchObject({ finite: true });
    expect(ok.maxAbsLogit).toBeGreaterThan(0);
    expect(ok.promptTokens).toBeGreaterThan(3);
    // α = 1e30 (finite, accepted by the stored-adapter rules): the residual stream overflows float32.
    expect(sut.probeAdapter(payload(1e30)).finite).toBe(false);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(sut.hasAdapter('probe')).toBe(false);
  });
});
