/** Language-model losses and batch building for the trainer. */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Mean cross-entropy over the positions where mask is 1:
 *   Σ_{b,s} mask·(logsumexp(logits[b,s]) − logits[b,s,targets[b,s]]) / max(Σ mask, 1).
 * `targets[b, s]` is the token that should follow position s (already shifted). Uses a one-hot
 * product rather than gather, whose gradient WASM lacks. Differentiable in `logits` only.
 * @param logits [batch, seq, vocab]
 * @param targets [batch, seq] int32
 * @param mask [batch, seq] float32, 1 on target tokens, 0 on prompt and padding
 */
export function maskedCrossEntropy(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const vocab = logits.shape[2];
    const oneHot = tf.oneHot(tf.cast(targets, 'int32'), vocab); // [b, s, V]
    const m = tf.cast(mask, 'float32');
    const weights = tf.expandDims(tf.div(m, tf.maximum(tf.sum(m), 1)), -1); // [b, s, 1]
    return crossEntropy(logits, oneHot, weights);
  });
}

/**
 * Σ −w·log softmax(logits)[target] with its analytic gradient w·(softmax − onehot). tf's own
 * gradient of logSumExp goes through max's gradient, a broadcast Equal that takes ~100 ms per
 * [8, 48, 1528] call on WASM.
 */
const crossEntropy = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [logits, oneHot, weights] = args as tf.Tensor[];
  const save = args[3] as tf.GradSaveFunc;
  const logp = tf.logSoftmax(logits);
  save([logp, oneHot, weights]);
  return {
    value: tf.neg(tf.sum(tf.mul(tf.mul(logp, oneHot), weights))) as tf.Scalar,
    gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
      const [lp, oh, w] = saved;
      return [tf.mul(tf.mul(tf.sub(tf.exp(lp), oh), w), dy), tf.zerosLike(oh), tf.zerosLike(w)];
    },
  };
}) as Parameters<typeof tf.customGrad<tf.Scalar>>[0]) as (logits: tf.Tensor, oneHot: tf.Tensor, weights: tf.Tensor) => tf.Scalar;

/** One training example: the prompt is context only; loss is taken on the completion tokens. */
export interface LmExample {
  prompt: number[];
  completion: number[];
}

/** Padded next-token batch as plain arrays (row-major), ready for tf.tensor2d. */
export interface LmBatch {
  batch: number;
  seq: number;
  /** [batch, seq] input ids, right-padded with padId. */
  inputIds: Int32Array;
  /** [batch, seq] next-token targets (padId where masked). */
  targets: Int32Array;
  /** [batch, seq] 1 where the target is a completion token. */
  mask: Float32Array;
  /** Number of completion tokens (mask sum). */
  targetTokens: number;
}

/**
 * Builds a shifted, right-padded batch: sequence = prompt ++ completion, inputs = seq[:-1],
 * targets = seq[1:], mask = 1 exactly where the target is a completion token. Sequences longer
 * than maxLen + 1 keep their first tokens (prompt first).
 */
export function buildLmBatch(examples: LmExample[], padId: number, maxLen = Infinity): LmBatch {
  const seqs = examples.map((e) => [...e.prompt, ...e.completion].slice(0, maxLen + 1));
  const seq = Math.max(1, ...seqs.map((s) => s.length - 1));
  const batch = examples.length;
  const inputIds = new Int32Array(batch * seq).fill(padId);
  const targets = new Int32Array(batch * seq).fill(padId);
  const mask = new Float32Array(batch * seq);
  let targetTokens = 0;
  seqs.forEach((s, b) => {
    const promptLen = examples[b].prompt.length;
    for (let i = 0; i + 1 < s.length; i++) {
      inputIds[b * seq + i] = s[i];
      targets[b * seq + i] = s[i + 1];
      if (i + 1 >= promptLen) {
        mask[b * seq + i] = 1;
        targetTokens++;
      }
    }
  });
  return { batch, seq, inputIds, targets, mask, targetTokens };
}
