/** Runs the unlearning pipeline in a worker thread, off the caller's event loop. */
import type { Worker } from 'node:worker_threads';
import { runInWorker } from '../engine/worker/run-in-worker.js';
import type { ForgetItem, RelabelMode } from '../ood/index.js';
import type { UnlearningOptions, UnlearningProgress, UnlearningResult } from './unlearning-types.js';

/** Structured-cloneable input of the worker: paths and bytes instead of tensors. */
export interface UnlearningWorkerInput {
  /** Base model checkpoint folder (config.json, model.safetensors, tokenizer.json). */
  checkpointDir: string;
  /** Tensor backend in the worker (default: the engine's order). */
  backend?: string;
  items: ForgetItem[];
  relabel: RelabelMode;
  replacement?: string;
  /** Earlier active unlearning adapters as PEFT files, with their detectors' bytes (serializeDetector) where known. */
  frozenAdapters: { id: string; config: Record<string, unknown>; weights: Uint8Array; detector?: Uint8Array }[];
  referencePrompts?: string[];
  options?: Partial<UnlearningOptions>;
  baseModelName?: string;
}

export interface UnlearningWorkerOptions {
  onProgress?: (p: UnlearningProgress) => void;
  signal?: AbortSignal;
  /** Called with the thread once it exists (tests kill it mid-training). */
  onStart?: (worker: Worker) => void;
  /** Niceness of the training thread (thread-priority.ts); default 0. */
  nice?: number;
}

const ENTRY = new URL('./unlearning.worker.js', import.meta.url);

/** runUnlearning in a fresh worker thread; rejects when the thread fails, dies or is cancelled. */
export function runUnlearningInWorker(input: UnlearningWorkerInput, options: UnlearningWorkerOptions = {}): Promise<UnlearningResult> {
  return runInWorker<UnlearningWorkerInput, UnlearningResult, UnlearningProgress>(ENTRY, input, {
    onProgress: options.onProgress,
    signal: options.signal,
    onStart: options.onStart,
    nice: options.nice,
    abortGraceMs: 5_000,
  });
}
