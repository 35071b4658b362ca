import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers every tfjs-core gradient (see src/engine/gradients.ts)
import { describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { createTrainableLora, disposeAdapter } from './lora-trainable.js';
import type { LoraAdapter } from './lora-types.js';
import { randomAdapter } from './testing/random-adapter.js';
import { randomCheckpoint, type RandomCheckpointSizes } from './testing/random-checkpoint.js';
import { referenceForward, toRef, toRefWeights, type RefLoraTerm, type RefWeights } from './testing/reference-lm.js';
import { TransformerModel } from './transformer.js';
import { gaussian, linearModules, seededRandom } from './transformer-weights.js';

// Gradients of the float32 training-mode forward (tfjs autodiff, on the backend in use: WASM here)
// against central finite differences of the float64 reference (step 1e-5, error ~1e-9).
// Tolerance: |g − fd| ≤ 2e-3 · max(|fd|, 0.05 · max|g| of that tensor): float32 round-off in a
// backward pass over a few hundred terms stays far below it, a wrong gradient does not.
const REL = 2e-3;
const STEP = 1e-5;

const backend = await initBackend();

const tokens = [4, 17, 4, 30, 8, 17]; // repeated ids: the embedding gradient must add them up

/** A fixed random linear functional of the logits, so every logit contributes to the loss. */
function coefficients(vocab: number): Float32Array {
  return gaussian(seededRandom(77), tokens.length * vocab, 1);
}

function refLoss(c: TransformerModel['config'], w: RefWeights, coeff: Float32Array, lora: RefLoraTerm[] = []): number {
  const { logits } = referenceForward(c, w, tokens, lora);
  let loss = 0;
  logits.forEach((row, t) => row.forEach((v, i) => (loss += v * coeff[t * c.vocabSize + i])));
  return loss;
}

function finiteDifference(f: () => number, data: Float64Array, index: number): number {
  const saved = data[index];
  data[index] = saved + STEP;
  const up = f();
  data[index] = saved - STEP;
  const down = f();
  data[index] = saved;
  return (up - down) / (2 * STEP);
}

function expectClose(g: number, fd: number, scale: number, what: string): void {
  const bound = REL * Math.max(Math.abs(fd), 0.05 * scale);
  expect(Math.abs(g - fd), `${what}: autodiff ${g} vs finite difference ${fd}`).toBeLessThanOrEqual(bound);
}

const cases: { family: 'gpt2' | 'llama'; sizes: RandomCheckpointSizes; probes: string[] }[] = [
  {
    family: 'gpt2',
    sizes: { nLayers: 2, dModel: 8, nHeads: 2 },
    probes: ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.h.0.attn.c_attn.weight', 'transformer.h.1.mlp.c_fc.bias', 'transformer.h.0.ln_1.weight', 'transformer.ln_f.bias'],
  },
  {
    family: 'llama',
    sizes: { nLayers: 2, dModel: 8, nHeads: 4, nKvHeads: 2, dFf: 12 },
    probes: ['model.embed_tokens.weight', 'model.layers.0.self_attn.k_proj.weight', 'model.layers.1.mlp.down_proj.weight', 'model.layers.0.input_layernorm.weight', 'lm_head.weight'],
  },
  {
    family: 'llama',
    sizes: { nLayers: 1, dModel: 8, nHeads: 2, nKvHeads: 1, dFf: 12, tieWordEmbeddings: true },
    probes: ['model.embed_tokens.weight', 'model.layers.0.self_attn.v_proj.weight', 'model.norm.weight'],
  },
];

describe(`training-mode forward gradients on ${backend.name}`, () => {
  it.each(cases)('$family $sizes: every weight gets a finite gradient matching finite differences', ({ family, sizes, probes }) => {
    const ck = randomCheckpoint(family, { vocabSize: 37, ...sizes }, 21);
    const c = ck.modelConfig;
    const sut = TransformerModel.create(c, ck.weights, { trainable: true });
    const coeff = coefficients(c.vocabSize);
    const coeffT = tf.tensor3d(coeff, [1, tokens.length, c.vocabSize]);
    const ids = tf.tensor2d([tokens], [1, tokens.length], 'int32');
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(sut.forward({ tokenIds: ids }).logits!, coeffT)) as tf.Scalar, sut.variables());
    const ref = toRefWeights(ck.weights);
    expect(value.dataSync()[0]).toBeCloseTo(refLoss(c, ref, coeff), 3);
    const names = [...sut.params.keys()];
    expect(Object.keys(grads)).toHaveLength(names.length);
    const byName = new Map(names.map((n) => [n, grads[(sut.params.get(n) as tf.Variable).name]]));
    for (const [name, g] of byName) expect(g.dataSync().every(Number.isFinite), name).toBe(true);

    const rand = seededRandom(5);
    for (const name of probes) {
      const hf = ref.get(name)!;
      const g = byName.get(name)!;
      const gData = g.dataSync();
      const scale = Math.max(...gData.map(Math.abs));
      // Fast layout: LLaMA linears and lm_head are stored transposed ([in, out]).
      const transposed = c.family === 'llama' && hf.shape.length === 2 && !name.includes('embed_tokens');
      const picks = name.includes('embed') || name.includes('wte') ? [4 * c.dModel + 1, 17 * c.dModel + 3, 30 * c.dModel] : [0, 1, 2].map(() => Math.floor(rand() * hf.data.length));
      for (const index of picks) {
        const fd = finiteDifference(() => refLoss(c, ref, coeff), hf.data, index);
        let gIndex = index;
        if (transposed) {
          const [rows, cols] = hf.shape;
          gIndex = (index % cols) * rows + Math.floor(index / cols);
        }
        expectClose(gData[gIndex], fd, scale, `${name}[${index}]`);
      }
    }
    tf.dispose([value, ...Object.values(grads), coeffT, ids, ...ck.weights.values()]);
    sut.dispose();
  });

  it.each(['gpt2', 'llama'] as const)('computes no weight gradients for frozen weights when training LoRA (%s)', async (family) => {
    const ck = randomCheckpoint(family, { nLayers: 2, dModel: 8, nHeads: 4, nKvHeads: 2, dFf: 32 }, 3);
    const c = ck.modelConfig;
    const model = TransformerModel.create(c, ck.weights);
    const sut = createTrainableLora(model, { rank: 3, alpha: 6, seed: 1 });
    const app = sut.application();
    const ids = tf.tensor2d([tokens], [1, tokens.length], 'int32');
    const frozen = new Set(linearModules(c).map((m) => `${m.dIn}x${m.dOut}`));
    let grads: tf.NamedTensorMap = {};
    const profile = await tf.profile(() => {
      grads = tf.variableGrads(() => tf.sum(model.forward({ tokenIds: ids }, { lora: app }).logits!) as tf.Scalar, sut.variables()).grads;
    });
    // A weight gradient of a frozen [dIn, dOut] weight would be a kernel output of that shape
    // (Identity is the tape saving an input: shared data, no work).
    const computed = profile.kernels.filter((k) => k.name !== 'Identity');
    const wasted = computed.filter((k) => k.outputShapes.some((s) => s.length >= 2 && frozen.has(`${s.at(-2)}x${s.at(-1)}`)));
    expect(computed.some((k) => k.name === 'BatchMatMul')).toBe(true);
    expect(wasted.map((k) => `${k.name} [${k.outputShapes}]`)).toEqual([]);
    expect(Object.keys(grads)).toHaveLength(sut.variables().length);
    tf.dispose([...Object.values(grads), ids, ...ck.weights.values()]);
    app.dispose();
    sut.dispose();
    model.dispose();
  });

  it('trains only the LoRA variables through a frozen model, with gradients matching finite differences', () => {
    const ck = randomCheckpoint('llama', { nLayers: 2, dModel: 8, nHeads: 4, nKvHeads: 2, dFf: 12 }, 8);
    const c = ck.modelConfig;
    const model = TransformerModel.create(c, ck.weights);
    // Start from a random adapter (B ≠ 0) so A's gradient is not trivially zero.
    const start: LoraAdapter = randomAdapter(c, { rank: 3, alpha: 6, targetModules: ['q_proj', 'up_proj'] }, 2);
    const sut = createTrainableLora(model, { rank: 3, alpha: 6, seed: 1, init: start });
    const app = sut.application(0.8);
    const coeff = coefficients(c.vocabSize);
    const coeffT = tf.tensor3d(coeff, [1, tokens.length, c.vocabSize]);
    const ids = tf.tensor2d([tokens], [1, tokens.length], 'int32');
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(model.forward({ tokenIds: ids }, { lora: app }).logits!, coeffT)) as tf.Scalar, sut.variables());
    expect(Object.keys(grads)).toHaveLength(sut.variables().length);
    const ref = toRefWeights(ck.weights);
    const term: RefLoraTerm = {
      strength: 0.8,
      alpha: 6,
      rank: 3,
      modules: new Map([...start.modules].map(([k, m]) => [k, { a: toRef(m.a), b: toRef(m.b) }])),
    };
    for (const module of ['model.layers.0.self_attn.q_proj', 'model.layers.1.mlp.up_proj']) {
      const f = sut.factors.get(module)!;
      const refM = term.modules.get(module)!;
      for (const [which, variable, hf] of [['A', f.aT, refM.a], ['B', f.bT, refM.b]] as const) {
        const g = grads[variable.name].dataSync();
        const scale = Math.max(...g.map(Math.abs));
        const [rows, cols] = hf.shape;
        for (const index of [0, 5, hf.data.length - 1]) {
          const fd = finiteDifference(() => refLoss(c, ref, coeff, [term]), hf.data, index);
          const gIndex = (index % cols) * rows + Math.floor(index / cols); // variables hold Aᵀ, Bᵀ
          expectClose(g[gIndex], fd, scale, `${module} ${which}[${index}]`);
        }
      }
    }
    tf.dispose([...Object.values(grads), coeffT, ids, ...ck.weights.values()]);
    app.dispose();
    sut.dispose();
    disposeAdapter(start);
    model.dispose();
  });
});
