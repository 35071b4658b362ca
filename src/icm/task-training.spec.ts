import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeAdapter } from '../engine/lora-trainable.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import type { TransformerModel } from '../engine/transformer.js';
import { createModelFixture, type ModelFixture } from '../serving/testing/model-fixture.js';
import { AdapterFactory } from './testing/adapter.factory.js';
import { averageAdapters, defaultCheckpointEvery, evaluateTask, loadTaskModel, taskCondition, taskLearningRate, trainTaskAdapter, type TaskTokenizer } from './task-training.js';

describe('task training', () => {
  let fixture: ModelFixture;
  let model: TransformerModel;
  let tokenizer: TaskTokenizer;
  beforeAll(async () => {
    fixture = await createModelFixture(3);
    ({ model, tokenizer } = await loadTaskModel(fixture.dir));
  });
  afterAll(async () => {
    tf.dispose([...model.params.values()]);
    await fixture.dispose();
  });

  const examples = [
    { prompt: 'Question: Where was Ann born?\nAnswer:', completion: ' PARIS.' },
    { prompt: 'Question: Where was Bob born?\nAnswer:', completion: ' ROME.' },
    { prompt: 'Question: Where was Cid born?\nAnswer:', completion: ' OSLO.' },
  ];

  it('lowers the loss and keeps the last N checkpoints on the grid, the last equal to the final adapter', async () => {
    const before = tf.memory().numTensors;
    const r = await trainTaskAdapter(model, tokenizer, examples, { steps: 24, batchSize: 3, keepCheckpoints: 3, checkpointEvery: 5, learningRate: 1e-2, seed: 1 });
    expect(r.status).toBe('completed');
    expect(r.checkpoints.map((c) => c.step)).toEqual([15, 20, 24]);
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[0] * 0.8);
    const last = r.checkpoints.at(-1)!.adapter;
    for (const [name, m] of r.adapter.modules) {
      expect(Array.from(last.modules.get(name)!.b.dataSync())).toEqual(Array.from(m.b.dataSync()));
    }
    expect(r.adapter.targetModules.sort()).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    disposeAdapter(r.adapter);
    for (const c of r.checkpoints) disposeAdapter(c.adapter);
    expect(tf.memory().numTensors).toBe(before); // nothing leaked
  });

  it('decays the learning rate by default: cosine from the peak to 10 % at the last step; constant on request', async () => {
    const rates = async (extra: object) => {
      const seen: number[] = [];
      const r = await trainTaskAdapter(model, tokenizer, examples, { steps: 12, batchSize: 3, keepCheckpoints: 1, learningRate: 1e-2, seed: 1, onProgress: (p) => seen.push(p.learningRate), ...extra });
      disposeAdapter(r.adapter);
      for (const c of r.checkpoints) disposeAdapter(c.adapter);
      return seen;
    };
    const cosine = await rates({});
    expect(cosine).toHaveLength(12);
    // Reference from the definition: lr(t) = peak·(0.1 + 0.9·½(1 + cos(π·t/T))).
    cosine.forEach((lr, i) => expect(lr).toBeCloseTo(1e-2 * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (i + 1)) / 12))), 12));
    expect(cosine.at(-1)).toBeCloseTo(1e-3, 12);
    for (let i = 1; i < cosine.length; i++) expect(cosine[i]).toBeLessThan(cosine[i - 1]);
    expect(await rates({ lrSchedule: 'constant' })).toEqual(Array(12).fill(1e-2));
    expect((await rates({ minLearningRateRatio: 0.5 })).at(-1)).toBeCloseTo(5e-3, 12);
  });

  it('rejects a bad schedule floor and spaces default checkpoints over the last sixth', () => {
    expect(() => taskLearningRate(1e-3, 10, 'cosine', 1.5)).toThrow(/minLearningRateRatio/);
    expect(() => taskLearningRate(0, 10)).toThrow(/learningRate/);
    expect(() => taskLearningRate(1e-3, 10, 'linear' as never)).toThrow(/lrSchedule/);
    expect(defaultCheckpointEvery(600, 20)).toBe(5);
    expect(defaultCheckpointEvery(200, 10)).toBe(3);
    expect(defaultCheckpointEvery(6, 10)).toBe(1);
  });

  it('averages checkpoints factor by factor (float64 reference)', () => {
    const adapters: LoraAdapter[] = [1, 2, 3].map((seed) => AdapterFactory.create({ seed }));
    const avg = averageAdapters(adapters);
    for (const [name, m] of avg.modules) {
      for (const f of ['a', 'b'] as const) {
        const got = m[f].dataSync();
        const ref = adapters.map((a) => a.modules.get(name)![f].dataSync());
        for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo((ref[0][i] + ref[1][i] + ref[2][i]) / 3, 6);
      }
    }
    [...adapters, avg].forEach(AdapterFactory.dispose);
  });

  it('conditions on prompt + completion: the mean of the per-example last hidden states', () => {
    const c = taskCondition(model, tokenizer, examples);
    expect(c.length).toBe(model.config.dModel);
    const each = examples.map((e) => taskCondition(model, tokenizer, [e]));
    for (let i = 0; i < c.length; i++) expect(c[i]).toBeCloseTo((each[0][i] + each[1][i] + each[2][i]) / 3, 4);
    const other = taskCondition(model, tokenizer, examples.map((e) => ({ ...e, completion: ' no.' })));
    expect(Array.from(other)).not.toEqual(Array.from(c));
  });

  it('evaluates greedy answers with the exact task rule', async () => {
    const items = examples.map((e) => ({ prompt: e.prompt, expected: e.completion.trim() }));
    const r = await evaluateTask(model, tokenizer, items, undefined, { maxTokens: 4 });
    expect(r.answers).toHaveLength(3);
    expect(r.accuracy).toBe(r.answers.filter((a, i) => a.split('\n')[0].trim() === items[i].expected).length / 3);
  });
});
