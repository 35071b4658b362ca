/** What a loader returns: the loaded value and its size in bytes (for the byte budget). */
export interface LoadedAdapter<V> {
  value: V;
  bytes: number;
}

/** Loads one adapter version (from Postgres in the service, with its sha256 checked there). */
export type AdapterLoader<V> = (id: string, version: number) => Promise<LoadedAdapter<V>>;

export interface AdapterCacheOptions<V> {
  /** Byte budget of the cached (unpinned and pinned) values. */
  maxBytes: number;
  load: AdapterLoader<V>;
  /** Frees a value (dispose its tensors). Called once, when no lease holds it any more. */
  dispose?: (value: V, id: string, version: number) => void;
}

/** A pinned adapter: not disposed until `release()` (idempotent). */
export interface AdapterLease<V> {
  readonly id: string;
  readonly version: number;
  readonly value: V;
  release(): void;
}

export interface AdapterCacheStats {
  /** Acquisitions served from the cache. */
  hits: number;
  /** Acquisitions not served from the cache (concurrent misses of one key share one load). */
  misses: number;
  /** Loader calls. */
  loads: number;
  loadFailures: number;
  /** Entries dropped to fit the byte budget. */
  evictions: number;
  /** Entries dropped by `invalidate`. */
  invalidations: number;
  disposeErrors: number;
  entries: number;
  bytes: number;
  /** Entries with at least one lease, cached or not. */
  pinned: number;
  /** Values held only by leases (invalidated, too big, or loaded after an invalidation). */
  detached: number;
}

interface Entry<V> {
  id: string;
  version: number;
  value: V;
  bytes: number;
  refs: number;
  cached: boolean;
  disposed: boolean;
}

interface Pending<V> {
  promise: Promise<Entry<V>>;
  waiters: number;
}

/**
 * LRU cache of loaded adapters bounded in bytes. Values in use are pinned by leases, so a running
 * batch never sees its tensors disposed: eviction skips pinned entries (the cache may then run
 * over budget until they are released), and invalidated entries are disposed on last release.
 */
export class AdapterCache<V> {
  private readonly lru = new Map<string, Entry<V>>(); // insertion order = least recently used first
  private readonly pending = new Map<string, Pending<V>>();
  private readonly generation = new Map<string, number>();
  private readonly detached = new Set<Entry<V>>();
  private bytes = 0;
  private readonly counters = { hits: 0, misses: 0, loads: 0, loadFailures: 0, evictions: 0, invalidations: 0, disposeErrors: 0 };

  constructor(private readonly options: AdapterCacheOptions<V>) {
    if (!(options.maxBytes >= 0) || !Number.isFinite(options.maxBytes)) throw new Error('maxBytes must be a finite number ≥ 0');
  }

  /** Pins `id@version`, loading it on a miss. Concurrent misses of one key load once. */
  async acquire(id: string, version: number): Promise<AdapterLease<V>> {
    const key = keyOf(id, version);
    const hit = this.lru.get(key);
    if (hit !== undefined) {
      this.counters.hits += 1;
      this.lru.delete(key);
      this.lru.set(key, hit);
      hit.refs += 1;
      return this.lease(hit);
    }
    this.counters.misses += 1;
    let p = this.pending.get(key);
    if (p === undefined) {
      p = this.startLoad(id, version, key);
      this.pending.set(key, p);
    }
    p.waiters += 1;
    // The load pins the entry once per waiter before anything can evict it.
    return this.lease(await p.promise);
  }

  /** Pins several adapters; if one fails, the others are released and the error rethrown. */
  async acquireMany(keys: ReadonlyArray<{ id: string; version: number }>): Promise<Array<AdapterLease<V>>> {
    const settled = await Promise.allSettled(keys.map((k) => this.acquire(k.id, k.version)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<AdapterLease<V>>).value);
    for (const s of settled) if (s.status === 'fulfilled') s.value.release();
    throw failed.reason;
  }

