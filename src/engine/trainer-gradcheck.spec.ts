import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { createTrainableLora } from './lora-trainable.js';
import { randomAdapter } from './testing/random-adapter.js';
import { randomCheckpoint } from './testing/random-checkpoint.js';
import { referenceForward, toRef, toRefWeights, type RefLoraTerm, type RefWeight } from './testing/reference-lm.js';
import { createRng, ensureGradients, maskedCrossEntropy } from './trainer.js';
import { TransformerModel } from './transformer.js';

beforeAll(async () => {
  await initBackend();
  await ensureGradients();
});

/** Float64 masked cross-entropy of one sequence from reference logits. */
function refLoss(logits: Float64Array[], targets: number[], mask: number[]): number {
  let total = 0;
  let count = 0;
  logits.forEach((row, s) => {
    if (!mask[s]) return;
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((acc, x) => acc + Math.exp(x - max), 0));
    total += lse - row[targets[s]];
    count++;
  });
  return total / count;
}

describe('LoRA training loss gradient', () => {
  it.each(['gpt2', 'llama'] as const)('analytic grads of A and B equal float64 central differences (%s)', (family) => {
    const ckpt = randomCheckpoint(family, { vocabSize: 23, dModel: 8, nHeads: 2, nLayers: 2 }, 5);
    const config = ckpt.modelConfig;
    const model = TransformerModel.create(config, ckpt.weights);
    const refWeights = toRefWeights(ckpt.weights);
    ckpt.weights.forEach((t) => t.dispose());
    const targets = family === 'gpt2' ? ['c_attn', 'c_fc'] : ['q_proj', 'v_proj', 'down_proj'];
    const init = randomAdapter(config, { rank: 2, alpha: 3, targetModules: targets, std: 0.3 }, 9);
    const lora = createTrainableLora(model, { rank: 2, alpha: 3, seed: 1, init });

    const seq = [3, 17, 8, 1, 22, 5, 11];
    const inputs = seq.slice(0, -1);
    const next = seq.slice(1);
    const mask = [0, 0, 1, 1, 1, 1]; // prompt tokens masked
    const lossOf = () => {
      const app = lora.application();
      const { logits } = model.forward({ tokenIds: tf.tensor2d([inputs], [1, 6], 'int32') }, { lora: app });
      const loss = maskedCrossEntropy(logits!, tf.tensor2d([next], [1, 6], 'int32'), tf.tensor2d([mask], [1, 6]));
      app.dispose();
      return loss;
    };
    const { value, grads } = tf.variableGrads(lossOf, lora.variables());

    // Float64 reference: the same LoRA in PEFT layout, perturbed one entry at a time.
    const refModules = new Map<string, { a: RefWeight; b: RefWeight }>();
    for (const [name, m] of init.modules) refModules.set(name, { a: toRef(m.a), b: toRef(m.b) });
    const term: RefLoraTerm = { strength: 1, alpha: 3, rank: 2, modules: refModules };
    const loss64 = () => refLoss(referenceForward(config, refWeights, inputs, [term]).logits, next, mask);
    expect(Math.abs(value.dataSync()[0] - loss64())).toBeLessThan(1e-5 * loss64());

    const rng = createRng(family === 'gpt2' ? 1 : 2);
    const h = 1e-5;
    const checks: { analytic: number; numeric: number }[] = [];
    for (const [name, f] of lora.factors) {
      const ref = refModules.get(name)!;
      for (const which of ['a', 'b'] as const) {
        const variable = which === 'a' ? f.aT : f.bT; // fast layout: Aᵀ [dIn, r], Bᵀ [r, dOut]
        const g = grads[variable.name].dataSync();
        const [rows, cols] = variable.shape;
        for (let k = 0; k < 4; k++) {
          const i = Math.floor(rng() * rows);
          const j = Math.floor(rng() * cols);
          // Entry (i, j) of the transposed variable is entry (j, i) of A or B.
          const w = ref[which];
          const idx = j * w.shape[1] + i;
          const keep = w.data[idx];
          w.data[idx] = keep + h;
          const up = loss64();
          w.data[idx] = keep - h;
          const down = loss64();
          w.data[idx] = keep;
          checks.push({ analytic: g[i * cols + j], numeric: (up - down) / (2 * h) });
        }
      }
    }
    const scale = Math.max(...checks.map((c) => Math.abs(c.numeric)));
    expect(scale).toBeGreaterThan(1e-3); // the check must see real gradients
    for (const c of checks) expect(Math.abs(c.analytic - c.numeric)).toBeLessThanOrEqual(1e-3 * scale + 1e-6);

    tf.dispose([value, ...Object.values(grads)]);
    lora.dispose();
    model.dispose();
    for (const m of init.modules.values()) tf.dispose([m.a, m.b]);
  });
});
