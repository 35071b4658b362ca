import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { parseModelConfig } from '../engine/model-config.js';
import { exportPeftAdapter, importPeftAdapter } from '../engine/peft.js';
import { disposeAdapter } from '../engine/lora-trainable.js';
import { randomAdapter } from '../engine/testing/random-adapter.js';
import { WorkerExitError } from '../engine/worker/run-in-worker.js';
import { deserializeDetector } from '../ood/index.js';
import { loadModel } from './load-model.js';
import { runUnlearningInWorker, type UnlearningWorkerInput } from './unlearning-runner.js';
import type { UnlearningProgress } from './unlearning-types.js';
import { TINY_FORGET, TINY_REFERENCES, writeTinyCheckpoint } from './testing/tiny-checkpoint.js';

await initBackend();

describe('runUnlearningInWorker', () => {
  let dir: string;
  let input: UnlearningWorkerInput;
  beforeAll(async () => {
    dir = await writeTinyCheckpoint();
    const loaded = await loadModel(dir);
    const earlier = randomAdapter(loaded.model.config, { rank: 4 }, 5);
    const peft = exportPeftAdapter(earlier, loaded.model.config);
    disposeAdapter(earlier);
    loaded.dispose();
    input = {
      checkpointDir: dir,
      items: TINY_FORGET,
      relabel: 'replacement',
      replacement: 'no idea',
      frozenAdapters: [{ id: 'earlier', config: peft.adapterConfig, weights: peft.weights }],
      referencePrompts: TINY_REFERENCES,
      options: { rank: 4, alpha: 8, epochs: 6, batchSize: 5, checkItems: 2 },
    };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('trains in a worker thread, streams every phase, returns importable bytes; the event loop stays free', async () => {
    const events: UnlearningProgress[] = [];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const result = await runUnlearningInWorker(input, { onProgress: (p) => events.push(p) });
    clearInterval(timer);
    expect([...new Set(events.map((e) => e.phase))]).toEqual(['relabel', 'training', 'calibrating', 'evaluating']);
    // One event per step, numbered on across escalation rounds; near-negatives (the kept reference prompts) add steps.
    expect(result.metrics.steps).toBeGreaterThanOrEqual(6);
    expect(events.filter((e) => e.phase === 'training').map((e) => e.step)).toEqual(Array.from({ length: result.metrics.steps }, (_, i) => i + 1));
    expect(ticks).toBeGreaterThan(5);
    expect(result.metrics.orthLast).toBeGreaterThan(0);
    const cfg = parseModelConfig(JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')));
    const adapter = importPeftAdapter(result.adapterConfig, result.adapterWeights, cfg);
    expect(adapter.modules.size).toBeGreaterThan(0);
    disposeAdapter(adapter);
    expect(deserializeDetector(result.detector).split.used.length).toBe(4);
  });

  it('a thread killed during training rejects with WorkerExitError', async () => {
    let killed = false;
    const p = runUnlearningInWorker(
      { ...input, options: { ...input.options, epochs: 500 } },
      {
        onStart: (w) => {
          w.on('message', (m: { kind: string; progress?: UnlearningProgress }) => {
            if (!killed && m.kind === 'progress' && m.progress?.phase === 'training' && m.progress.step === 2) {
              killed = true;
              void w.terminate();
            }
          });
        },
      },
    );
    await expect(p).rejects.toBeInstanceOf(WorkerExitError);
    expect(killed).toBe(true);
  });
});
