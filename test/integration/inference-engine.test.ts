import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { threadNiceness } from '../../src/engine/worker/thread-priority.js';
import { WorkerEngineClient } from '../../src/serving/engine-client.js';
import { BatchCancelledError, type EngineAdapterPayload, type EngineBatch } from '../../src/serving/inference-engine.js';
import { createModelFixture, randomPeftFiles, type ModelFixture } from '../../src/serving/testing/model-fixture.js';

const options = { maxTokens: 8, temperature: 0, topP: 1, stop: [] as string[] };

function cancelFlags(n: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * n));
}

describe('inference engine in a worker thread', () => {
  let fixture: ModelFixture;
  let sut: WorkerEngineClient;
  let adapters: EngineAdapterPayload[];

  beforeAll(async () => {
    fixture = await createModelFixture();
    sut = await WorkerEngineClient.start(fixture.dir, 'wasm');
    adapters = [1, 2].map((seed) => {
      const files = randomPeftFiles(fixture.config, seed);
      return { key: `a${seed}@1`, rank: 4, alpha: 8, targetModules: files.adapterConfig.target_modules as string[], weights: files.weights };
    });
  });

  afterAll(async () => {
    await sut?.close();
    await fixture?.dispose();
  });

  it('answers every row of a batch with mixed plans as if it ran alone', async () => {
    const prompt = [5, 17, 42, 8, 99];
    const rows: EngineBatch['rows'] = [
      { prompt, plan: [] },
      { prompt, plan: [{ key: 'a1@1', strength: 1 }] },
      { prompt: [7, 3, 250], plan: [{ key: 'a1@1', strength: 0.5 }, { key: 'a2@1', strength: 1.5 }] },
      { prompt, plan: [{ key: 'a2@1', strength: 2 }] },
    ];
    const batched = await sut.generate({ rows, options }, adapters, cancelFlags(rows.length), () => undefined);
    const alone = [];
    for (const row of rows) alone.push((await sut.generate({ rows: [row], options }, [], cancelFlags(1), () => undefined))[0]);
    expect(batched).toEqual(alone);
    // The plans matter: the same prompt answers differently with and without adapters.
    expect(new Set([batched[0].text, batched[1].text, batched[3].text]).size).toBeGreaterThan(1);
    expect(batched.every((r) => r.completionTokens >= 1 && r.promptTokens > 0)).toBe(true);
  });

  it('streams deltas that add up to the text, and stops a batch whose rows are all cancelled', async () => {
    const deltas: string[] = [];
    const [r] = await sut.generate({ rows: [{ prompt: [11, 12, 13], plan: [] }], options }, [], cancelFlags(1), (e) => deltas.push(e.delta));
    expect(deltas.join('')).toBe(r.text);

    const flags = cancelFlags(1);
    flags[0] = 1;
    await expect(sut.generate({ rows: [{ prompt: [11, 12, 13], plan: [] }], options: { ...options, maxTokens: 50 } }, [], flags, () => undefined)).rejects.toBeInstanceOf(
      BatchCancelledError,
    );
  });

  it('frees evicted adapters and keeps tensor counts flat across batches', async () => {
    const run = () => sut.generate({ rows: [{ prompt: [1, 2, 3], plan: [{ key: 'a1@1', strength: 1 }] }], options }, [], cancelFlags(1), () => undefined);
    await run(); // the plan's application is built and kept for the next batches (merged if LETHE_MERGE_HOT_PLANS)
    const before = await sut.memory();
    for (let i = 0; i < 3; i++) await run();
    const after = await sut.memory();
    expect(after.tensors).toBe(before.tensors);
    sut.evict(['a1@1', 'a2@1']);
    const evicted = await sut.memory();
    expect(evicted.adapters).toBe(0);
    expect(evicted.tensors).toBeLessThan(after.tensors);
  });

  it.runIf(process.platform === 'linux')('runs its thread at the niceness it was started with (LETHE_TENSOR_THREAD_NICE), the caller unchanged', async () => {
    const own = threadNiceness();
    expect(sut.nice).toBe(own); // started without one
    const niced = await WorkerEngineClient.start(fixture.dir, 'wasm', undefined, Math.min(19, own + 10));
    try {
      expect(niced.nice).toBe(Math.min(19, own + 10));
      const out = await niced.generate({ rows: [{ prompt: [5, 17, 42], plan: [] }], options }, [], cancelFlags(1), () => undefined);
      expect(out[0].completionTokens).toBeGreaterThan(0);
    } finally {
      await niced.close();
    }
    expect(threadNiceness()).toBe(own);
  });
});
