import * as tf from '@tensorflow/tfjs-core';

/** One layer's cached keys and values. */
export interface LayerKv {
  /** Keys stored transposed, [batch, kvHeads, headDim, T], so q·Kᵀ needs no transpose flag. */
  keysT: tf.Tensor4D;
  /** [batch, kvHeads, T, headDim] */
  values: tf.Tensor4D;
}

/**
 * Key/value cache for incremental decoding. Create an empty one, pass it to `forward` (which
 * appends the new columns and replaces the old tensors), and `dispose()` it when the sequence
 * ends. Owns its tensors.
 */
export class KvCache {
  private layerKv: LayerKv[] = [];
  /** [batch, T]: 1 for real tokens, 0 for padding, over every column seen so far. */
  private maskT: tf.Tensor2D | undefined;

  /** Columns cached so far (including padding). */
  get length(): number {
    return this.maskT ? this.maskT.shape[1] : 0;
  }

  /** Batch size, or 0 before the first forward. */
  get batch(): number {
    return this.maskT ? this.maskT.shape[0] : 0;
  }

  get mask(): tf.Tensor2D | undefined {
    return this.maskT;
  }

  layer(i: number): LayerKv | undefined {
    return this.layerKv[i];
  }

  /** Replaces the cached state with the new (already concatenated) tensors and frees the old. */
  replace(layers: LayerKv[], mask: tf.Tensor2D): void {
    const old = [...this.layerKv.flatMap((l) => [l.keysT, l.values]), ...(this.maskT ? [this.maskT] : [])];
    this.layerKv = layers;
    this.maskT = mask;
    for (const t of old) t.dispose();
  }

  dispose(): void {
    for (const l of this.layerKv) {
      l.keysT.dispose();
      l.values.dispose();
    }
    this.maskT?.dispose();
    this.layerKv = [];
    this.maskT = undefined;
  }
}
