import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { BackendName } from '../engine/backend.js';
import type { FromWorker, ToWorker } from './engine-protocol.js';
import {
  BatchCancelledError,
  InferenceEngine,
  type EngineAdapterPayload,
  type EngineBatch,
  type EngineFeatureOptions,
  type EngineFeatures,
  type EngineInfo,
  type EngineOptions,
  type EngineProbeResult,
  type EngineRowResult,
  type EngineTokenEvent,
} from './inference-engine.js';

/** One engine as the host drives it: a worker thread or (workers = 0) the main thread. */
export interface EngineClient {
  readonly info: EngineInfo;
  /** Adapter keys this engine holds (the host sends each adapter once per engine). */
  readonly loaded: Set<string>;
  /**
   * Generates one batch. `cancel` has one Int32 per row; setting it to 1 drops that row's output,
   * and the batch stops when every row is cancelled (then rejects with BatchCancelledError).
   */
  generate(
    batch: EngineBatch,
    adapters: EngineAdapterPayload[],
    cancel: Int32Array,
    onToken: (e: EngineTokenEvent) => void,
  ): Promise<EngineRowResult[]>;
  /**
   * Base-model features (detector gates, auto routing) of tokenized prompts. `keepPrefill`: the
   * engine keeps each prompt's prefill for that prompt's generation (skips a second prefill), and
   * the speculative adapted prefills of `speculate` (with the `adapters` it has not been sent).
   */
  features(prompts: number[][], options?: EngineFeatureOptions): Promise<EngineFeatures>;
  /** A forward pass with `adapter` alone on a short prompt (adapter import); keeps nothing. */
  probe(adapter: EngineAdapterPayload): Promise<EngineProbeResult>;
  evict(keys: string[]): void;
  memory(): Promise<{ tensors: number; bytes: number; adapters: number }>;
  close(): Promise<void>;
}

/** Runs the engine on the calling thread (LETHE_INFERENCE_WORKERS=0: debugging, benchmarks). */
export class LocalEngineClient implements EngineClient {
  readonly loaded = new Set<string>();
  private constructor(readonly engine: InferenceEngine) {}

  static async start(modelDir: string, backend?: BackendName, options?: EngineOptions): Promise<LocalEngineClient> {
    return new LocalEngineClient(await InferenceEngine.load(modelDir, backend, options));
  }

  get info(): EngineInfo {
    return this.engine.info;
  }

  async generate(batch: EngineBatch, adapters: EngineAdapterPayload[], cancel: Int32Array, onToken: (e: EngineTokenEvent) => void): Promise<EngineRowResult[]> {
    for (const a of adapters) {
      this.engine.addAdapter(a);
      this.loaded.add(a.key);
    }
    return this.engine.generate(batch, onToken, (row) => cancel[row] !== 0);
  }

  async features(prompts: number[][], options: EngineFeatureOptions = {}): Promise<EngineFeatures> {
    for (const a of options.adapters ?? []) this.loaded.add(a.key);
    return this.engine.features(prompts, options);
  }

  async probe(adapter: EngineAdapterPayload): Promise<EngineProbeResult> {
    return this.engine.probeAdapter(adapter);
  }

  evict(keys: string[]): void {
    this.engine.evictAdapters(keys);
    for (const k of keys) this.loaded.delete(k);
  }

  async memory(): Promise<{ tensors: number; bytes: number; adapters: number }> {
    return this.engine.memory();
  }

  async close(): Promise<void> {
    this.engine.dispose();
  }
}

interface Call {
  resolve: (v: never) => void;
  reject: (e: Error) => void;
  onToken?: (e: EngineTokenEvent) => void;
}

/** Drives an inference worker thread (inference-worker.ts) over engine-protocol messages. */
export class WorkerEngineClient implements EngineClient {
  readonly loaded = new Set<string>();
  private readonly calls = new Map<number, Call>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    readonly info: EngineInfo,
    /** The niceness the worker thread runs at (thread-priority.ts). */
    readonly nice: number,
  ) {
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => this.failAll(new Error(`inference worker exited with code ${code}`)));
  }

  /** Starts a worker (at niceness `nice`, see thread-priority.ts) and waits until its model is loaded. */
  static start(modelDir: string, backend?: BackendName, options?: EngineOptions, nice = 0): Promise<WorkerEngineClient> {
    const worker = spawnWorker({ init: { modelDir, backend, options, nice } });
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'ready') {
          cleanup();
          resolve(new WorkerEngineClient(worker, m.info, m.nice));
        } else if (m.type === 'boot-error') {
          cleanup();
          void worker.terminate();
          reject(new Error(m.message));
        }
      };
      const onError = (e: Error) => {
        cleanup();
        reject(e);
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`inference worker exited with code ${code} while starting`));
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  generate(batch: EngineBatch, adapters: EngineAdapterPayload[], cancel: Int32Array, onToken: (e: EngineTokenEvent) => void): Promise<EngineRowResult[]> {
    if (!(cancel.buffer instanceof SharedArrayBuffer)) throw new Error('cancel flags must live in a SharedArrayBuffer');
    for (const a of adapters) this.loaded.add(a.key);
    return this.call<EngineRowResult[]>((id) => ({ type: 'generate', id, batch, adapters, cancel: cancel.buffer as SharedArrayBuffer }), onToken);
  }

  features(prompts: number[][], options: EngineFeatureOptions = {}): Promise<EngineFeatures> {
    for (const a of options.adapters ?? []) this.loaded.add(a.key);
    return this.call((id) => ({ type: 'features', id, prompts, keepPrefill: options.keepPrefill, speculate: options.speculate, adapters: options.adapters }));
  }

  probe(adapter: EngineAdapterPayload): Promise<EngineProbeResult> {
    return this.call((id) => ({ type: 'probe', id, adapter }));
  }

  evict(keys: string[]): void {
    for (const k of keys) this.loaded.delete(k);
    if (!this.closed) this.worker.postMessage({ type: 'evict', keys } satisfies ToWorker);
  }

  memory(): Promise<{ tensors: number; bytes: number; adapters: number }> {
    return this.call((id) => ({ type: 'memory', id }));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker.terminate();
  }

  private call<T>(build: (id: number) => ToWorker, onToken?: (e: EngineTokenEvent) => void): Promise<T> {
    if (this.closed) return Promise.reject(new Error('inference worker closed'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: never) => void, reject, onToken });
      this.worker.postMessage(build(id));
    });
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'ready' || m.type === 'boot-error') return;
    const call = this.calls.get(m.id);
    if (!call) return;
    if (m.type === 'token') {
      call.onToken?.(m.event);
      return;
    }
    this.calls.delete(m.id);
    if (m.type === 'error') call.reject(m.cancelled ? new BatchCancelledError() : new Error(m.message));
    else if (m.type === 'result') call.resolve(m.results as never);
    else if (m.type === 'features') call.resolve(m.features as never);
    else if (m.type === 'probe') call.resolve(m.probe as never);
    else call.resolve(m.memory as never);
  }

  private failAll(e: Error): void {
    this.closed = true;
    for (const c of this.calls.values()) c.reject(e);
    this.calls.clear();
  }
}

/** From source (.ts: vitest, tsx) the entry is started through worker-boot.mjs, which registers tsx. */
function spawnWorker(workerData: Record<string, unknown>): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './inference-worker.ts' : './inference-worker.js', import.meta.url);
  if (!fromSource) return new Worker(fileURLToPath(entry), { workerData });
  return new Worker(fileURLToPath(new URL('./worker-boot.mjs', import.meta.url)), { workerData: { ...workerData, entry: entry.href } });
}
