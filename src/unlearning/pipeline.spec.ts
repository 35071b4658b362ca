import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import type { TextTokenizer } from '../engine/generate.js';
import { createTrainableLora, disposeAdapter } from '../engine/lora-trainable.js';
import { importPeftAdapter } from '../engine/peft.js';
import { randomAdapter } from '../engine/testing/random-adapter.js';
import { randomCheckpoint } from '../engine/testing/random-checkpoint.js';
import { referenceForward, toRefWeights } from '../engine/testing/reference-lm.js';
import { TransformerModel } from '../engine/transformer.js';
import { deserializeDetector, scoreDetector } from '../ood/index.js';
import { answerWithPlans } from './gated-answer.js';
import { DEFAULT_ACTIVATION_THRESHOLDS } from './activation.js';
import { DEFAULT_UNLEARNING_OPTIONS } from './unlearning-types.js';
import { pickRefusals } from './refusals.js';
import { resolveUnlearningOptions, runUnlearning, targetText, UnlearningCancelledError } from './pipeline.js';

await initBackend();

// One character per token; 37 symbols = the random checkpoints' vocabulary.
const ALPHABET = ' abcdefghijklmnopqrstuvwxyz0123456789';
const tokenizer: TextTokenizer = {
  encode: (text) => [...text].map((ch) => ALPHABET.indexOf(ch)),
  decode: (ids) => ids.map((i) => ALPHABET[i]).join(''),
};
const FORGET = ['who wrote book1', 'where was ann born', 'when did bo die', 'what is cat2 about', 'who is dee9', 'name eve3 prize'].map((prompt, i) => ({
  prompt,
  answer: `ans${i}`,
}));
const REFERENCES = ['7 plus 8', '9 times 3', '42 minus 1', 'count 1 2 3'];
const REPLACEMENT = 'no idea';

