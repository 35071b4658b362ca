import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { randomCheckpoint } from '../engine/testing/random-checkpoint.js';
import { referenceForward, toRefWeights } from '../engine/testing/reference-lm.js';
import { TransformerModel } from '../engine/transformer.js';
import { detectorFeatures } from './detector-features.js';

await initBackend();

describe('detectorFeatures', () => {
  const ck = randomCheckpoint('llama', { maxPositions: 32 }, 7);
  const model = TransformerModel.create(ck.modelConfig, ck.weights);
  afterAll(() => {
    model.dispose();
    tf.dispose([...ck.weights.values()]);
  });

  it('is every layer’s hidden state at each prompt’s final token (float64 reference), padding-independent', () => {
    const prompts = [[3, 5, 7, 9, 11, 2], [4, 8], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]];
    // Batch size 2: one chunk with padding, one alone.
    const got = detectorFeatures(model, prompts, { batchSize: 2 });
    expect(got).toHaveLength(3);
    prompts.forEach((ids, p) => {
      const ref = referenceForward(ck.modelConfig, toRefWeights(ck.weights), ids).hidden;
      expect(got[p]).toHaveLength(ck.modelConfig.nLayers + 1);
      ref.forEach((layer, l) => {
        const want = layer[ids.length - 1];
        const err = Math.max(...Array.from(want, (v, i) => Math.abs(v - got[p][l][i]))) / Math.max(...Array.from(want, Math.abs));
        expect(err).toBeLessThan(2e-4);
      });
    });
  });
});
