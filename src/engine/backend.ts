import * as tf from '@tensorflow/tfjs-core';
import { installWasmKernels } from './wasm-kernels.js';

/** Tensor backends in the order Lethe tries them (DESIGN §2). */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

export interface BackendInfo {
  /** The backend tfjs runs on now. */
  name: BackendName;
  /** Why earlier backends in the order were skipped (package missing, failed to load...). */
  skipped: { name: BackendName; reason: string }[];
}

const loaders: Record<BackendName, () => Promise<string>> = {
  // The native packages are optional dependencies: their install downloads libtensorflow.
  'tensorflow-gpu': async () => {
    await import('@tensorflow/tfjs-node-gpu' as string);
    return 'tensorflow';
  },
  tensorflow: async () => {
    await import('@tensorflow/tfjs-node' as string);
    return 'tensorflow';
  },
  wasm: async () => {
    await import('@tensorflow/tfjs-backend-wasm');
    return 'wasm';
  },
  cpu: async () => {
    await import('@tensorflow/tfjs-backend-cpu');
    return 'cpu';
  },
};

let current: Promise<BackendInfo> | undefined;

/**
 * Picks the first backend that loads, in BACKEND_ORDER, or exactly `preferred` when given
 * (LETHE_BACKEND). Idempotent: later calls return the first answer.
 */
export function initBackend(preferred?: BackendName): Promise<BackendInfo> {
  current ??= chooseBackend(preferred);
  return current;
}

async function chooseBackend(preferred?: BackendName): Promise<BackendInfo> {
  const order = preferred ? [preferred] : [...BACKEND_ORDER];
  const skipped: BackendInfo['skipped'] = [];
  for (const name of order) {
    try {
      const tfName = await loaders[name]();
      if (!(await tf.setBackend(tfName))) throw new Error(`tf.setBackend('${tfName}') failed`);
      await tf.ready();
      // WASM's transposed matMul and Transpose kernels are ~10x slow; replace them once.
      if (tfName === 'wasm') installWasmKernels();
      return { name, skipped };
    } catch (error) {
      skipped.push({ name, reason: error instanceof Error ? error.message.split('\n')[0] : String(error) });
    }
  }
  throw new Error(`no tensor backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}
