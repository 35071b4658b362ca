import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeAdapter } from '../engine/lora-trainable.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import type { TransformerModel } from '../engine/transformer.js';
import { createModelFixture, type ModelFixture } from '../modules/inference/testing/model-fixture.js';
import { AdapterFactory } from './testing/adapter.factory.js';
import { averageAdapters, evaluateTask, loadTaskModel, taskCondition, trainTaskAdapter, type TaskTokenizer } from './task-training.js';

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
