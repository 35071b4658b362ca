import { describe, expect, it } from 'vitest';
import {
  BatcherClosedError,
  type BatchItem,
  MicroBatcher,
  QueueFullError,
  RequestCancelledError,
  RequestTimeoutError,
} from './micro-batcher.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fake executor that doubles numbers and records each batch; `hold` keeps batches waiting. */
function recorder(opts: { hold?: boolean; delayMs?: number } = {}) {
  const batches: Array<ReadonlyArray<BatchItem<number>>> = [];
  const releases: Array<() => void> = [];
  const execute = async (items: ReadonlyArray<BatchItem<number>>) => {
    batches.push(items);
    if (opts.hold) await new Promise<void>((r) => releases.push(r));
    if (opts.delayMs) await sleep(opts.delayMs);
    return items.map((it) => it.request * 2);
  };
  return { batches, releases, execute, sizes: () => batches.map((b) => b.map((i) => i.request)) };
}

describe('MicroBatcher', () => {
  it('batches concurrent requests within the window and delivers each its own result', async () => {
    const r = recorder();
    const sut = new MicroBatcher<number, number>({ execute: r.execute, windowMs: 20, maxBatchSize: 8 });
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => sut.submit(n)));
    expect(results).toEqual([2, 4, 6, 8, 10]);
    expect(r.sizes()).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('waits the window for a lone request, but dispatches a full batch at once', async () => {
    const lone = new MicroBatcher<number, number>({ execute: recorder().execute, windowMs: 40 });
    let t0 = performance.now();
    await lone.submit(7);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(38);

    const r = recorder();
    const sut = new MicroBatcher<number, number>({ execute: r.execute, windowMs: 300, maxBatchSize: 4 });
    t0 = performance.now();
    const all = Promise.all(Array.from({ length: 10 }, (_, i) => sut.submit(i)));
    await sleep(5);
    expect(r.sizes()).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]); // full batches went without waiting
    expect(performance.now() - t0).toBeLessThan(250);
    await all;
    expect(r.sizes()).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(sut.stats()).toMatchObject({ batches: 3, dispatched: 10, queued: 0, inFlightBatches: 0 });
  });

  it('refuses requests beyond the queue bound with a retry-after hint', async () => {
    const r = recorder({ hold: true });
    const sut = new MicroBatcher<number, number>({ execute: r.execute, windowMs: 1, maxBatchSize: 2, maxQueue: 2 });
    const first = [sut.submit(1), sut.submit(2)]; // a full batch: dispatched, then held
    await sleep(5);
    const queued = [sut.submit(3), sut.submit(4)];
    const err = await sut.submit(5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueFullError);
    const qf = err as QueueFullError;
    expect(qf.code).toBe('QUEUE_FULL');
    expect(qf.retryAfterMs).toBeGreaterThan(0);
    expect(qf.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    r.releases.shift()!();
    expect(await Promise.all(first)).toEqual([2, 4]);
    await sleep(5);
    r.releases.shift()!();
    expect(await Promise.all(queued)).toEqual([6, 8]);
    expect(sut.stats().rejectedQueueFull).toBe(1);
  });

  it('drops a request cancelled while queued; the executor never sees it', async () => {
    const r = recorder();
    const sut = new MicroBatcher<number, number>({ execute: r.execute, windowMs: 20 });
    const ac = new AbortController();
    const a = sut.submit(1);
    const b = sut.submit(2, { signal: ac.signal });
    const c = sut.submit(3);
    ac.abort();
    await expect(b).rejects.toBeInstanceOf(RequestCancelledError);
    expect(await Promise.all([a, c])).toEqual([2, 6]);
    expect(r.sizes()).toEqual([[1, 3]]);
    const pre = new AbortController();
    pre.abort();
    await expect(sut.submit(9, { signal: pre.signal })).rejects.toBeInstanceOf(RequestCancelledError);
    expect(sut.stats().cancelled).toBe(2);
  });

  it('lets a request cancelled mid-batch leave at once while the others finish', async () => {
    const r = recorder({ hold: true });
    const sut = new MicroBatcher<number, number>({ execute: r.execute, windowMs: 5 });
    const ac = new AbortController();
    const a = sut.submit(1);
    const b = sut.submit(2, { signal: ac.signal });
    await sleep(15);
    expect(r.batches).toHaveLength(1);
    ac.abort();
    await expect(b).rejects.toBeInstanceOf(RequestCancelledError);
    expect(r.batches[0]!.map((i) => i.signal.aborted)).toEqual([false, true]); // executor can skip it
    r.releases[0]!();
    expect(await a).toBe(2);
  });

  it('times out a slow request (queue wait included) without failing its batch-mates', async () => {
    const r = recorder({ delayMs: 200 });
    const sut = new MicroBatcher<number, number>({ execute: r.execute, windowMs: 1, timeoutMs: 5000 });
    const t0 = performance.now();
    const slow = sut.submit(1, { timeoutMs: 20 }).catch((e: unknown) => [e, performance.now() - t0] as const);
    const fine = sut.submit(2);
    const [err, ms] = (await slow) as readonly [unknown, number];
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect(ms).toBeLessThan(150);
    expect(await fine).toBe(4);
    expect(r.batches[0]!.map((i) => i.signal.aborted)).toEqual([true, false]);
    expect(sut.stats().timeouts).toBe(1);
  });

  it('fails only the slot the executor marks as an error; a throwing or short executor fails the batch', async () => {
    const perItem = new MicroBatcher<number, number>({
      windowMs: 5,
      execute: async (items) => items.map((i) => (i.request < 0 ? new Error(`bad ${i.request}`) : i.request)),
    });
    const res = await Promise.allSettled([perItem.submit(1), perItem.submit(-1), perItem.submit(3)]);
    expect(res.map((x) => (x.status === 'fulfilled' ? x.value : (x.reason as Error).message))).toEqual([1, 'bad -1', 3]);

    const throwing = new MicroBatcher<number, number>({ windowMs: 5, execute: async () => { throw new Error('oom'); } });
    await expect(Promise.all([throwing.submit(1), throwing.submit(2)])).rejects.toThrow('oom');
    const short = new MicroBatcher<number, number>({ windowMs: 5, execute: async () => [1] });
    const s = await Promise.allSettled([short.submit(1), short.submit(2)]);
    expect(s.map((x) => x.status)).toEqual(['rejected', 'rejected']);
  });

  it('runs up to maxConcurrentBatches batches at once', async () => {
    const r = recorder({ hold: true });
    const sut = new MicroBatcher<number, number>({ execute: r.execute, windowMs: 1, maxBatchSize: 1, maxConcurrentBatches: 2 });
    const all = [1, 2, 3].map((n) => sut.submit(n));
    await sleep(10);
    expect(r.batches).toHaveLength(2);
    expect(sut.stats()).toMatchObject({ inFlightBatches: 2, queued: 1 });
    r.releases.shift()!();
    await sleep(10);
    expect(r.batches).toHaveLength(3);
    r.releases.splice(0).forEach((f) => f());
    expect(await Promise.all(all)).toEqual([2, 4, 6]);
  });

  it('drains on close and refuses later submissions', async () => {
    const r = recorder({ delayMs: 10 });
    const sut = new MicroBatcher<number, number>({ execute: r.execute, windowMs: 1000 });
    const p = sut.submit(4);
    const t0 = performance.now();
    await sut.close();
    expect(performance.now() - t0).toBeLessThan(500); // did not wait for the window
    expect(await p).toBe(8);
    await expect(sut.submit(1)).rejects.toBeInstanceOf(BatcherClosedError);
  });
});