  /**
   * Drops every version of `id` (activation, revocation, new version). Values in use are disposed
   * when their last lease is released; a load in flight is not cached when it lands.
   * @returns the number of cached entries dropped.
   */
  invalidate(id: string): number {
    this.generation.set(id, (this.generation.get(id) ?? 0) + 1);
    for (const key of [...this.pending.keys()]) if (idOf(key) === id) this.pending.delete(key);
    let dropped = 0;
    for (const [key, e] of [...this.lru]) {
      if (e.id !== id) continue;
      this.uncache(key, e);
      dropped += 1;
    }
    this.counters.invalidations += dropped;
    return dropped;
  }

  /** Drops everything (same rules as `invalidate`). */
  clear(): void {
    const ids = new Set([...this.lru.values()].map((e) => e.id));
    for (const key of this.pending.keys()) ids.add(idOf(key));
    for (const id of ids) this.invalidate(id);
  }

  /** Whether `id@version` is cached (does not touch the LRU order). */
  has(id: string, version: number): boolean {
    return this.lru.has(keyOf(id, version));
  }

  stats(): AdapterCacheStats {
    let pinned = 0;
    for (const e of this.lru.values()) if (e.refs > 0) pinned += 1;
    return { ...this.counters, entries: this.lru.size, bytes: this.bytes, pinned: pinned + this.detached.size, detached: this.detached.size };
  }

  private startLoad(id: string, version: number, key: string): Pending<V> {
    this.counters.loads += 1;
    const gen = this.generation.get(id) ?? 0;
    const record: Pending<V> = { waiters: 0, promise: undefined as unknown as Promise<Entry<V>> };
    record.promise = (async () => {
      let loaded: LoadedAdapter<V>;
      try {
        loaded = await this.options.load(id, version);
        if (!(loaded.bytes >= 0) || !Number.isFinite(loaded.bytes)) {
          this.safeDispose(loaded.value, id, version);
          throw new Error(`adapter ${key}: loader reported invalid bytes ${String(loaded.bytes)}`);
        }
      } catch (err) {
        this.counters.loadFailures += 1;
        if (this.pending.get(key) === record) this.pending.delete(key);
        throw err;
      }
      if (this.pending.get(key) === record) this.pending.delete(key);
      const entry: Entry<V> = { id, version, value: loaded.value, bytes: loaded.bytes, refs: record.waiters, cached: false, disposed: false };
      const stale = (this.generation.get(id) ?? 0) !== gen;
      if (stale || loaded.bytes > this.options.maxBytes || this.lru.has(key)) {
        this.detached.add(entry);
      } else {
        entry.cached = true;
        this.lru.set(key, entry);
        this.bytes += entry.bytes;
        this.evictToFit();
      }
      return entry;
    })();
    return record;
  }

  private lease(entry: Entry<V>): AdapterLease<V> {
    let released = false;
    return {
      id: entry.id,
      version: entry.version,
      value: entry.value,
      release: () => {
        if (released) return;
        released = true;
        entry.refs -= 1;
        if (entry.refs > 0) return;
        if (!entry.cached) {
          this.detached.delete(entry);
          this.disposeEntry(entry);
        } else if (this.bytes > this.options.maxBytes) {
          this.evictToFit();
        }
      },
    };
  }

  private evictToFit(): void {
    for (const [key, e] of [...this.lru]) {
      if (this.bytes <= this.options.maxBytes) return;
      if (e.refs > 0) continue;
      this.uncache(key, e);
      this.counters.evictions += 1;
    }
  }

  private uncache(key: string, e: Entry<V>): void {
    this.lru.delete(key);
    this.bytes -= e.bytes;
    e.cached = false;
    if (e.refs === 0) this.disposeEntry(e);
    else this.detached.add(e);
  }

  private disposeEntry(e: Entry<V>): void {
    if (e.disposed) return;
    e.disposed = true;
    this.safeDispose(e.value, e.id, e.version);
  }

  private safeDispose(value: V, id: string, version: number): void {
    try {
      this.options.dispose?.(value, id, version);
    } catch {
      // A failing disposer must not break serving; it shows in stats().disposeErrors.
      this.counters.disposeErrors += 1;
    }
  }
}

function keyOf(id: string, version: number): string {
  return `${id}@${version}`;
}

/** Ids may contain '@'; the version after the last one never does. */
function idOf(key: string): string {
  return key.slice(0, key.lastIndexOf('@'));
}
