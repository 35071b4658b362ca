import { describe, expect, it } from 'vitest';
import type { AbandonedRun, JobHandler } from './job-handler.js';
import type { AbandonedJobRow, JobHeartbeatRepository } from './job-heartbeat.repository.js';
import type { JobMetrics } from './job-metrics.js';
import type { JobProgressRepository, JobProgressWrite } from './job-progress.repository.js';
import { JobAbortedError, JobRecovery, wasReaped, type ActiveJob, type RecoverableQueue } from './job-recovery.service.js';
import type { JobRegistry } from './job-registry.js';
import { DEFAULT_JOBS_OPTIONS } from './jobs-options.js';

/** A JobRecovery over in-memory fakes; `calls` records the order of side effects. */
function setup(opts: { abandoned?: AbandonedJobRow[]; taken?: Set<string>; active?: Record<string, ActiveJob>; rowless?: { id: string; name: string }[]; alive?: string[] } = {}) {
  const calls: string[] = [];
  const progress: JobProgressWrite[] = [];
  const heartbeats = {
    claim: async (id: string) => void calls.push(`claim ${id}`),
    release: async (id: string) => void calls.push(`release ${id}`),
    beat: async (_instance: string, ids: readonly string[]) => ids.filter((id) => (opts.alive ?? ids).includes(id)),
    findAbandoned: async () => opts.abandoned ?? [],
    take: async (id: string) => (opts.taken ?? new Set([id])).has(id),
    withRows: async () => new Set<string>(),
  } as unknown as JobHeartbeatRepository;
  const handler: JobHandler = {
    name: 'a.run',
    handle: async () => undefined,
    onAbandoned: async (payload: unknown, run: AbandonedRun) => void calls.push(`onAbandoned ${run.jobId} final=${run.final} ${JSON.stringify(payload)}`),
  };
  const registry = { has: (n: string) => n === 'a.run', get: () => ({ name: 'a.run', options: {}, handler }) } as unknown as JobRegistry;
  const queue: RecoverableQueue = {
    activeJob: async (_name, id) => opts.active?.[id] ?? null,
    failAbandoned: async (_name, id) => void calls.push(`fail ${id}`),
    activeStartedBefore: async () => opts.rowless ?? [],
  };
  const metrics = { onRecovered: (q: string, final: boolean) => calls.push(`metric ${q} ${final}`) } as unknown as JobMetrics;
  const progressRepo = { write: async (w: JobProgressWrite) => void progress.push(w) } as unknown as JobProgressRepository;
  const sut = new JobRecovery({ ...DEFAULT_JOBS_OPTIONS, workerName: 'me' }, heartbeats, registry, progressRepo, metrics);
  return { sut, calls, progress, queue };
}

const row = (jobId: string, workerName = 'other'): AbandonedJobRow => ({ jobId, name: 'a.run', workerName, instance: 'dead', silentSeconds: 42 });
const active = (attempt: number, maxAttempts: number): ActiveJob => ({ payload: { n: attempt }, subject: 's', attempt, maxAttempts });

describe('JobRecovery', () => {
  it('tells the handler before failing the job, with finality from the attempt', async () => {
    const { sut, calls, progress, queue } = setup({ abandoned: [row('j1'), row('j2', 'me')], active: { j1: active(1, 3), j2: active(3, 3) } });
    sut.start(queue);
    await sut.stop();
    expect(calls).toEqual(['onAbandoned j1 final=false {"n":1}', 'fail j1', 'metric a.run false', 'onAbandoned j2 final=true {"n":3}', 'fail j2', 'metric a.run true']);
    expect(progress.map((p) => [p.jobId, p.state])).toEqual([
      ['j1', 'retry'],
      ['j2', 'failed'],
    ]);
    expect(progress[0].message).toMatch(/worker lost: its worker other has been silent for 42\.0 s/);
    expect(progress[1].message).toMatch(/a previous process of worker me/);
  });

  it('leaves a row another sweeper took, and a job that is no longer active', async () => {
    const { sut, calls, queue } = setup({ abandoned: [row('j1'), row('j2')], taken: new Set(['j2']), active: {} });
    sut.start(queue);
    await sut.stop();
    expect(calls).toEqual([]);
  });

  it('recovers an active job nobody beats', async () => {
    const { sut, calls, queue } = setup({ rowless: [{ id: 'j3', name: 'a.run' }], active: { j3: active(1, 2) } });
    sut.start(queue);
    await sut.stop();
    expect(calls).toEqual(['onAbandoned j3 final=false {"n":1}', 'fail j3', 'metric a.run false']);
  });

  it('aborts a run whose row is gone at the next beat, with reason reaped; a released run is left alone', async () => {
    const { sut, queue } = setup({ alive: ['kept'] });
    const lost = new AbortController();
    const kept = new AbortController();
    await sut.claim('lost', 'a.run', lost);
    await sut.claim('kept', 'a.run', kept);
    await sut.runOnce();
    expect(wasReaped(lost.signal)).toBe(true);
    expect(lost.signal.reason).toBeInstanceOf(JobAbortedError);
    expect(kept.signal.aborted).toBe(false);
    // The next beat sends only what is still owned: the lost run is forgotten.
    await sut.release('kept');
    sut.start(queue);
    await sut.stop();
    expect(wasReaped(kept.signal)).toBe(false);
  });
});
