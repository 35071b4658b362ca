import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { AdapterCache, type AdapterLease } from '../../routing/adapter-cache.js';
import type { AdapterSelection, RegistryAdapter, RegistrySnapshot } from '../../routing/routing-types.js';
import { ADAPTERS_CHANNEL, AdapterRegistryService } from '../adapters/adapter-registry.service.js';
import type { AdapterKind } from '../adapters/adapter.entity.js';
import { DatabaseEvents } from '../database/database-events.service.js';
import type { EngineAdapterPayload } from '../../serving/inference-engine.js';

/** A registry row as serving needs it. */
export interface ServingAdapter extends RegistryAdapter {
  status: string;
  rank: number;
  alpha: number;
  targetModules: string[];
  blobSha256: string | null;
}

interface Row {
  id: string;
  name: string;
  version: number;
  kind: AdapterKind;
  status: string;
  rank: number;
  alpha: number;
  target_modules: string[];
  blob_sha256: string | null;
  centroid: unknown;
}

/** `<id>@<version>`: the key of an adapter version in caches and engines. */
export const adapterKey = (id: string, version: number): string => `${id}@${version}`;

/**
 * The registry as this replica serves it: a snapshot of routable adapters (reloaded on every
 * NOTIFY lethe_adapters, so each replica follows activations and revocations), and the byte-bounded
 * adapter cache (loaded from Postgres on a miss with the sha256 checked by the registry).
 * Evictions and invalidations are passed on to the inference engines through `onEvict`.
 */
