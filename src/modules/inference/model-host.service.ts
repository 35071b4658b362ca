import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { parseModelConfig, type ModelConfig } from '../../engine/model-config.js';
import { TextTokenizer } from '../../engine/tokenizer.js';
import type { AdapterLease } from '../../routing/adapter-cache.js';
import type { AdapterSelection } from '../../routing/routing-types.js';
import { MicroBatcher, type BatchItem } from '../../routing/micro-batcher.js';
import { AdapterStore } from './adapter-store.service.js';
import { LocalEngineClient, WorkerEngineClient, type EngineClient } from '../../serving/engine-client.js';
import { EnginePool } from '../../serving/engine-pool.js';
import type {
  EngineAdapterPayload,
  EngineFeatures,
  EngineGenerationOptions,
  EngineSpeculation,
  EngineInfo,
  EngineProbeResult,
  EngineRowResult,
  EngineTokenEvent,
} from '../../serving/inference-engine.js';

/** Applied plan entries of one prompt. */
export type HostPlan = Array<{ id: string; version: number; strength: number }>;

/** One prompt to generate, with its applied plan entries. */
export interface HostJob {
  prompt: number[];
  /**
   * The plan, or its promise while the router still computes it: the job is queued at once, so
   * routing overlaps the micro-batching window; a rejected plan fails this job only.
   */
  plan: HostPlan | Promise<HostPlan>;
  options: EngineGenerationOptions;
  /** Streams this prompt's text as it is generated. */
  onToken?: (e: Omit<EngineTokenEvent, 'row'>) => void;
  /**
   * Adapters the request names explicitly: loaded from the moment the job is queued (a cold load
   * overlaps routing and the batching window), and their leases serve the batch.
   */
  adapters?: readonly AdapterSelection[];
}

/** A queued job with the leases its named adapters were prefetched into. */
interface QueuedJob extends HostJob {
  prefetched?: Promise<Array<AdapterLease<EngineAdapterPayload>>>;
}



export type HostState = 'disabled' | 'loading' | 'ready' | 'failed';

/** `Retry-After` of a completion refused while the model loads (the demo model loads in a few seconds). */
export const LOADING_RETRY_AFTER_SECONDS = 5;

export interface HostStatus {
  state: HostState;
  modelId: string;
  modelDir: string;
  detail: string;
  backend?: string;
  workers: number;
}

/**
 * The base model and its inference engines (DESIGN §2, issue 5): worker threads sized to the
 * cores (LETHE_INFERENCE_WORKERS), fed by a micro-batcher (LETHE_BATCH_WINDOW_MS,
 * LETHE_BATCH_MAX_SIZE) with a bounded queue (429 beyond LETHE_QUEUE_MAX) and per-request timeouts.
 * Loading starts at boot in the api and all roles without holding the boot up; until it is done,
 * /readyz answers 503, completions answer 503 with Retry-After and /v1/models lists nothing.
 */
