import type { BackendName } from '../engine/backend.js';
import type {
  EngineAdapterPayload,
  EngineBatch,
  EngineFeatures,
  EngineSpeculation,
  EngineInfo,
  EngineOptions,
  EngineProbeResult,
  EngineRowResult,
  EngineTokenEvent,
} from './inference-engine.js';

/** Messages from the main thread to an inference worker. */
export type ToWorker =
  | {
      type: 'generate';
      id: number;
      batch: EngineBatch;
      /** Adapters this worker has not been sent yet. */
      adapters: EngineAdapterPayload[];
      /** Int32 per row, set to 1 by the main thread when that request is cancelled. */
      cancel: SharedArrayBuffer;
    }
  | { type: 'features'; id: number; prompts: number[][]; keepPrefill?: boolean; speculate?: EngineSpeculation[]; adapters?: EngineAdapterPayload[] }
  | { type: 'probe'; id: number; adapter: EngineAdapterPayload }
  | { type: 'evict'; keys: string[] }
  | { type: 'memory'; id: number };

/** Messages from an inference worker to the main thread. */
export type FromWorker =
  | { type: 'ready'; info: EngineInfo; nice: number }
  | { type: 'boot-error'; message: string }
  | { type: 'token'; id: number; event: EngineTokenEvent }
  | { type: 'result'; id: number; results: EngineRowResult[] }
  | { type: 'features'; id: number; features: EngineFeatures }
  | { type: 'probe'; id: number; probe: EngineProbeResult }
  | { type: 'memory'; id: number; memory: { tensors: number; bytes: number; adapters: number } }
  | { type: 'error'; id: number; message: string; cancelled: boolean };

/** What a worker is started with. */
export interface WorkerInit {
  modelDir: string;
  backend?: BackendName;
  options?: EngineOptions;
  /** Niceness the thread sets itself (thread-priority.ts); 0 or unset: the process's priority. */
  nice?: number;
}
