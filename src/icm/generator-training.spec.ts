import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { randomCheckpoint } from '../engine/testing/random-checkpoint.js';
import { deserialiseGenerator } from './generator-io.js';
import { trainTaskGenerator, type TaskCheckpointSet } from './generator-training.js';
import { AdapterFactory } from './testing/adapter.factory.js';
import { toyTaskSet } from './testing/task-checkpoints.factory.js';

describe('trainTaskGenerator', () => {
  // Only the family matters (PEFT export); the random weights are not used.
  let modelConfig: ReturnType<typeof randomCheckpoint>['modelConfig'];
  beforeAll(async () => {
    await initBackend();
    const ckpt = randomCheckpoint('llama');
    modelConfig = ckpt.modelConfig;
    for (const t of ckpt.weights.values()) t.dispose();
  });

  it('trains over every checkpoint of every task and reports the storage ratio against the stored checkpoints', async () => {
    const toy = toyTaskSet({ tasks: 2, checkpoints: 4, dModel: 16, condDim: 8 });
    const sets: TaskCheckpointSet[] = [0, 1].map((t) => ({
      task: `t${t}`,
      condition: toy.samples[t * 4].condition,
      checkpoints: toy.samples.slice(t * 4, t * 4 + 4).map((s) => s.adapter),
    }));
    const r = await trainTaskGenerator(sets, modelConfig, { epochs: 8, seed: 3, extra: { version: '7' } });
    try {
      expect(r.metrics.samples).toBe(8);
      expect(r.metrics.tasks).toEqual(['t0', 't1']);
      expect(r.metrics.epochs).toBe(8);
      expect(r.metrics.finalLoss).toBeLessThan(r.metrics.firstLoss);
      // Each stored checkpoint is 4 bytes per value plus a safetensors header (8-byte length + JSON).
      const values = toy.samples.reduce((n, s) => n + [...s.adapter.modules.values()].reduce((k, m) => k + m.a.size + m.b.size, 0), 0);
      expect(r.metrics.checkpointBytes).toBeGreaterThan(4 * values);
      expect(r.metrics.checkpointBytes).toBeLessThan(4 * values + 8 * 2048);
      expect(r.metrics.generatorBytes).toBe(r.bytes.byteLength);
      expect(r.metrics.storageRatio).toBeCloseTo(r.bytes.byteLength / r.metrics.checkpointBytes, 12);
      const back = deserialiseGenerator(r.bytes);
      expect(back.extra).toEqual({ version: '7' });
      back.generator.dispose();
    } finally {
      r.generator.dispose();
      toy.samples.forEach((s) => AdapterFactory.dispose(s.adapter));
    }
  });

  it('needs checkpoint sets of at least two tasks', async () => {
    const adapter = AdapterFactory.create();
    await expect(trainTaskGenerator([{ task: 'one', condition: new Float32Array(4), checkpoints: [adapter] }], modelConfig)).rejects.toThrow(/at least 2 tasks/);
    AdapterFactory.dispose(adapter);
  });
});
