/**
 * `node dist/src/engine/testing/train-smoke.js`: a few LoRA training steps on a small seeded random
 * LLaMA, printed as one JSON line `{ backend, losses }`. It exists so a test can run training from
 * the built output under plain Node (no vitest, no tsx), where tfjs gradient registration has
 * broken before (src/engine/gradients.ts); the loss must fall.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../backend.js';
import { createTrainableLora } from '../lora-trainable.js';
import { maskedCrossEntropy, train } from '../trainer.js';
import { TransformerModel } from '../transformer.js';
import { randomCheckpoint } from './random-checkpoint.js';

const STEPS = 8;
const SEQ = 8;

const backend = await initBackend(process.env.LETHE_BACKEND as BackendName | undefined);
const ckpt = randomCheckpoint('llama', { vocabSize: 32, dModel: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, dFf: 24, maxPositions: 16 }, 7);
const model = TransformerModel.create(ckpt.modelConfig, ckpt.weights);
ckpt.weights.forEach((t) => t.dispose());
const lora = createTrainableLora(model, { rank: 4, alpha: 8, seed: 3 });
// One fixed sequence the model must learn to continue: the loss on it falls with every update.
const row = Array.from({ length: SEQ + 1 }, (_, i) => (i * 5 + 3) % 32);
const result = await train({
  variables: lora.variables(),
  examples: [row],
  batchSize: 1,
  steps: STEPS,
  optimizer: { learningRate: 3e-2 },
  loss: (rows) => {
    const app = lora.application();
    const ids = tf.tensor2d(rows.map((r) => r.slice(0, -1)), [rows.length, SEQ], 'int32');
    const targets = tf.tensor2d(rows.map((r) => r.slice(1)), [rows.length, SEQ], 'int32');
    const logits = model.forward({ tokenIds: ids }, { lora: app }).logits!;
    const loss = maskedCrossEntropy(logits, targets, tf.ones([rows.length, SEQ]) as tf.Tensor2D);
    app.dispose();
    return loss;
  },
});
lora.dispose();
model.dispose();
console.log(JSON.stringify({ backend: backend.name, losses: result.losses }));