@Injectable()
export class ModelHost implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger('ModelHost');
  private engines: EngineClient[] = [];
  private pool = new EnginePool<EngineClient>([]);
  private batcher?: MicroBatcher<QueuedJob, EngineRowResult>;
  private state: HostState = 'loading';
  private detail = 'starting';
  private loadPromise?: Promise<void>;
  private closed = false;
  /** The model's shape (main thread copy; the weights live in the engines). */
  modelConfig?: ModelConfig;
  /** Main-thread tokenizer: counts and validates prompts before they are queued. */
  tokenizer?: TextTokenizer;
  info?: EngineInfo;
  /**
   * Named adapters are prefetched when their job is queued with LETHE_ADAPTER_PREFETCH=true when
   * this host is made; off by default: an A/B switch (issue 13), not a product setting. Measured on
   * embedded Postgres (docs/benchmarks.md): the same Zipf throughput with and without, and longer
   * cold loads with (more of them in flight at once on the single session), because there the
   * service is CPU-bound, not waiting; a remote Postgres, where a load is network wait, is where it
   * should pay (not measured).
   */
  private readonly prefetch = process.env.LETHE_ADAPTER_PREFETCH === 'true';

  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(AdapterStore) private readonly store: AdapterStore,
  ) {
    if (!config.runsApi) {
      this.state = 'disabled';
      this.detail = 'worker role serves no inference';
    }
    store.onEvict((keys) => {
      for (const e of this.engines) e.evict(keys);
    });
  }

  get modelId(): string {
    return this.config.inference.modelId;
  }

  onApplicationBootstrap(): void {
    if (this.state === 'disabled') return;
    // Not awaited: the API answers (health, admin) while the model loads.
    void this.whenReady().catch(() => undefined);
  }

  /** Resolves when the model is loaded in every engine; rejects if loading failed. */
  whenReady(): Promise<void> {
    this.loadPromise ??= this.load();
    return this.loadPromise;
  }

  /**
   * Why this host cannot serve yet, as the 503 to answer: while loading with `Retry-After`, after a
   * failed load without it (retrying will not help until an operator acts); undefined when ready.
   */
  notReadyError(): DomainError | undefined {
    if (this.state === 'ready' && this.tokenizer && this.modelConfig) return undefined;
    const error = new DomainError(ErrorCode.UNAVAILABLE, `model ${this.modelId} is not ready (${this.state}: ${this.detail})`, {
      model: this.modelId,
      state: this.state,
    });
    return this.state === 'loading' ? error.retryAfter(LOADING_RETRY_AFTER_SECONDS) : error;
  }

  status(): HostStatus {
    const i = this.config.inference;
    return { state: this.state, modelId: i.modelId, modelDir: i.modelDir, detail: this.detail, backend: this.info?.backend, workers: this.engines.length };
  }

  /** Queues one prompt; resolves with its result. @throws QueueFullError, RequestTimeoutError, RequestCancelledError. */
  submit(job: HostJob, signal?: AbortSignal): Promise<EngineRowResult> {
    if (!this.batcher) throw new Error(`model ${this.modelId} is not loaded (${this.state}: ${this.detail})`);
    // A plan rejected while the job waits in the queue is handled when its batch runs (execute),
    // not left unhandled meanwhile (which would stop the process).
    if (job.plan instanceof Promise) job.plan.catch(() => undefined);
    const prefetched = this.prefetch && job.adapters && job.adapters.length > 0 ? this.store.prefetch(job.adapters) : undefined;
    const done = this.batcher.submit({ ...job, prefetched }, { signal });
    if (!prefetched) return done;
    // Released whatever happens to the job (the batch may have released them already: idempotent).
    return done.finally(() => prefetched.then((leases) => leases.forEach((l) => l.release())));
  }

  batcherStats() {
    return this.batcher?.stats();
  }

  /**
   * Base-model features of tokenized prompts (gates, auto routing), computed in an engine.
   * `keepPrefill` (routing, right before generation): that engine keeps each prompt's prefill, and a
   * generation of the same prompt without adapters there continues from it instead of prefilling.
   * Calls that wait for an engine together run as one batched prefill.
   */
  promptFeatures(prompts: number[][], options: { keepPrefill?: boolean; speculate?: HostPlan[][] } = {}): Promise<EngineFeatures> {
    return new Promise((resolve, reject) => {
      this.featureQueue.push({ prompts, keepPrefill: options.keepPrefill ?? false, speculate: options.speculate, resolve, reject });
      if (!this.featuresDraining) void this.drainFeatures();
    });
  }

  private readonly featureQueue: FeatureJob[] = [];
  private featuresDraining = false;

  private async drainFeatures(): Promise<void> {
    this.featuresDraining = true;
    try {
      while (this.featureQueue.length > 0) {
        let engine: EngineClient;
        try {
          engine = await this.takeEngine();
        } catch (e) {
          for (const job of this.featureQueue.splice(0)) job.reject(e);
          return;
        }
        const jobs = takeFeatureJobs(this.featureQueue);
        const spec = jobs[0].keepPrefill ? await this.speculation(jobs, engine) : undefined;
        try {
          const all = await engine.features(
            jobs.flatMap((j) => j.prompts),
            { keepPrefill: jobs[0].keepPrefill, speculate: spec?.rows, adapters: spec?.adapters },
          );
          let at = 0;
          for (const job of jobs) {
            const n = job.prompts.length;
            job.resolve({ last: all.last.slice(at, at + n), detector: all.detector.slice(at, at + n) });
            at += n;
          }
          if (jobs[0].keepPrefill) for (const job of jobs) for (const p of job.prompts) this.keptOn(p, engine);
        } catch (e) {
          for (const job of jobs) job.reject(e);
        } finally {
          for (const l of spec?.leases ?? []) l.release();
          this.giveBack(engine);
        }
      }
    } finally {
      this.featuresDraining = false;
    }
  }

  /**
   * The speculative rows of a features call (issue 13): each prompt's guessed plans (RoutingService:
   * the plans it most likely gets), with leases on their adapters and the ones `engine` lacks. A
   * guess whose adapters cannot be had now (revoked meanwhile, cache error) is simply not made.
   */
  private async speculation(jobs: FeatureJob[], engine: EngineClient): Promise<{ rows: EngineSpeculation[]; adapters: EngineAdapterPayload[]; leases: Array<AdapterLease<EngineAdapterPayload>> } | undefined> {
    const rows: Array<{ row: number; plan: HostPlan }> = [];
    let at = 0;
    for (const job of jobs) {
      job.speculate?.forEach((plans, i) => {
        for (const plan of plans) if (plan.length > 0) rows.push({ row: at + i, plan });
      });
      at += job.prompts.length;
    }
    if (rows.length === 0) return undefined;
    const wanted = new Map<string, { id: string; version: number }>();
    for (const r of rows) for (const e of r.plan) wanted.set(`${e.id}@${e.version}`, { id: e.id, version: e.version });
    let leases: Array<AdapterLease<EngineAdapterPayload>>;
    try {
      leases = await this.store.acquire([...wanted.values()]);
    } catch {
      return undefined;
    }
    return {
      rows: rows.map((r) => ({ row: r.row, plan: r.plan.map((e) => ({ key: `${e.id}@${e.version}`, strength: e.strength })) })),
      adapters: leases.filter((l) => !engine.loaded.has(l.value.key)).map((l) => l.value),
      leases,
    };
  }

  /** A probe forward pass with an adapter not yet stored (import checks), on a free engine. */
  async probeAdapter(adapter: EngineAdapterPayload): Promise<EngineProbeResult> {
    const engine = await this.takeEngine();
    try {
      return await engine.probe(adapter);
    } finally {
      this.giveBack(engine);
    }
  }

  /** Tensor memory of every engine (tests, benchmarks). */
  memory(): Promise<Array<{ tensors: number; bytes: number; adapters: number }>> {
    return Promise.all(this.engines.map((e) => e.memory()));
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    await this.loadPromise?.catch(() => undefined);
    await this.batcher?.close().catch(() => undefined);
    await Promise.all(this.engines.map((e) => e.close().catch(() => undefined)));
    this.engines = [];
  }

  private async load(): Promise<void> {
    const i = this.config.inference;
    const started = Date.now();
    try {
      await this.store.start();
      const { config, tokenizer } = await readModelInfo(i.modelDir);
      this.modelConfig = config;
      this.tokenizer = tokenizer;
      const n = i.workers;
      const engines: EngineClient[] =
        n === 0
          ? [await LocalEngineClient.start(i.modelDir, this.config.backend, { mergeHotPlans: i.mergeHotPlans })]
          : await Promise.all(Array.from({ length: n }, () => WorkerEngineClient.start(i.modelDir, this.config.backend, { mergeHotPlans: i.mergeHotPlans }, i.tensorThreadNice)));
      if (this.closed) {
        await Promise.all(engines.map((e) => e.close()));
        return;
      }
      this.engines = engines;
      this.pool = new EnginePool(engines);
      this.info = engines[0].info;
      this.batcher = new MicroBatcher<QueuedJob, EngineRowResult>({
        execute: (items) => this.execute(items),
        windowMs: i.batchWindowMs,
        maxBatchSize: i.batchMaxSize,
        maxQueue: i.queueMax,
        maxConcurrentBatches: engines.length,
        timeoutMs: i.requestTimeoutMs,
      });
      this.state = 'ready';
      this.detail = `${i.modelId} (${this.info.family}, ${this.info.parameters} parameters) on ${this.info.backend}, ${n === 0 ? 'main thread' : `${n} worker thread(s)`}`;
      this.log.log(`model ${this.detail} loaded in ${Date.now() - started} ms from ${i.modelDir}`);
    } catch (e) {
      this.state = 'failed';
      this.detail = (e as Error).message;
      this.log.error(`model ${i.modelId} failed to load from ${i.modelDir}: ${this.detail}`);
      throw e;
    }
  }

  /**
   * Runs one micro-batch on a free engine: rows grouped by generation options, one engine batch per
   * group. Pending plans are awaited before an engine is taken (routing needs one for its features).
   */
  private async execute(items: ReadonlyArray<BatchItem<QueuedJob>>): Promise<Array<EngineRowResult | Error>> {
    const out: Array<EngineRowResult | Error> = new Array(items.length);
    const plans = await Promise.allSettled(items.map((item) => item.request.plan));
    const groups = new Map<string, number[]>();
    items.forEach((item, idx) => {
      const planned = plans[idx];
      if (planned.status === 'rejected') {
        out[idx] = planned.reason instanceof Error ? planned.reason : new Error(String(planned.reason));
        return;
      }
      const o = item.request.options;
      // Sampled rows draw from a per-row stream: run them alone so a seed gives the same text as alone.
      const key = o.temperature > 0 ? `solo:${idx}` : JSON.stringify([o.maxTokens, o.topP, o.stop]);
      groups.set(key, [...(groups.get(key) ?? []), idx]);
    });
    if (groups.size === 0) return out;
    // Adapters are leased (cold ones loaded from Postgres) before an engine is taken, so a batch
    // waiting for a cold load does not hold an engine other batches could run on meanwhile.
    const leased = await Promise.allSettled(
      [...groups.values()].map((idxs) =>
        this.leaseGroup(
          idxs.map((k) => (plans[k] as PromiseFulfilledResult<HostPlan>).value),
          idxs.map((k) => items[k].request.prefetched),
        ),
      ),
    );
    const holding = this.engineHolding(items.map((it) => it.request.prompt));
    const engine = await this.takeEngine(holding.engine);
    for (const [e, n] of holding.votes) {
      this.keptPrefillRows.kept += n;
      if (e === engine) this.keptPrefillRows.onHoldingEngine += n;
    }
    try {
      for (const [g, idxs] of [...groups.values()].entries()) {
        const leases = leased[g];
        if (leases.status === 'rejected') {
          for (const k of idxs) out[k] = leases.reason instanceof Error ? leases.reason : new Error(String(leases.reason));
          continue;
        }
        const live = idxs.filter((k) => !items[k].signal.aborted);
        try {
          if (live.length === 0) continue;
          const results = await this.runGroup(
            engine,
            live.map((k) => items[k]),
            live.map((k) => (plans[k] as PromiseFulfilledResult<HostPlan>).value),
            leases.value,
          );
          live.forEach((k, j) => (out[k] = results[j]));
        } catch (e) {
          for (const k of live) out[k] = e as Error;
        } finally {
          this.releaseLeases(leases.value);
        }
      }
    } finally {
      this.giveBack(engine);
    }
    for (let k = 0; k < out.length; k++) out[k] ??= new Error('cancelled');
    return out;
  }

  /**
   * Leases for a group's plans: the ones its jobs prefetched when they were queued (no second
   * acquire, so each request counts one cache hit or miss per adapter), the rest acquired now.
   */
  private async leaseGroup(
    plans: HostPlan[],
    prefetched: ReadonlyArray<Promise<Array<AdapterLease<EngineAdapterPayload>>> | undefined>,
  ): Promise<Array<AdapterLease<EngineAdapterPayload>>> {
    const have = new Map<string, AdapterLease<EngineAdapterPayload>>();
    for (const leases of await Promise.all(prefetched.map((p) => p ?? []))) for (const l of leases) if (!have.has(l.value.key)) have.set(l.value.key, l);
    const wanted = wantedAdapters(plans);
    const used = wanted.flatMap((w) => have.get(`${w.id}@${w.version}`) ?? []);
    const rest = await this.store.acquire(wanted.filter((w) => !have.has(`${w.id}@${w.version}`)));
    return [...used, ...rest];
  }

  private async runGroup(engine: EngineClient, items: Array<BatchItem<QueuedJob>>, plans: HostPlan[], leases: Array<AdapterLease<EngineAdapterPayload>>): Promise<EngineRowResult[]> {
    const cancel = new Int32Array(new SharedArrayBuffer(4 * items.length));
    const listeners = items.map((it, r) => {
      const on = () => Atomics.store(cancel, r, 1);
      it.signal.addEventListener('abort', on, { once: true });
      if (it.signal.aborted) on();
      return on;
    });
    try {
      const missing = leases.filter((l) => !engine.loaded.has(l.value.key)).map((l) => l.value);
      const batch = {
        rows: items.map((it, r) => ({
          prompt: it.request.prompt,
          plan: plans[r].map((e) => ({ key: `${e.id}@${e.version}`, strength: e.strength })),
          // Token events cross the worker boundary one message each: only for streaming requests.
          stream: it.request.onToken !== undefined,
        })),
        options: items[0].request.options,
      };
      return await engine.generate(batch, missing, cancel, (e) => items[e.row]?.request.onToken?.({ delta: e.delta, done: e.done, finishReason: e.finishReason }));
    } finally {
      items.forEach((it, r) => it.signal.removeEventListener('abort', listeners[r]));
    }
  }

  private releaseLeases(leases: Array<AdapterLease<EngineAdapterPayload>>): void {
    for (const l of leases) {
      l.release();
      // Routed on a snapshot older than a revocation: serve this batch, but keep nothing cached.
      if (!this.store.adapter(l.id)) this.store.cache.invalidate(l.id);
    }
  }

  /** Prompt (token ids joined) → the engine that kept its base prefill (features with keepPrefill), oldest first. */
  private readonly prefillEngine = new Map<string, EngineClient>();

  private keptOn(prompt: readonly number[], engine: EngineClient): void {
    const key = prompt.join(',');
    this.prefillEngine.delete(key);
    this.prefillEngine.set(key, engine);
    // Engines keep at most 256 prefills each (PrefillStore): older entries point at nothing.
    while (this.prefillEngine.size > 256 * Math.max(1, this.engines.length)) this.prefillEngine.delete(this.prefillEngine.keys().next().value!);
  }

  /**
   * The engine that kept the base prefills of most of these prompts (their generation continues
   * from them only there), forgetting those entries; undefined when none was kept.
   */
  private engineHolding(prompts: ReadonlyArray<readonly number[]>): { engine?: EngineClient; votes: Map<EngineClient, number> } {
    const votes = new Map<EngineClient, number>();
    if (this.prefillEngine.size === 0) return { votes };
    for (const p of prompts) {
      const key = p.join(',');
      const e = this.prefillEngine.get(key);
      if (!e) continue;
      this.prefillEngine.delete(key);
      votes.set(e, (votes.get(e) ?? 0) + 1);
    }
    let best: EngineClient | undefined;
    for (const [e, n] of votes) if (!best || n > votes.get(best)!) best = e;
    return { engine: best, votes };
  }

  /**
   * Rows whose routing pass kept a prefill, and how many of them ran their generation on the
   * engine that kept it (only there can a row continue from it instead of prefilling again).
   */
  readonly keptPrefillRows = { kept: 0, onHoldingEngine: 0 };

  /** A free engine: `prefer` when it is free (it holds the batch's kept prefills), else any (EnginePool). */
  private takeEngine(prefer?: EngineClient): Promise<EngineClient> {
    if (this.engines.length === 0) return Promise.reject(new Error(`model ${this.modelId} is not loaded`));
    return this.pool.take(prefer);
  }

  private giveBack(e: EngineClient): void {
    this.pool.giveBack(e);
  }
}

