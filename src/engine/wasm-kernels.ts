/**
 * Faster kernels for the tfjs WASM backend (tfjs 4.22).
 *
 * On WASM, `matMul` with transposeA/transposeB runs ~10x slower than without, and the backend's
 * Transpose is slower than a plain JS loop over the same memory. MatMul gradients use exactly the
 * transposed forms, so naive training spends most of its time there. We register:
 *   - Transpose: a cache-blocked JS loop over the backend's heap (any rank, float32/int32/bool);
 *   - BatchMatMul and _FusedMatMul: transpose flagged operands with that loop into temporaries,
 *     then call the backend's own kernel on the fast, non-transposed path.
 * Results are bit-identical to transposing first and multiplying without flags.
 */
import * as tf from '@tensorflow/tfjs-core';

type Heap = Float32Array | Int32Array | Uint8Array;

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
 * Replaces the wasm backend's Transpose, BatchMatMul and _FusedMatMul kernels. Idempotent; call
 * after the wasm backend is initialised (initBackend does). Returns false when the wasm kernels
 * are not registered (another backend).
 */
export function installWasmKernels(): boolean {
  if (installed) return true;
  const transpose = tf.getKernel(tf.Transpose, 'wasm');
  const matMul = tf.getKernel(tf.BatchMatMul, 'wasm');
  const fused = tf.getKernel(tf._FusedMatMul, 'wasm');
  if (!transpose || !matMul || !fused) return false;
  replace(transpose, (args, original) => {
    const x = args.inputs.x!;
    const perm = args.attrs.perm as number[];
    if (x.dtype === 'string' || x.dtype === 'complex64' || perm.every((p, i) => p === i)) return original(args);
    return transposeInfo(args.backend, x, perm);
  });
  for (const config of [matMul, fused]) {
    replace(config, (args, original) => {
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return original(args);
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const temps: tf.TensorInfo[] = [];
      const flat = (x: tf.TensorInfo) => {
        const t = transposeInfo(args.backend, x, swapLastTwo(x.shape.length));
        temps.push(t);
        return t;
      };
      try {
        return original({
          ...args,
          inputs: { ...args.inputs, a: transposeA ? flat(a) : a, b: transposeB ? flat(b) : b },
          attrs: { ...args.attrs, transposeA: false, transposeB: false },
        });
      } finally {
        for (const t of temps) args.backend.disposeData(t.dataId);
      }
    });
  }
  installed = true;
  return true;
}

type Original = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

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

/**
 * Writes `src` (row-major, `shape`) permuted by `perm` into `dst`, as tf.transpose does:
 * out.shape[i] = shape[perm[i]].
 */
export function transposeArray(src: Heap, shape: readonly number[], perm: readonly number[], dst: Heap): void {
  // Drop size-1 axes and merge axes that stay adjacent: the loops below then see the simplest form.
  const { shape: s, perm: p } = simplify(shape, perm);
  const rank = s.length;
  if (rank <= 1) {
    dst.set(src.subarray(0, dst.length));
    return;
  }
  if (p[rank - 1] === rank - 2 && p[rank - 2] === rank - 1 && p.slice(0, rank - 2).every((v, i) => v === i)) {
    // Batched 2-D transpose: the matMul case.
    const rows = s[rank - 2];
    const cols = s[rank - 1];
    const batch = src.length / (rows * cols);
    for (let b = 0; b < batch; b++) transpose2d(src, dst, b * rows * cols, rows, cols);
    return;
  }
  generalTranspose(src, s, p, dst);
}

const BLOCK = 32;

function transpose2d(src: Heap, dst: Heap, offset: number, rows: number, cols: number): void {
  for (let r0 = 0; r0 < rows; r0 += BLOCK) {
    const r1 = Math.min(rows, r0 + BLOCK);
    for (let c0 = 0; c0 < cols; c0 += BLOCK) {
      const c1 = Math.min(cols, c0 + BLOCK);
      for (let r = r0; r < r1; r++) {
        let si = offset + r * cols + c0;
        let di = offset + c0 * rows + r;
        for (let c = c0; c < c1; c++, si++, di += rows) dst[di] = src[si];
      }
    }
  }
}

function generalTranspose(src: Heap, shape: number[], perm: number[], dst: Heap): void {
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  inStrides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * shape[i + 1];
  const outShape = perm.map((q) => shape[q]);
  const stride = perm.map((q) => inStrides[q]); // input stride of each output axis
  const inner = outShape[rank - 1];
  const innerStride = stride[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let base = 0;
  for (let o = 0; o < dst.length; o += inner) {
    if (innerStride === 1) dst.set(src.subarray(base, base + inner), o);
    else for (let k = 0, si = base; k < inner; k++, si += innerStride) dst[o + k] = src[si];
    // Odometer over the outer output axes.
    for (let ax = rank - 2; ax >= 0; ax--) {
      idx[ax]++;
      base += stride[ax];
      if (idx[ax] < outShape[ax]) break;
      base -= stride[ax] * outShape[ax];
      idx[ax] = 0;
    }
  }
}

function simplify(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  // Remove size-1 axes, renumbering the rest.
  const keep = shape.map((d) => d !== 1);
  const newIndex: number[] = [];
  let k = 0;
  for (let i = 0; i < shape.length; i++) newIndex.push(keep[i] ? k++ : -1);
  const s1 = shape.filter((_, i) => keep[i]);
  const p1 = perm.filter((q) => keep[q]).map((q) => newIndex[q]);
  // Merge runs of output axes that are consecutive input axes.
  const groups: number[][] = [];
  for (const q of p1) {
    const last = groups.at(-1);
    if (last && last.at(-1) === q - 1) last.push(q);
    else groups.push([q]);
  }
  const order = groups.map((g) => g[0]).sort((x, y) => x - y);
  const perm2 = groups.map((g) => order.indexOf(g[0]));
  const shape2 = order.map((first) => groups.find((g) => g[0] === first)!.reduce((prod, q) => prod * s1[q], 1));
  return { shape: shape2, perm: perm2 };
}

/** Restores the backend's own kernels (for benchmarks and tests that compare both). */
export function uninstallWasmKernels(): void {
  for (const config of originals.splice(0)) {
    tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
  }
  installed = false;
}

/** Whether installWasmKernels has replaced the kernels in this process. */
export function wasmKernelsInstalled(): boolean {
  return installed;
}
