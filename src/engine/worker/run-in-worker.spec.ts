import { describe, expect, it } from 'vitest';
import { runInWorker, WorkerAbortedError, WorkerExitError, WorkerTaskError, resolveWorkerEntry } from './run-in-worker.js';
import { threadNiceness } from './thread-priority.js';
import type { ProbeInput } from './testing/probe.worker.js';

// Referenced as .js, as built code does; under vitest only the .ts source exists.
const PROBE = new URL('./testing/probe.worker.js', import.meta.url);

describe('runInWorker', () => {
  it('resolves a .js entry to its .ts source with the tsx loader when only the source exists', () => {
    const r = resolveWorkerEntry(PROBE);
    expect(r.file.pathname.endsWith('/probe.worker.ts')).toBe(true);
    expect(r.typescript).toBe(true);
    expect(r.url.protocol).toBe('data:');
    expect(() => resolveWorkerEntry(new URL('./nope.worker.js', import.meta.url))).toThrow(/does not exist/);
  });

  it('returns the result, transferred buffers included, and forwards progress in order', async () => {
    const steps: number[] = [];
    const out = await runInWorker<ProbeInput, { sum: number; bytes: Float32Array }, { step: number }>(
      PROBE,
      { mode: 'echo', value: [1.5, 2, 3], steps: 4 },
      { onProgress: (p) => steps.push(p.step) },
    );
    expect(out.sum).toBe(6.5);
    expect(Array.from(out.bytes)).toEqual([1.5, 2, 3]);
    expect(steps).toEqual([1, 2, 3, 4]);
  });

  it.runIf(process.platform === 'linux')('runs the task at the niceness asked for, and leaves the calling thread as it was', async () => {
    const own = threadNiceness();
    expect(await runInWorker(PROBE, { mode: 'nice' } satisfies ProbeInput, { nice: Math.min(19, own + 7) })).toBe(Math.min(19, own + 7));
    // Without the option the thread keeps the process's priority (a thread starts at its creator's).
    expect(await runInWorker(PROBE, { mode: 'nice' } satisfies ProbeInput)).toBe(own);
    expect(threadNiceness()).toBe(own);
  });

  it('rejects with the task error, name and stack kept', async () => {
    const err = await runInWorker(PROBE, { mode: 'throw', message: 'bad input' } satisfies ProbeInput).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerTaskError);
    expect((err as WorkerTaskError).message).toBe('bad input');
    expect((err as WorkerTaskError).workerName).toBe('RangeError');
    expect((err as WorkerTaskError).workerStack).toMatch(/probe\.worker/);
  });

  it('terminates a task deaf to its signal after the grace period', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const p = runInWorker(PROBE, { mode: 'wait' } satisfies ProbeInput, {
      signal: controller.signal,
      abortGraceMs: 100,
      onStart: () => setTimeout(() => controller.abort(new Error('stop')), 300),
    });
    await expect(p).rejects.toBeInstanceOf(WorkerAbortedError);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('reports a killed thread as WorkerExitError', async () => {
    const p = runInWorker(PROBE, { mode: 'wait' } satisfies ProbeInput, { onStart: (w) => setTimeout(() => void w.terminate(), 300) });
    await expect(p).rejects.toBeInstanceOf(WorkerExitError);
  });

  it('registers tfjs gradients inside the thread (fresh module graph)', async () => {
    const x = 0.7;
    const g = await runInWorker<ProbeInput, number>(PROBE, { mode: 'gradient', x });
    expect(g).toBeCloseTo(3 * x * x + Math.cos(x), 5);
  });
});