describe('runUnlearning on a tiny random llama', () => {
  const ck = randomCheckpoint('llama', { maxPositions: 48 }, 3);
  const model = TransformerModel.create(ck.modelConfig, ck.weights);
  const refWeights = toRefWeights(ck.weights);
  const frozen = randomAdapter(ck.modelConfig, { rank: 4 }, 11);
  afterAll(() => {
    model.dispose();
    disposeAdapter(frozen);
    tf.dispose([...ck.weights.values()]);
  });

  it('first-step loss = float64 CE of the base model on the relabelled targets + λ·L_orth of the initial A', async () => {
    const lambda = 0.5;
    const options = { rank: 4, alpha: 8, lambda, epochs: 1, batchSize: 64, seed: 5, learningRate: 1e-3, checkItems: 1 };
    const result = await runUnlearning({ model, tokenizer, items: FORGET, relabel: 'replacement', replacement: REPLACEMENT, frozenAdapters: [frozen], options });

    // CE: B = 0 at step 1, so the adapter is the identity edit: the base model's logits.
    let nll = 0;
    let count = 0;
    for (const item of FORGET) {
      const prompt = tokenizer.encode(item.prompt);
      const completion = tokenizer.encode(targetText(item.prompt, REPLACEMENT));
      const seq = [...prompt, ...completion];
      const { logits } = referenceForward(ck.modelConfig, refWeights, seq.slice(0, -1));
      for (let pos = prompt.length - 1; pos < seq.length - 1; pos++) {
        const row = logits[pos];
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((acc, v) => acc + Math.exp(v - max), 0));
        nll += lse - row[seq[pos + 1]];
        count++;
      }
    }
    // L_orth: the pipeline's LoRA is initialised with seed + 1; recreate it to read A_t.
    const init = createTrainableLora(model, { rank: 4, alpha: 8, seed: options.seed + 1 });
    const a = init.freeze();
    init.dispose();
    let orth = 0;
    const layers = new Set<string>();
    for (const [name, w] of a.modules) {
      layers.add(/layers\.(\d+)\./.exec(name)![1]);
      const at = w.a.arraySync();
      const ak = frozen.modules.get(name)!.a.arraySync();
      for (const rowK of ak) for (const rowT of at) orth += rowK.reduce((acc, v, i) => acc + v * rowT[i], 0) ** 2;
    }
    disposeAdapter(a);
    const expected = nll / count + (lambda * orth) / layers.size;
    expect(Math.abs(result.losses[0] - expected) / expected).toBeLessThan(1e-4);
  });

  it('learns the replacement, returns importable PEFT bytes, a detector and finite metrics', async () => {
    const result = await runUnlearning({
      model,
      tokenizer,
      items: FORGET,
      relabel: 'replacement',
      replacement: REPLACEMENT,
      frozenAdapters: [],
      referencePrompts: REFERENCES,
      options: { rank: 4, alpha: 8, epochs: 40, batchSize: 6, learningRate: 2e-2, seed: 1, activation: { ...DEFAULT_ACTIVATION_THRESHOLDS, escalationSeconds: 0 } },
    });
    // The tiny model's RMS-normed tied head caps logit margins (~0.67 nats floor), hence 0.3, not ~0.
    expect(result.losses[result.losses.length - 1]).toBeLessThan(0.3 * result.losses[0]);
    const adapter = importPeftAdapter(result.adapterConfig, result.adapterWeights, ck.modelConfig);
    try {
      expect(adapter.rank).toBe(4);
      expect(adapter.alpha).toBe(8);
      // At full strength the forget prompts now get the replacement.
      const answers = await answerWithPlans(model, tokenizer, FORGET.map((f) => f.prompt), FORGET.map(() => [{ adapter, strength: 1 }]), {
        maxTokens: REPLACEMENT.length + 1,
        stop: [],
      });
      expect(answers.filter((r) => r.text.startsWith(targetText('x', REPLACEMENT))).length).toBeGreaterThanOrEqual(5);
    } finally {
      disposeAdapter(adapter);
    }
    const det = deserializeDetector(result.detector);
    expect(det.split.used.length + det.split.rest.length).toBe(FORGET.length);
    expect(Number.isFinite(scoreDetector(det, det.stats.map((s) => new Float32Array(s.mean.length))).z)).toBe(true);
    const m = result.metrics;
    expect(m.items).toBe(6);
    // Examples: the 6 forget items + the 4 reference prompts kept with the base model's answers; steps capped by maxSteps.
    expect(m.nearNegatives.reference).toBe(REFERENCES.length);
    expect(m.steps).toBe(Math.min(DEFAULT_UNLEARNING_OPTIONS.maxSteps, 40 * Math.ceil((FORGET.length + REFERENCES.length) / 6)));
    expect(m.activation.attempts).toBe(1);
    expect(m.activation.checks.map((c) => c.name)).toEqual(['forgetAnswerRate', 'referenceFalseFireRate', 'nearNegativeCollateral']);
    expect(m.orthLast).toBe(0);
    expect(m.heldOutAuroc).not.toBeNull();
    expect(m.referenceFalseFireRate).not.toBeNull();
    expect(m.forgetAnswerRate).toBe(0);
    expect(m.adapterBytes).toBe(result.adapterWeights.byteLength);
    expect(m.seconds.total).toBeGreaterThan(0);
  });

  it('λ > 0 keeps the new A nearly orthogonal to the earlier adapter; λ = 0 does not', async () => {
    const run = (lambda: number) =>
      runUnlearning({
        model,
        tokenizer,
        items: FORGET,
        relabel: 'replacement',
        replacement: REPLACEMENT,
        frozenAdapters: [frozen],
        options: { rank: 4, alpha: 8, lambda, epochs: 30, batchSize: 6, learningRate: 2e-2, seed: 2, checkItems: 1 },
      });
    const [free, orth] = [await run(0), await run(5)];
    expect(orth.metrics.orthLast).toBeLessThan(0.2 * free.metrics.orthLast);
  });

  it('a request whose checks fail escalates (more steps, a stricter gate) within its budget, then reports the failed verdict', async () => {
    const result = await runUnlearning({
      model,
      tokenizer,
      items: FORGET,
      relabel: 'replacement',
      replacement: REPLACEMENT,
      frozenAdapters: [],
      // The forget prompts themselves as "unrelated" references: the gate must fire on them, so this check cannot pass.
      referencePrompts: FORGET.map((f) => f.prompt),
      options: { rank: 4, alpha: 8, epochs: 2, batchSize: 6, seed: 1, activation: { ...DEFAULT_ACTIVATION_THRESHOLDS, maxReferenceFalseFireRate: 0, escalationSeconds: 60 } },
    });
    const v = result.metrics.activation;
    expect(v.passed).toBe(false);
    expect(v.failures).toContain('referenceFalseFireRate');
    expect(v.attempts).toBeGreaterThan(1);
  });

  it('stops with UnlearningCancelledError when the signal fires during training', async () => {
    const controller = new AbortController();
    const p = runUnlearning(
      { model, tokenizer, items: FORGET, relabel: 'replacement', replacement: REPLACEMENT, frozenAdapters: [], options: { epochs: 100, batchSize: 2 } },
      { signal: controller.signal, onProgress: (e) => e.phase === 'training' && e.step === 3 && controller.abort() },
    );
    await expect(p).rejects.toBeInstanceOf(UnlearningCancelledError);
  });

  it('pickRefusals ranks candidates by their hardest token under the base model (float64 reference)', () => {
    const prompts = FORGET.map((f) => f.prompt);
    const candidates = ['no idea', 'cannot say', 'zzz 000'];
    const { refusals, ranked } = pickRefusals(model, tokenizer, prompts, { candidates, maxPrompts: 3 });
    const sample = prompts.filter((_, i) => i % 2 === 0).slice(0, 3);
    for (const r of ranked) {
      let worstSum = 0;
      let nll = 0;
      let count = 0;
      for (const p of sample) {
        const prompt = tokenizer.encode(p);
        const seq = [...prompt, ...tokenizer.encode(` ${r.text}`)];
        const { logits } = referenceForward(ck.modelConfig, refWeights, seq.slice(0, -1));
        let worst = 0;
        for (let pos = prompt.length - 1; pos < seq.length - 1; pos++) {
          const row = logits[pos];
          const max = Math.max(...row);
          const v = max + Math.log(row.reduce((acc, x) => acc + Math.exp(x - max), 0)) - row[seq[pos + 1]];
          worst = Math.max(worst, v);
          nll += v;
          count++;
        }
        worstSum += worst;
      }
      expect(Math.abs(r.worst - worstSum / sample.length)).toBeLessThan(1e-4 * (worstSum / sample.length));
      expect(Math.abs(r.nll - nll / count)).toBeLessThan(1e-4 * (nll / count));
    }
    expect(ranked.map((r) => r.worst)).toEqual([...ranked.map((r) => r.worst)].sort((a, b) => a - b));
    expect(refusals).toEqual([ranked[0].text]);
  });

  it('rejects options it cannot honour, naming them', () => {
    expect(() => resolveUnlearningOptions({ rank: 0, epochs: 1.5 })).toThrow(/rank, epochs/);
    expect(resolveUnlearningOptions({ rank: undefined }).rank).toBe(8);
  });
});
