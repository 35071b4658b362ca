import { describe, expect, it } from 'vitest';
import { estimateEtaSeconds, JobProgressTracker } from './job-progress-tracker.js';
import type { JobProgressWrite } from './job-progress.repository.js';

function trackerWithClock(minIntervalMs = 250) {
  let now = 1_000_000;
  const writes: JobProgressWrite[] = [];
  const sut = new JobProgressTracker(
    { jobId: 'j1', name: 'a.run', subject: 's1', attempt: 2 },
    async (w) => {
      writes.push(w);
    },
    minIntervalMs,
    () => now,
  );
  return { sut, writes, advance: (ms: number) => (now += ms) };
}

describe('estimateEtaSeconds', () => {
  it('extrapolates the rate so far', () => {
    expect(estimateEtaSeconds(10_000, 4, 10)).toBeCloseTo(15, 12); // 2.5 s per step, 6 steps left
    expect(estimateEtaSeconds(3_000, 10, 10)).toBe(0);
  });
  it('has no estimate before the first step or without a total', () => {
    expect(estimateEtaSeconds(1_000, 0, 10)).toBeUndefined();
    expect(estimateEtaSeconds(1_000, 3, undefined)).toBeUndefined();
    expect(estimateEtaSeconds(1_000, 11, 10)).toBeUndefined();
  });
});

describe('JobProgressTracker', () => {
  it('writes active on start, then throttles plain updates but not phase changes', async () => {
    const { sut, writes, advance } = trackerWithClock(250);
    await sut.start();
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({ jobId: 'j1', name: 'a.run', subject: 's1', attempt: 2, state: 'active' });

    advance(10);
    await sut.update({ phase: 'train', step: 0, total: 100 }); // phase change: written
    advance(10);
    await sut.update({ step: 1, loss: 2.5 }); // 10 ms later: coalesced
    expect(writes).toHaveLength(2);
    advance(300);
    await sut.update({ step: 2, loss: 2.25 }); // interval passed: written, with the coalesced values
    expect(writes).toHaveLength(3);
    expect(writes[2]).toMatchObject({ state: 'active', phase: 'train', step: 2, total: 100, loss: 2.25 });
    // 320 ms for 2 steps -> 0.16 s/step * 98 steps left
    expect(writes[2].etaSeconds).toBeCloseTo(0.16 * 98, 9);
  });

  it('prefers the handler\'s own eta', async () => {
    const { sut, writes, advance } = trackerWithClock(0);
    await sut.start();
    advance(1000);
    await sut.update({ step: 1, total: 10, etaSeconds: 42 });
    expect(writes.at(-1)?.etaSeconds).toBe(42);
  });

  it('finish writes the latest coalesced values with the final state and no eta', async () => {
    const { sut, writes, advance } = trackerWithClock(10_000);
    await sut.start();
    advance(5);
    await sut.update({ step: 7, total: 9, loss: 0.5 });
    expect(writes).toHaveLength(1);
    await sut.finish('failed', 'boom');
    expect(writes.at(-1)).toMatchObject({ state: 'failed', step: 7, total: 9, loss: 0.5, message: 'boom', etaSeconds: undefined });
  });

  it('rejects non-finite numbers', async () => {
    const { sut } = trackerWithClock();
    await expect(sut.update({ loss: Number.NaN })).rejects.toThrow(/progress.loss/);
    await expect(sut.update({ step: Number.POSITIVE_INFINITY })).rejects.toThrow(/progress.step/);
  });
});