@Injectable()
export class AdapterStore implements OnModuleDestroy {
  private readonly log = new Logger(AdapterStore.name);
  private snapshot: { registryVersion: number; adapters: ServingAdapter[]; byId: Map<string, ServingAdapter> } = {
    registryVersion: 0,
    adapters: [],
    byId: new Map(),
  };
  private loading: Promise<void> | null = null;
  private again = false;
  private unlisten?: () => void;
  private readonly evictListeners: Array<(keys: string[]) => void> = [];
  readonly cache: AdapterCache<EngineAdapterPayload>;
  private started?: Promise<void>;
  /** Cold-load durations (ms) of the last loads, newest last (benchmarks read it). */
  readonly loadTimesMs: number[] = [];

  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(AdapterRegistryService) private readonly registry: AdapterRegistryService,
    @Inject(DatabaseEvents) private readonly events: DatabaseEvents,
  ) {
    this.cache = new AdapterCache<EngineAdapterPayload>({
      maxBytes: config.inference.adapterCacheBytes,
      load: (id, version) => this.load(id, version),
      dispose: (value) => this.emitEvict([value.key]),
    });
  }

  /** Subscribes to registry changes and loads the first snapshot (idempotent). */
  start(): Promise<void> {
    this.started ??= (async () => {
      this.unlisten = await this.events.listen(ADAPTERS_CHANNEL, (id) => this.onChange(id));
      await this.refresh();
    })();
    return this.started;
  }

  /** Called with adapter keys whose tensors may be freed. */
  onEvict(listener: (keys: string[]) => void): void {
    this.evictListeners.push(listener);
  }

  /** The routing view: every active or inactive adapter (inactive ones so errors can say so). */
  routingSnapshot(): RegistrySnapshot {
    return { registryVersion: this.snapshot.registryVersion, adapters: this.snapshot.adapters };
  }

  get registryVersion(): number {
    return this.snapshot.registryVersion;
  }

  adapter(id: string): ServingAdapter | undefined {
    return this.snapshot.byId.get(id);
  }

  /** Active adapters clients may name (task, generated, imported). */
  selectable(): ServingAdapter[] {
    return this.snapshot.adapters.filter((a) => a.active && a.kind !== 'unlearning');
  }

  /** Pins the adapters of a plan (loading misses). Release every lease after the batch. */
  acquire(keys: ReadonlyArray<{ id: string; version: number }>): Promise<Array<AdapterLease<EngineAdapterPayload>>> {
    return this.cache.acquireMany(keys);
  }

  /**
   * Starts loading the adapters a request names explicitly, as soon as it arrives (issue 13): a
   * cold load from Postgres then overlaps the routing pass and the batching window instead of
   * holding a formed batch. Resolves selections as the router does (the id, else the name's active
   * version, then the newest); anything the router would refuse or not apply (unknown, inactive,
   * unlearning) is skipped, and a failed load yields no lease: the batch's own acquire reports it.
   * Release every lease.
   */
  async prefetch(selections: readonly AdapterSelection[]): Promise<Array<AdapterLease<EngineAdapterPayload>>> {
    const wanted = new Map<string, ServingAdapter>();
    for (const sel of selections) {
      const a = this.resolve(sel);
      if (a && a.active && a.kind !== 'unlearning') wanted.set(adapterKey(a.id, a.version), a);
    }
    const settled = await Promise.allSettled([...wanted.values()].map((a) => this.cache.acquire(a.id, a.version)));
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  private resolve(sel: AdapterSelection): ServingAdapter | undefined {
    if (sel.id) {
      const a = this.snapshot.byId.get(sel.id);
      return a && (!sel.name || a.name === sel.name) ? a : undefined;
    }
    if (!sel.name) return undefined;
    let best: ServingAdapter | undefined;
    for (const a of this.snapshot.adapters) {
      if (a.name !== sel.name) continue;
      if (!best || Number(a.active) - Number(best.active) > 0 || (a.active === best.active && (a.version > best.version || (a.version === best.version && a.id < best.id)))) best = a;
    }
    return best;
  }

  /** Reloads the snapshot now; concurrent calls coalesce (one more run if a change came meanwhile). */
  async refresh(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      try {
        do {
          this.again = false;
          await this.reload();
        } while (this.again);
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  onModuleDestroy(): void {
    this.unlisten?.();
    this.cache.clear();
  }

  private onChange(id: string): void {
    this.cache.invalidate(id);
    // Again once the snapshot is new: a request routed on the old snapshot meanwhile may have loaded it.
    this.refresh()
      .then(() => this.cache.invalidate(id))
      .catch((e: Error) => this.log.warn(`registry refresh failed: ${e.message}`));
  }

  private async reload(): Promise<void> {
    const rows: Row[] = await this.ds.query(
      `SELECT id, name, version, kind, status, rank, alpha, target_modules, blob_sha256, lineage->'centroid' AS centroid
         FROM adapter WHERE status IN ('active', 'inactive') AND blob_sha256 IS NOT NULL ORDER BY id`,
    );
    const [{ v }]: Array<{ v: string | null }> = await this.ds.query(
      `SELECT (floor(extract(epoch FROM max(updated_at)) * 1000))::bigint AS v FROM adapter`,
    );
    const adapters = rows.map((r): ServingAdapter => ({
      id: r.id,
      name: r.name,
      version: r.version,
      kind: r.kind,
      active: r.status === 'active',
      status: r.status,
      rank: r.rank,
      alpha: Number(r.alpha),
      targetModules: r.target_modules,
      blobSha256: r.blob_sha256,
      centroid: Array.isArray(r.centroid) && r.centroid.every((x) => typeof x === 'number') ? (r.centroid as number[]) : null,
    }));
    this.snapshot = { registryVersion: Number(v ?? 0), adapters, byId: new Map(adapters.map((a) => [a.id, a])) };
  }

  private async load(id: string, version: number): Promise<{ value: EngineAdapterPayload; bytes: number }> {
    const started = performance.now();
    const known = this.snapshot.byId.get(id);
    const a = known ?? (await this.registry.get(id));
    if (a.version !== version) throw new Error(`adapter ${id} is at version ${a.version}, not ${version}`);
    // The snapshot names the version's blob: one query (the blob) instead of two (row, then blob).
    const weights = new Uint8Array(known?.blobSha256 ? await this.registry.readBlob(known.blobSha256) : await this.registry.readWeights(id)); // sha256 checked there
    const value: EngineAdapterPayload = { key: adapterKey(id, version), rank: a.rank, alpha: a.alpha, targetModules: a.targetModules, weights };
    this.loadTimesMs.push(performance.now() - started);
    if (this.loadTimesMs.length > 1000) this.loadTimesMs.shift();
    return { value, bytes: weights.byteLength };
  }

  private emitEvict(keys: string[]): void {
    for (const l of this.evictListeners) l(keys);
  }
}
