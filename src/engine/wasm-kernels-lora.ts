/**
 * A fused per-row LoRA kernel for the tfjs WASM backend (issue 13).
 *
 * Mixed-adapter batches apply each row's own factors (lora-rows.ts). As tfjs ops that is four
 * kernel dispatches per module and forward (two broadcast multiplies, two sums) plus the add onto
 * the base projection; on the demo model a decode step's products are a few thousand
 * multiply-adds, so dispatch, not arithmetic, is the cost. This kernel does the whole
 * y + B_i·(A_i·x) in one JS loop over the backend's heap: one dispatch per module.
 *
 * Registered under its own kernel name for the wasm backend only; `rowLoraAdd` falls back to the
 * composite ops (applyRowLora) on other backends and under a gradient tape (the kernel has no
 * gradient).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Heap } from './wasm-kernels-transpose.js';

/** The custom kernel's name (inputs y, x, a, b; attrs seq and, optionally, ranks). */
export const ROW_LORA_KERNEL = 'LetheRowLoraAdd';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Heap;
}

let registered = false;

/** Registers the fused kernel for the wasm backend (idempotent). */
export function registerRowLoraKernel(): void {
  if (registered || tf.getKernel(ROW_LORA_KERNEL, 'wasm')) {
    registered = true;
    return;
  }
  tf.registerKernel({ kernelName: ROW_LORA_KERNEL, backendName: 'wasm', kernelFunc: rowLoraKernel as unknown as tf.KernelFunc });
  registered = true;
}

/** Removes the fused kernel (tests and benchmarks that compare with the composite path). */
export function unregisterRowLoraKernel(): void {
  if (tf.getKernel(ROW_LORA_KERNEL, 'wasm')) tf.unregisterKernel(ROW_LORA_KERNEL, 'wasm');
  registered = false;
}

/** Whether `rowLoraAdd` runs the fused kernel on the current backend right now. */
export function rowLoraFused(): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(ROW_LORA_KERNEL, 'wasm') !== undefined && !recordingGradients();
}

/**
 * y + the per-row LoRA term: y [b·s, dOut] (the base projection), x [b·s, dIn], per-row factors
 * a [b, r, dIn] and b [b, dOut, r] (PEFT layout, strengths folded into b, zero rows for rows
 * without adapters). One fused kernel on WASM; `composite` (the tfjs-op form) elsewhere.
 */
export function rowLoraAdd(
  y: tf.Tensor2D,
  x: tf.Tensor2D,
  a: tf.Tensor3D,
  b: tf.Tensor3D,
  seq: number,
  composite: () => tf.Tensor2D,
  ranks?: readonly number[],
): tf.Tensor2D {
  if (!rowLoraFused()) return tf.add(y, composite());
  const attrs = ranks ? { seq, ranks: [...ranks] } : { seq };
  return tf.engine().runKernel(ROW_LORA_KERNEL, { y, x, a, b } as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/** Scratch for one row's A·x (grown as needed). */
let scratch = new Float64Array(64);

function rowLoraKernel(args: { inputs: Record<string, tf.TensorInfo>; backend: WasmBackendLike; attrs: { seq: number; ranks?: number[] } }): tf.TensorInfo {
  const { y, x, a, b } = args.inputs;
  const { backend } = args;
  const { seq, ranks } = args.attrs;
  const [n, r, dIn] = a.shape;
  const dOut = b.shape[1];
  const rows = y.shape[0];
  if (rows !== n * seq || x.shape[0] !== rows || x.shape[1] !== dIn || y.shape[1] !== dOut || b.shape[0] !== n || b.shape[2] !== r) {
    throw new Error(`${ROW_LORA_KERNEL}: shapes y [${y.shape}], x [${x.shape}], a [${a.shape}], b [${b.shape}] do not fit seq ${seq}`);
  }
  for (const t of [y, x, a, b]) if (t.dtype !== 'float32') throw new Error(`${ROW_LORA_KERNEL}: float32 inputs only, got ${t.dtype}`);
  const out = backend.makeOutput([rows, dOut], 'float32');
  // Views after makeOutput: its malloc may grow (and detach) the heap.
  const Y = backend.typedArrayFromHeap(y) as Float32Array;
  const X = backend.typedArrayFromHeap(x) as Float32Array;
  const A = backend.typedArrayFromHeap(a) as Float32Array;
  const B = backend.typedArrayFromHeap(b) as Float32Array;
  const O = backend.typedArrayFromHeap(out) as Float32Array;
  O.set(Y);
  if (scratch.length < r) scratch = new Float64Array(r);
  const t = scratch;
  for (let i = 0; i < n; i++) {
    const aOff = i * r * dIn;
    // Rank slots of this row that hold a factor (zero padding and adapter-less rows are skipped):
    // given by the caller, or found by scanning A.
    let used = ranks ? Math.min(r, ranks[i]) : 0;
    for (let k = ranks ? r : 0; k < r; k++) {
      const base = aOff + k * dIn;
      for (let d = 0; d < dIn; d++) {
        if (A[base + d] !== 0) {
          used = k + 1;
          break;
        }
      }
    }
    if (used === 0) continue;
    const bOff = i * dOut * r;
    const d4 = dIn & ~3;
    for (let j = 0; j < seq; j++) {
      const row = i * seq + j;
      const xOff = row * dIn;
      // t = A_i·x: four accumulators (independent chains run ~2x faster in V8 than one).
      for (let k = 0; k < used; k++) {
        const base = aOff + k * dIn;
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        let d = 0;
        for (; d < d4; d += 4) {
          a0 += A[base + d] * X[xOff + d];
          a1 += A[base + d + 1] * X[xOff + d + 1];
          a2 += A[base + d + 2] * X[xOff + d + 2];
          a3 += A[base + d + 3] * X[xOff + d + 3];
        }
        for (; d < dIn; d++) a0 += A[base + d] * X[xOff + d];
        t[k] = a0 + a1 + a2 + a3;
      }
      // out += B_i·t, the rank loop unrolled by four.
      const oOff = row * dOut;
      const k4 = used & ~3;
      for (let o = 0; o < dOut; o++) {
        const bo = bOff + o * r;
        let acc = 0;
        let k = 0;
        for (; k < k4; k += 4) acc += B[bo + k] * t[k] + B[bo + k + 1] * t[k + 1] + B[bo + k + 2] * t[k + 2] + B[bo + k + 3] * t[k + 3];
        for (; k < used; k++) acc += B[bo + k] * t[k];
        O[oOff + o] += acc;
      }
    }
  }
  return out;
}

/** Whether a gradient tape is recording (tf.grad / variableGrads in progress). */
function recordingGradients(): boolean {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;
}
