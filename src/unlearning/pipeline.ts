/**
 * The unlearning pipeline of one request (DESIGN §3), framework-free and tensor-only: relabel →
 * train the request's LoRA with L_CE + λ·L_orth against the earlier active adapters → features
 * (unmasked + masked views) → detector (CEL heads or training-free) + calibration → the request's
 * own checks → PEFT bytes, detector bytes and metrics. Runs in the caller's thread; the service
 * runs it in a worker thread (unlearning.worker.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from '../engine/gradients.js';
import { createTrainableLora, disposeAdapter, type TrainableLora } from '../engine/lora-trainable.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import { exportPeftAdapter } from '../engine/peft.js';
import { buildLmBatch, maskedCrossEntropy, train, type LmExample } from '../engine/trainer.js';
import { fitDetector, maskTokens, orthogonalityLoss, relabelItems, serializeDetector, stackFrozenFactors, type FrozenFactors, type OodDetector, type RelabelledItem } from '../ood/index.js';
import { DETECTOR_FEATURES, detectorFeatures } from './detector-features.js';
import { activationVerdict } from './activation.js';
import { pickRefusals } from './refusals.js';
import { runUnlearningChecks } from './unlearning-checks.js';
import {
  DEFAULT_UNLEARNING_OPTIONS,
  type RunUnlearningOptions,
  type UnlearningInput,
  type UnlearningOptions,
  type UnlearningResult,
} from './unlearning-types.js';

/** Thrown when the signal fires; nothing of the request is returned. */
export class UnlearningCancelledError extends Error {
  constructor() {
    super('unlearning cancelled');
    this.name = 'UnlearningCancelledError';
  }
}

/** Options with defaults filled; rejects values the pipeline cannot honour. */
export function resolveUnlearningOptions(partial: Partial<UnlearningOptions> = {}): UnlearningOptions {
  const o: UnlearningOptions = { ...DEFAULT_UNLEARNING_OPTIONS, ...stripUndefined(partial) };
  const bad: string[] = [];
  if (!Number.isInteger(o.rank) || o.rank < 1) bad.push('rank');
  if (!(o.alpha > 0)) bad.push('alpha');
  if (!(o.lambda >= 0)) bad.push('lambda');
  if (!Number.isInteger(o.epochs) || o.epochs < 1) bad.push('epochs');
  if (!(o.learningRate > 0)) bad.push('learningRate');
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) bad.push('batchSize');
  if (!(o.maskRate >= 0 && o.maskRate <= 1)) bad.push('maskRate');
  if (bad.length > 0) throw new Error(`invalid unlearning options: ${bad.join(', ')}`);
  return o;
}

/** The text the model is trained to produce: a leading space after a prompt ending in a word. */
export function targetText(prompt: string, target: string): string {
  return /\s$/.test(prompt) || /^\s/.test(target) ? target : ` ${target}`;
}

/** Tokenised training examples: prompt as context, relabelled target (+ EOS) as the completion. */
export function trainingExamples(input: Pick<UnlearningInput, 'tokenizer' | 'model'>, relabelled: readonly RelabelledItem[]): LmExample[] {
  const eos = input.tokenizer.eosTokenId ?? input.model.config.eosTokenId;
  return relabelled.map((r) => ({
    prompt: input.tokenizer.encode(r.prompt),
    completion: [...input.tokenizer.encode(targetText(r.prompt, r.target)), ...(eos === undefined ? [] : [eos])],
  }));
}

