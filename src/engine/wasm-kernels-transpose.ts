/** Plain-JS transposes over typed arrays (the WASM backend's heap views), cache-blocked in 2-D. */

export type Heap = Float32Array | Int32Array | Uint8Array;

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

export function transpose2d(src: Heap, dst: Heap, offset: number, rows: number, cols: number): void {
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
