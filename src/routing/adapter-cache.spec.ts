import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { AdapterCache, type LoadedAdapter } from './adapter-cache.js';

interface Fake {
  key: string;
  disposed: boolean;
}

/** A loader whose loads complete when the test says so, recording every call. */
function controlledLoader(sizes: Record<string, number> = {}, auto = true) {
  const calls: string[] = [];
  const gates = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  const load = (id: string, version: number): Promise<LoadedAdapter<Fake>> => {
    const key = `${id}@${version}`;
    calls.push(key);
    const value = { value: { key, disposed: false }, bytes: sizes[id] ?? 40 };
    if (auto) return Promise.resolve(value);
    return new Promise((resolve, reject) => gates.set(key, { resolve: () => resolve(value), reject }));
  };
  return { calls, gates, load };
}

const disposeFake = (v: Fake) => {
  if (v.disposed) throw new Error(`double dispose of ${v.key}`);
  v.disposed = true;
};

describe('AdapterCache', () => {
  it('evicts the least recently used unpinned entries to stay within the byte budget', async () => {
    const { calls, load } = controlledLoader();
    const sut = new AdapterCache<Fake>({ maxBytes: 100, load, dispose: disposeFake });
    const a = await sut.acquire('a', 1);
    (await sut.acquire('b', 1)).release();
    a.release();
    (await sut.acquire('a', 1)).release(); // hit: a becomes most recent
    const c = await sut.acquire('c', 1); // 120 > 100: b (least recent) goes
    c.release();
    expect([sut.has('a', 1), sut.has('b', 1), sut.has('c', 1)]).toEqual([true, false, true]);
    expect(calls).toEqual(['a@1', 'b@1', 'c@1']);
    expect(sut.stats()).toMatchObject({ hits: 1, misses: 3, loads: 3, evictions: 1, entries: 2, bytes: 80, pinned: 0 });
    expect(c.value.disposed).toBe(false);
  });

  it('loads a key once for concurrent misses and disposes only after the last lease', async () => {
    const { calls, gates, load } = controlledLoader({}, false);
    const sut = new AdapterCache<Fake>({ maxBytes: 100, load, dispose: disposeFake });
    const waiting = Array.from({ length: 5 }, () => sut.acquire('a', 2));
    await Promise.resolve();
    expect(calls).toEqual(['a@2']);
    gates.get('a@2')!.resolve();
    const leases = await Promise.all(waiting);
    expect(new Set(leases.map((l) => l.value)).size).toBe(1);
    expect(sut.stats()).toMatchObject({ misses: 5, loads: 1, pinned: 1 });
    expect(sut.invalidate('a')).toBe(1);
    leases.slice(0, 4).forEach((l) => l.release());
    leases[0]!.release(); // idempotent: must not count twice
    expect(leases[0]!.value.disposed).toBe(false);
    leases[4]!.release();
    expect(leases[0]!.value.disposed).toBe(true);
    expect(sut.stats()).toMatchObject({ entries: 0, bytes: 0, pinned: 0, detached: 0 });
  });

  it('never disposes a pinned adapter to make room; runs over budget until it is released', async () => {
    const { load } = controlledLoader({ big: 90, x: 30 });
    const sut = new AdapterCache<Fake>({ maxBytes: 100, load, dispose: disposeFake });
    const big = await sut.acquire('big', 1);
    const x = await sut.acquire('x', 1);
    expect(sut.stats()).toMatchObject({ bytes: 120, entries: 2, evictions: 0 });
    x.release(); // unpinned while over budget: x (unpinned) goes; big (pinned) stays
    expect(x.value.disposed).toBe(true);
    expect(big.value.disposed).toBe(false);
    expect(sut.stats()).toMatchObject({ bytes: 90, entries: 1, evictions: 1 });
    big.release();
    expect(sut.has('big', 1)).toBe(true);
  });

  it('invalidates every version of an id, including a load still in flight', async () => {
    const { calls, gates, load } = controlledLoader({}, false);
    const sut = new AdapterCache<Fake>({ maxBytes: 1000, load, dispose: disposeFake });
    const p1 = sut.acquire('a', 1);
    gates.get('a@1')!.resolve();
    (await p1).release();
    const inFlight = sut.acquire('a', 2);
    const other = sut.acquire('ab', 2); // shares a prefix, must survive
    expect(sut.invalidate('a')).toBe(1);
    gates.get('a@2')!.resolve();
    gates.get('ab@2')!.resolve();
    const stale = await inFlight; // the caller that asked before the invalidation still gets it...
    expect(sut.has('a', 2)).toBe(false); // ...but it is not cached
    stale.release();
    expect(stale.value.disposed).toBe(true);
    (await other).release();
    expect(sut.has('ab', 2)).toBe(true);
    const again = sut.acquire('a', 2); // a fresh load
    gates.get('a@2')!.resolve();
    (await again).release();
    expect(calls).toEqual(['a@1', 'a@2', 'ab@2', 'a@2']);
    expect(sut.stats()).toMatchObject({ invalidations: 1, entries: 2 });
  });

  it('rejects every waiter of a failed load and retries on the next acquire', async () => {
    const { calls, gates, load } = controlledLoader({}, false);
    const sut = new AdapterCache<Fake>({ maxBytes: 100, load });
    const waiting = [sut.acquire('a', 1), sut.acquire('a', 1)];
    await Promise.resolve();
    gates.get('a@1')!.reject(new Error('sha256 mismatch'));
    for (const w of waiting) await expect(w).rejects.toThrow('sha256 mismatch');
    const retry = sut.acquire('a', 1);
    gates.get('a@1')!.resolve();
    expect((await retry).value.key).toBe('a@1');
    expect(calls).toEqual(['a@1', 'a@1']);
    expect(sut.stats()).toMatchObject({ loadFailures: 1, loads: 2 });
  });

  it('serves a value larger than the whole budget without caching it', async () => {
    const { load } = controlledLoader({ huge: 500 });
    const sut = new AdapterCache<Fake>({ maxBytes: 100, load, dispose: disposeFake });
    const lease = await sut.acquire('huge', 1);
    expect(sut.stats()).toMatchObject({ entries: 0, bytes: 0, detached: 1, pinned: 1 });
    lease.release();
    expect(lease.value.disposed).toBe(true);
  });

  it('acquireMany releases what it got when one load fails', async () => {
    const load = async (id: string): Promise<LoadedAdapter<Fake>> => {
      if (id === 'bad') throw new Error('no such adapter');
      return { value: { key: id, disposed: false }, bytes: 10 };
    };
    const sut = new AdapterCache<Fake>({ maxBytes: 100, load });
    await expect(sut.acquireMany([{ id: 'a', version: 1 }, { id: 'bad', version: 1 }])).rejects.toThrow('no such adapter');
    expect(sut.stats()).toMatchObject({ pinned: 0, entries: 1 });
    const leases = await sut.acquireMany([{ id: 'a', version: 1 }, { id: 'b', version: 1 }]);
    expect(leases.map((l) => l.value.key)).toEqual(['a', 'b']);
    expect(sut.stats().pinned).toBe(2);
  });

  it('counts a failing disposer instead of breaking', async () => {
    const { load } = controlledLoader();
    const sut = new AdapterCache<Fake>({ maxBytes: 100, load, dispose: () => { throw new Error('boom'); } });
    (await sut.acquire('a', 1)).release();
    sut.clear();
    expect(sut.stats()).toMatchObject({ disposeErrors: 1, entries: 0 });
  });

  it('frees real tensors: the tensor count returns to its start after eviction and clear', async () => {
    await tf.setBackend('cpu');
    const start = tf.memory().numTensors;
    const load = async (id: string) => {
      const { a, b } = tf.tidy(() => ({ a: tf.randomNormal([8, 64]), b: tf.zeros([64, 8]) }));
      return { value: { id, a, b }, bytes: a.size * 4 + b.size * 4 };
    };
    const sut = new AdapterCache({ maxBytes: 4096 * 2, load, dispose: (v) => tf.dispose([v.a, v.b]) });
    for (let i = 0; i < 10; i++) {
      const l = await sut.acquire(`adapter-${i % 4}`, 1);
      tf.matMul(l.value.a, l.value.b).dispose(); // the pinned tensors are usable
      l.release();
    }
    expect(sut.stats().entries).toBe(2);
    expect(tf.memory().numTensors).toBe(start + 4);
    sut.clear();
    expect(tf.memory().numTensors).toBe(start);
  });
});
