/**
 * Faster kernels for the tfjs WASM backend (tfjs 4.22).
 *
 * On WASM, `matMul` with transposeA/transposeB runs ~10x slower than without, and the backend's
 * Transpose is slower than a plain JS loop over the same memory. MatMul gradients use exactly the
 * transposed forms, so naive training spends most of its time there. We register:
 *   - Transpose: a cache-blocked JS loop over the backend's heap (any rank, float32/int32/bool);
 *   - BatchMatMul and _FusedMatMul: transpose flagged operands with that loop into temporaries,
 *     then call the backend's own kernel on the fast, non-transposed path;
 *   - GatherV2 along axis 0 (embedding lookups): one row copy per index, where the backend's
 *     per-element C++ loop took ~2.8 ms for 768 rows of 128 floats (~0.1 ms here);
 *   - and a new kernel, the fused per-row LoRA term (wasm-kernels-lora.ts).
 * Results are bit-identical to transposing first and multiplying without flags.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerRowLoraKernel, unregisterRowLoraKernel } from './wasm-kernels-lora.js';
import { transpose2d, transposeArray, type Heap } from './wasm-kernels-transpose.js';

export { transposeArray } from './wasm-kernels-transpose.js';

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Heap;
  disposeData(dataId: tf.DataId): boolean;
}

interface KernelArgs {
  inputs: Record<string, tf.TensorInfo | null | undefined>;
  backend: WasmBackendLike;
  attrs: Record<string, unknown>;
}

let installed = false;
const originals: tf.KernelConfig[] = [];

/**
 * Replaces the wasm backend's Transpose, BatchMatMul, _FusedMatMul and GatherV2 kernels. Idempotent; call
 * after the wasm backend is initialised (initBackend does). Returns false when the wasm kernels
 * are not registered (another backend).
 */
export function installWasmKernels(): boolean {
  if (installed) return true;
  const transpose = tf.getKernel(tf.Transpose, 'wasm');
  const matMul = tf.getKernel(tf.BatchMatMul, 'wasm');
  const fused = tf.getKernel(tf._FusedMatMul, 'wasm');
  const gather = tf.getKernel(tf.GatherV2, 'wasm');
  if (!transpose || !matMul || !fused || !gather) return false;
  replace(transpose, (args, original) => {
    const x = args.inputs.x!;
    const perm = args.attrs.perm as number[];
    if (x.dtype === 'string' || x.dtype === 'complex64' || perm.every((p, i) => p === i)) return original(args);
    return transposeInfo(args.backend, x, perm);
  });
  for (const config of [matMul, fused]) replace(config, fastMatMul);
  replace(gather, fastGather);
  registerRowLoraKernel();
  installed = true;
  return true;
}

type Original = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/**
 * BatchMatMul / _FusedMatMul on the backend's fast path, which is a single batch without
 * transpose flags (batched calls run ~30x slower). A shared right operand folds the batch into rows
 * ([batch·m, k]·[k, n]); otherwise each batch runs as its own single-batch call. Flagged operands
 * are transposed with the JS loop.
 */