interface FeatureJob {
  prompts: number[][];
  keepPrefill: boolean;
  /** Per prompt, the plans to prefill speculatively beside the features (keepPrefill only). */
  speculate?: HostPlan[][];
  resolve: (f: EngineFeatures) => void;
  reject: (e: unknown) => void;
}

/** The distinct adapter versions of some plans. */
function wantedAdapters(plans: HostPlan[]): Array<{ id: string; version: number }> {
  const wanted = new Map<string, { id: string; version: number }>();
  for (const plan of plans) for (const e of plan) wanted.set(`${e.id}@${e.version}`, { id: e.id, version: e.version });
  return [...wanted.values()];
}

/** Prompts per coalesced features pass. */
const FEATURE_BATCH_PROMPTS = 32;

/** Removes and returns the next queued feature jobs that share one engine call (same keepPrefill, bounded size). */
function takeFeatureJobs(queue: FeatureJob[]): FeatureJob[] {
  const jobs = [queue.shift()!];
  let prompts = jobs[0].prompts.length;
  for (let i = 0; i < queue.length && prompts < FEATURE_BATCH_PROMPTS; ) {
    const next = queue[i];
    if (next.keepPrefill === jobs[0].keepPrefill && prompts + next.prompts.length <= FEATURE_BATCH_PROMPTS) {
      jobs.push(...queue.splice(i, 1));
      prompts += next.prompts.length;
    } else i++;
  }
  return jobs;
}

/** config.json and the tokenizer (with its special tokens), without the weights. */
async function readModelInfo(dir: string): Promise<{ config: ModelConfig; tokenizer: TextTokenizer }> {
  const raw = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  let tc: Record<string, unknown> = {};
  try {
    tc = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    /* optional */
  }
  const token = (v: unknown) => (typeof v === 'string' || (v && typeof v === 'object') ? (v as string | { content: string }) : undefined);
  const id = (v: unknown): number | null => (Array.isArray(v) ? id(v[0]) : typeof v === 'number' ? v : null);
  const tokenizer = await TextTokenizer.fromFile(join(dir, 'tokenizer.json'), {
    bosToken: token(tc.bos_token),
    eosToken: token(tc.eos_token),
    padToken: token(tc.pad_token),
    unkToken: token(tc.unk_token),
    bosTokenId: id(raw.bos_token_id),
    eosTokenId: id(raw.eos_token_id),
    padTokenId: id(raw.pad_token_id),
  });
  return { config: parseModelConfig(raw), tokenizer };
}