/** Runs one request end to end. Honours `signal` between training steps and between phases. */
export async function runUnlearning(input: UnlearningInput, run: RunUnlearningOptions = {}): Promise<UnlearningResult> {
  const o = resolveUnlearningOptions(input.options);
  const { model, tokenizer } = input;
  if (input.items.length === 0) throw new Error('no forget items');
  await ensureGradients();
  const t0 = performance.now();
  const lap = (() => {
    let last = t0;
    return () => {
      const now = performance.now();
      const s = (now - last) / 1000;
      last = now;
      return s;
    };
  })();
  const check = (): void => {
    if (run.signal?.aborted) throw new UnlearningCancelledError();
  };
  const progress = run.onProgress ?? (() => {});

  progress({ phase: 'relabel', message: `${input.items.length} items, relabel ${input.relabel}` });
  // Refusals the base model can already say (refusals.ts), unless the caller gives its own list.
  const refusals = input.relabel === 'refusal' ? (input.refusals ?? pickRefusals(model, tokenizer, input.items.map((i) => i.prompt)).refusals) : undefined;
  const relabelled = relabelItems(input.items, { mode: input.relabel, replacement: input.replacement, seed: o.seed, refusals });
  const examples = trainingExamples(input, relabelled);
  const relabelSeconds = lap();

  // Training: only the new LoRA's variables; the base model and earlier adapters stay frozen.
  check();
  const lora = createTrainableLora(model, { rank: o.rank, alpha: o.alpha, targetModules: o.targetModules, seed: o.seed + 1, init: input.initAdapter });
  const frozen = stackFrozenFactors(input.frozenAdapters);
  let adapter: LoraAdapter | undefined;
  let detector: OodDetector;
  let trainResult: Awaited<ReturnType<typeof train>>;
  let orthLast = 0;
  try {
    const steps = o.epochs * Math.ceil(examples.length / o.batchSize);
    const pad = model.config.padTokenId ?? 0;
    const app = lora.application(1);
    try {
      trainResult = await train<LmExample>({
        variables: lora.variables(),
        examples,
        batchSize: o.batchSize,
        steps,
        seed: o.seed,
        optimizer: { learningRate: o.learningRate },
        maxGradNorm: 1,
        signal: run.signal,
        loss: (batch) => unlearningLoss(model, app, lora, frozen, batch, pad, o.lambda),
        onProgress: (p) => progress({ phase: 'training', step: p.step, total: p.totalSteps, loss: p.loss, etaSeconds: p.etaSeconds }),
      });
    } finally {
      app.dispose();
    }
    check();
    orthLast = tf.tidy(() => orthogonalityLoss(currentA(lora), frozen).dataSync()[0]);
    adapter = lora.freeze();
  } finally {
    frozen.dispose();
    lora.dispose();
  }
  const trainingSeconds = lap();

  try {
    // Detector: base-model features of the prompts only (what inference sees), detector-features.ts.
    check();
    progress({ phase: 'calibrating', message: o.useCel ? 'features + CEL heads' : 'features' });
    const ids = input.items.map((it) => tokenizer.encode(it.prompt));
    const features = detectorFeatures(model, ids);
    let maskedFeatures: Float32Array[][] | undefined;
    if (o.useCel) {
      const maskId = model.config.padTokenId ?? 0;
      maskedFeatures = detectorFeatures(model, ids.map((x, i) => maskTokens(x, o.maskRate, maskId, o.seed * 7919 + i)));
    }
    detector = fitDetector({ features, maskedFeatures }, { useCel: o.useCel, seed: o.seed, layers: o.detectorLayers });
    const detectorBytes = serializeDetector(detector);
    const calibratingSeconds = lap();

    check();
    progress({ phase: 'evaluating', message: 'request checks' });
    const checks = await runUnlearningChecks({ model, tokenizer, items: input.items, relabelled, adapter, detector, features, referencePrompts: input.referencePrompts, options: o });
    const evaluatingSeconds = lap();

    const peft = exportPeftAdapter(adapter, model.config, { baseModelNameOrPath: input.baseModelName });
    const losses = trainResult!.losses;
    return {
      adapterWeights: peft.weights,
      adapterConfig: peft.adapterConfig,
      rank: adapter.rank,
      alpha: adapter.alpha,
      targetModules: adapter.targetModules,
      detector: detectorBytes,
      losses,
      metrics: {
        items: input.items.length,
        steps: trainResult!.steps,
        lossFirst: losses[0] ?? Number.NaN,
        lossLast: losses[losses.length - 1] ?? Number.NaN,
        orthLast,
        refusals: refusals ? [...refusals] : null,
        ...checks,
        nearNegativeCollateral: null,
        activation: activationVerdict({ ...checks, nearNegativeCollateral: null }, o.activation),
        calibration: {
          m1: detector.calibration.m1,
          m2: detector.calibration.m2,
          sigma: detector.calibration.sigma,
          x0: detector.calibration.x0,
          guards: detector.calibration.guards,
        },
        useCel: o.useCel,
        detectorFeatures: DETECTOR_FEATURES,
        seconds: {
          relabel: relabelSeconds,
          training: trainingSeconds,
          calibrating: calibratingSeconds,
          evaluating: evaluatingSeconds,
          total: (performance.now() - t0) / 1000,
        },
        adapterBytes: peft.weights.byteLength,
        detectorBytes: detectorBytes.byteLength,
      },
    };
  } finally {
    if (adapter) disposeAdapter(adapter);
  }
}

/** A_t [r, dIn] of every module of the trainable LoRA (transposes of its Aᵀ variables). */
function currentA(lora: TrainableLora): Map<string, tf.Tensor2D> {
  const out = new Map<string, tf.Tensor2D>();
  for (const [name, f] of lora.factors) out.set(name, tf.transpose(f.aT));
  return out;
}

/** L = L_CE(relabelled targets) + λ·L_orth(A_t; earlier A_k). Runs inside the trainer's tape. */
function unlearningLoss(
  model: UnlearningInput['model'],
  app: ReturnType<TrainableLora['application']>,
  lora: TrainableLora,
  frozen: FrozenFactors,
  batch: LmExample[],
  pad: number,
  lambda: number,
): tf.Scalar {
  const b = buildLmBatch(batch, pad, model.config.maxPositions);
  const tokenIds = tf.tensor2d(b.inputIds, [b.batch, b.seq], 'int32');
  const targets = tf.tensor2d(b.targets, [b.batch, b.seq], 'int32');
  const mask = tf.tensor2d(b.mask, [b.batch, b.seq]);
  // Right padding under a causal mask never reaches real positions; the loss mask drops pad targets.
  const { logits } = model.forward({ tokenIds }, { lora: app, logits: 'all' }); // [b, seq, vocab]
  const ce = maskedCrossEntropy(logits!, targets, mask);
  if (lambda === 0 || frozen.byModule.size === 0) return ce;
  return tf.add(ce, tf.mul(lambda, orthogonalityLoss(currentA(lora), frozen))) as tf.Scalar;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