function fastMatMul(args: KernelArgs, original: Original): tf.TensorInfo | tf.TensorInfo[] {
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const { a, b, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined> & { a: tf.TensorInfo; b: tf.TensorInfo };
  const [ra, rb] = [a.shape.length, b.shape.length];
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  if ((batchA === 1 && batchB === 1 && !transposeA && !transposeB) || preluActivationWeights) return original(args);
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const outShape = [...outer, m, n];
  const call = (x: tf.TensorInfo, y: tf.TensorInfo) =>
    original({ ...args, inputs: { ...args.inputs, a: x, b: y }, attrs: { ...args.attrs, transposeA: false, transposeB: false } }) as tf.TensorInfo;
  const { backend } = args;
  const temps: tf.TensorInfo[] = [];
  const temp = (shape: number[]) => {
    const t = backend.makeOutput(shape, 'float32');
    temps.push(t);
    return t;
  };
  try {
    if (batchB === 1 && !transposeA) {
      // Same B for every batch: one [batch·m, k]·[k, n] product, the output already in place.
      let b2 = b;
      if (transposeB) {
        const cached = cachedTranspose(backend, b);
        b2 = cached ?? transposeInfo(backend, b, swapLastTwo(rb));
        if (!cached) temps.push(b2);
      }
      const out = call({ ...a, shape: [1, batchA * m, k] }, { ...b2, shape: [1, k, n] });
      return { ...out, shape: outShape };
    }
    const plain = !args.inputs.bias && ((args.attrs.activation ?? 'linear') === 'linear');
    if (batchA === 1 && batchB === 1 && transposeA && !transposeB && m < n && plain) {
      // Aᵀ·B with a wide fresh B (weight gradients xᵀ·dY): the backend packs its right operand on
      // every call, at several times the product's cost; Cᵀ = Bᵀ·A packs the narrow A instead.
      const bT = transposeInfo(backend, b, swapLastTwo(rb));
      temps.push(bT);
      const r = call({ ...bT, shape: [1, n, k] }, { ...a, shape: [1, k, m] });
      temps.push(r);
      const out = transposeInfo(backend, { ...r, shape: [n, m] }, [1, 0]);
      return { ...out, shape: outShape };
    }
    const batch = Math.max(batchA, batchB);
    const out = backend.makeOutput(outShape, 'float32');
    for (let z = 0; z < batch; z++) {
      const az = temp([1, m, k]);
      const bz = temp([1, k, n]);
      copyMatrix(backend, a, batchA === 1 ? 0 : z, transposeA, az);
      copyMatrix(backend, b, batchB === 1 ? 0 : z, transposeB, bz);
      const r = call(az, bz);
      backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(r), z * m * n);
      backend.disposeData(r.dataId);
      backend.disposeData(az.dataId);
      backend.disposeData(bz.dataId);
      temps.length = 0;
    }
    return out;
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

/** GatherV2 of whole rows (axis 0, no batch dims): out[i] = x[indices[i]], copied row by row. */
function fastGather(args: KernelArgs, original: Original): tf.TensorInfo | tf.TensorInfo[] {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = args.attrs as { axis: number; batchDims?: number };
  const simple = x.shape.length >= 1 && (axis === 0 || axis === -x.shape.length) && !batchDims;
  if (!simple || indices.dtype !== 'int32' || !['float32', 'int32', 'bool'].includes(x.dtype)) return original(args);
  const { backend } = args;
  const rows = x.shape[0];
  const row = sizeOf(x.shape.slice(1));
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  // Views after makeOutput: its malloc may grow (and detach) the heap.
  const idx = backend.typedArrayFromHeap(indices);
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i];
    if (!(r >= 0 && r < rows)) {
      backend.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${r} is not in [0, ${rows - 1}]`);
    }
    dst.set(src.subarray(r * row, r * row + row), i * row);
  }
  return out;
}

// Transposed copies of right operands used transposed more than once (frozen weights in the
// backward pass: dX = dY·Wᵀ). Reusing one copy also reuses the backend's packed-weights operator,
// which is otherwise rebuilt per call at several times the cost of the product itself.
const transposeCache = new Map<tf.DataId, { shape: string; copy: tf.TensorInfo }>();
const transposeUses = new WeakMap<tf.DataId, number>();
const hookedBackends = new WeakSet<WasmBackendLike>();

function cachedTranspose(backend: WasmBackendLike, x: tf.TensorInfo): tf.TensorInfo | undefined {
  // Reshapes share data: the copy is only valid for the shape it was made from.
  const shape = x.shape.join();
  const hit = transposeCache.get(x.dataId);
  if (hit) return hit.shape === shape ? hit.copy : undefined;
  const uses = (transposeUses.get(x.dataId) ?? 0) + 1;
  transposeUses.set(x.dataId, uses);
  if (uses < 2) return undefined;
  hookDisposal(backend);
  const copy = transposeInfo(backend, x, swapLastTwo(x.shape.length));
  transposeCache.set(x.dataId, { shape, copy });
  return copy;
}

/** Frees a cached transposed copy when its source's data is freed. */
function hookDisposal(backend: WasmBackendLike): void {
  if (hookedBackends.has(backend)) return;
  hookedBackends.add(backend);
  const dispose = backend.disposeData.bind(backend);
  backend.disposeData = (dataId: tf.DataId, force?: boolean) => {
    const freed = (dispose as (id: tf.DataId, force?: boolean) => boolean)(dataId, force);
    const entry = freed ? transposeCache.get(dataId) : undefined;
    if (entry) {
      transposeCache.delete(dataId);
      dispose(entry.copy.dataId);
    }
    return freed;
  };
}

/** Number of transposed weight copies currently cached (for tests and memory accounting). */
export function cachedTransposeCount(): number {
  return transposeCache.size;
}

/** Copies matrix `index` of a batched [.., r, c] tensor into `dst` ([1, r, c], or [1, c, r] transposed). */
function copyMatrix(backend: WasmBackendLike, src: tf.TensorInfo, index: number, transpose: boolean, dst: tf.TensorInfo): void {
  const rank = src.shape.length;
  const [r, c] = [src.shape[rank - 2], src.shape[rank - 1]];
  const from = backend.typedArrayFromHeap(src);
  const to = backend.typedArrayFromHeap(dst);
  const offset = index * r * c;
  if (transpose) transpose2d(from.subarray(offset, offset + r * c), to, 0, r, c);
  else to.set(from.subarray(offset, offset + r * c));
}

function sizeOf(shape: number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function replace(config: tf.KernelConfig, kernel: (args: KernelArgs, original: Original) => tf.TensorInfo | tf.TensorInfo[]): void {
  const original = config.kernelFunc as unknown as Original;
  originals.push(config);
  tf.unregisterKernel(config.kernelName, config.backendName);
  // Keep the original setupFunc: it binds the C++ entry points the original kernel calls.
  tf.registerKernel({
    ...config,
    kernelFunc: ((args: KernelArgs) => kernel(args, original)) as unknown as tf.KernelFunc,
  });
}

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

function transposeInfo(backend: WasmBackendLike, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  const outShape = perm.map((p) => x.shape[p]);
  const out = backend.makeOutput(outShape, x.dtype);
  // Views after makeOutput: its malloc may grow (and detach) the heap.
  transposeArray(backend.typedArrayFromHeap(x), x.shape, perm, backend.typedArrayFromHeap(out));
  return out;
}

/** Restores the backend's own kernels (for benchmarks and tests that compare both). */
export function uninstallWasmKernels(): void {
  for (const [source, { copy }] of transposeCache) {
    transposeCache.delete(source);
    if (tf.getBackend() === 'wasm') (tf.backend() as unknown as WasmBackendLike).disposeData(copy.dataId);
  }
  for (const config of originals.splice(0)) {
    tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
  }
  unregisterRowLoraKernel();
  installed = false;
}

/** Whether installWasmKernels has replaced the kernels in this process. */
export function wasmKernelsInstalled(): boolean {
  return installed;
}
