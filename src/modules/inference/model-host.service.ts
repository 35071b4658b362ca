import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { parseModelConfig, type ModelConfig } from '../../engine/model-config.js';
import { TextTokenizer } from '../../engine/tokenizer.js';
import { MicroBatcher, type BatchItem } from '../../routing/micro-batcher.js';
import { AdapterStore } from './adapter-store.service.js';
import { LocalEngineClient, WorkerEngineClient, type EngineClient } from './engine/engine-client.js';
import type { EngineFeatures, EngineGenerationOptions, EngineInfo, EngineRowResult, EngineTokenEvent } from './engine/inference-engine.js';

/** One prompt to generate, with its applied plan entries. */
export interface HostJob {
  prompt: number[];
  plan: Array<{ id: string; version: number; strength: number }>;
  options: EngineGenerationOptions;
  /** Streams this prompt's text as it is generated. */
  onToken?: (e: Omit<EngineTokenEvent, 'row'>) => void;
}

export type HostState = 'disabled' | 'loading' | 'ready' | 'failed';

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
 * completions answer 503 and /v1/models lists nothing.
 */
@Injectable()
export class ModelHost implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger('ModelHost');
  private engines: EngineClient[] = [];
  private readonly idle: EngineClient[] = [];
  private batcher?: MicroBatcher<HostJob, EngineRowResult>;
  private state: HostState = 'loading';
  private detail = 'starting';
  private loadPromise?: Promise<void>;
  private closed = false;
  /** The model's shape (main thread copy; the weights live in the engines). */
  modelConfig?: ModelConfig;
  /** Main-thread tokenizer: counts and validates prompts before they are queued. */
  tokenizer?: TextTokenizer;
  info?: EngineInfo;

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

  status(): HostStatus {
    const i = this.config.inference;
    return { state: this.state, modelId: i.modelId, modelDir: i.modelDir, detail: this.detail, backend: this.info?.backend, workers: this.engines.length };
  }

  /** Queues one prompt; resolves with its result. @throws QueueFullError, RequestTimeoutError, RequestCancelledError. */
  submit(job: HostJob, signal?: AbortSignal): Promise<EngineRowResult> {
    if (!this.batcher) throw new Error(`model ${this.modelId} is not loaded (${this.state}: ${this.detail})`);
    return this.batcher.submit(job, { signal });
  }

  batcherStats() {
    return this.batcher?.stats();
  }

  /**
   * Base-model features of tokenized prompts (gates, auto routing), computed in an engine.
   * `keepPrefill` (routing, right before generation): that engine keeps each prompt's prefill, and a
   * generation of the same prompt without adapters there continues from it instead of prefilling.
   */
  async promptFeatures(prompts: number[][], options: { keepPrefill?: boolean } = {}): Promise<EngineFeatures> {
    const engine = await this.takeEngine();
    try {
      return await engine.features(prompts, options);
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
          ? [await LocalEngineClient.start(i.modelDir, this.config.backend)]
          : await Promise.all(Array.from({ length: n }, () => WorkerEngineClient.start(i.modelDir, this.config.backend)));
      if (this.closed) {
        await Promise.all(engines.map((e) => e.close()));
        return;
      }
      this.engines = engines;
      this.idle.push(...engines);
      this.info = engines[0].info;
      this.batcher = new MicroBatcher<HostJob, EngineRowResult>({
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

  /** Runs one micro-batch on a free engine: rows grouped by generation options, one engine batch per group. */
  private async execute(items: ReadonlyArray<BatchItem<HostJob>>): Promise<Array<EngineRowResult | Error>> {
    const out: Array<EngineRowResult | Error> = new Array(items.length);
    const groups = new Map<string, number[]>();
    items.forEach((item, idx) => {
      const o = item.request.options;
      // Sampled rows draw from a per-row stream: run them alone so a seed gives the same text as alone.
      const key = o.temperature > 0 ? `solo:${idx}` : JSON.stringify([o.maxTokens, o.topP, o.stop]);
      groups.set(key, [...(groups.get(key) ?? []), idx]);
    });
    const engine = await this.takeEngine();
    try {
      for (const idxs of groups.values()) {
        const live = idxs.filter((k) => !items[k].signal.aborted);
        if (live.length === 0) continue;
        try {
          const results = await this.runGroup(engine, live.map((k) => items[k]));
          live.forEach((k, j) => (out[k] = results[j]));
        } catch (e) {
          for (const k of live) out[k] = e as Error;
        }
      }
    } finally {
      this.giveBack(engine);
    }
    for (let k = 0; k < out.length; k++) out[k] ??= new Error('cancelled');
    return out;
  }

  private async runGroup(engine: EngineClient, items: Array<BatchItem<HostJob>>): Promise<EngineRowResult[]> {
    const wanted = new Map<string, { id: string; version: number }>();
    for (const it of items) for (const e of it.request.plan) wanted.set(`${e.id}@${e.version}`, { id: e.id, version: e.version });
    const leases = await this.store.acquire([...wanted.values()]);
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
        rows: items.map((it) => ({ prompt: it.request.prompt, plan: it.request.plan.map((e) => ({ key: `${e.id}@${e.version}`, strength: e.strength })) })),
        options: items[0].request.options,
      };
      return await engine.generate(batch, missing, cancel, (e) => items[e.row]?.request.onToken?.({ delta: e.delta, done: e.done, finishReason: e.finishReason }));
    } finally {
      items.forEach((it, r) => it.signal.removeEventListener('abort', listeners[r]));
      for (const l of leases) {
        l.release();
        // Routed on a snapshot older than a revocation: serve this batch, but keep nothing cached.
        if (!this.store.adapter(l.id)) this.store.cache.invalidate(l.id);
      }
    }
  }

  private waiters: Array<(e: EngineClient) => void> = [];

  private takeEngine(): Promise<EngineClient> {
    if (this.engines.length === 0) return Promise.reject(new Error(`model ${this.modelId} is not loaded`));
    const e = this.idle.shift();
    if (e) return Promise.resolve(e);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private giveBack(e: EngineClient): void {
    const w = this.waiters.shift();
    if (w) w(e);
    else this.idle.push(e);
  }
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
