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
import { stackLora, type LoraApplication } from '../engine/lora.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import { exportPeftAdapter } from '../engine/peft.js';
import { buildLmBatch, maskedCrossEntropy, train, type LmExample } from '../engine/trainer.js';
import type { TransformerModel } from '../engine/transformer.js';
import { calibrateAgainstNegatives, entityHash, fitDetector, namesEntity, promptEntityIndex, maskTokens, orthogonalityLoss, relabelItems, scoreDetector, serializeDetector, stackFrozenFactors, type ForgetItem, type FrozenFactors, type OodDetector, type RelabelledItem } from '../ood/index.js';
import { DETECTOR_FEATURES, detectorFeatures } from './detector-features.js';
import { activationVerdict } from './activation.js';
import { gatedAnswer, scoreGates, type GatedAdapter } from './gated-answer.js';
import { buildNearNegatives, DEFAULT_NEAR_NEGATIVE_OPTIONS, type AnsweredPrompt } from './near-negatives.js';
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
  return relabelled.map((r) => lmExample(input, r.prompt, targetText(r.prompt, r.target)));
}

/** Kept prompts as training examples: the base model's own answer (as generated) is the target. */
function keepExamples(input: Pick<UnlearningInput, 'tokenizer' | 'model'>, keep: readonly AnsweredPrompt[]): LmExample[] {
  return keep.map((k) => lmExample(input, k.prompt, k.answer));
}

/** The prompt as context, `completion` (+ EOS) as what is learnt. */
function lmExample(input: Pick<UnlearningInput, 'tokenizer' | 'model'>, prompt: string, completion: string): LmExample {
  const eos = input.tokenizer.eosTokenId ?? input.model.config.eosTokenId;
  return { prompt: input.tokenizer.encode(prompt), completion: [...input.tokenizer.encode(completion), ...(eos === undefined ? [] : [eos])] };
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
  const relabel = (items: readonly ForgetItem[], seed: number) => relabelItems(items, { mode: input.relabel, replacement: input.replacement, seed, refusals });
  const relabelled = relabel(input.items, o.seed);
  // Near-negatives (near-negatives.ts): more phrasings of the forgotten facts, and what to keep.
  const deployed: GatedAdapter[] | undefined =
    input.frozenDetectors && input.frozenDetectors.length === input.frozenAdapters.length && input.frozenAdapters.length > 0
      ? input.frozenAdapters.map((adapter, i) => ({ id: `earlier-${i}`, name: `earlier-${i}`, version: 1, adapter, detector: input.frozenDetectors![i] }))
      : undefined;
  const deployedAnswers = deployed && (async (prompts: readonly string[]) => (await gatedAnswer(model, tokenizer, prompts, deployed, { maxTokens: DEFAULT_NEAR_NEGATIVE_OPTIONS.maxTokens, policy: o.gatePolicy })).map((a) => a.result.text));
  const nn = o.nearNegatives ? await buildNearNegatives(model, tokenizer, input.items, input.referencePrompts ?? [], { seed: o.seed }, deployedAnswers) : undefined;
  const extraForget = relabel(nn?.forgetPrompts ?? [], o.seed + 1);
  // The given items and the found phrasings, in the same order as their relabelled targets.
  const forgetItems: ForgetItem[] = [...input.items, ...(nn?.forgetPrompts ?? [])];
  const forgetSet = [...relabelled, ...extraForget];
  const keepAll = [...(nn?.otherEntity ?? []), ...(nn?.sameEntity ?? []), ...(nn?.reference ?? [])];
  // Every fourth kept prompt (at most 16) is held out of training for the collateral check.
  const heldKeep = keepAll.filter((_, i) => i % 4 === 3).slice(0, 16);
  const trainKeep = keepAll.filter((k) => !heldKeep.includes(k));
  // The entity's other questions are the hardest to keep (the entity gate fires on them): they count more.
  const sameEntity = new Set(nn?.sameEntity ?? []);
  const weightedKeep = trainKeep.flatMap((k) => (sameEntity.has(k) ? Array.from({ length: o.sameEntityCopies }, () => k) : [k]));
  const forgetExamples = trainingExamples(input, forgetSet);
  const keptExamples = keepExamples(input, weightedKeep);
  // Withheld by an earlier request: withheld beside it, the base answer alone (pipeline's deployedContext).
  const withheld = nn?.withheld ?? [];
  const withheldBeside = keepExamples(input, withheld.map((w) => ({ prompt: w.prompt, answer: w.deployedAnswer })));
  const withheldAlone = keepExamples(input, withheld);
  const examples = balancedExamples(forgetExamples, [...keptExamples, ...withheldBeside, ...withheldAlone]);
  // Base-model detector features, one prefill per distinct prompt (training context, detector, negatives).
  const featureCache = new Map<string, Float32Array[]>();
  const featuresOf = (prompts: readonly string[]): Float32Array[][] => {
    const missing = [...new Set(prompts.filter((p) => !featureCache.has(p)))];
    detectorFeatures(model, missing.map((p) => tokenizer.encode(p))).forEach((f, i) => featureCache.set(missing[i], f));
    return prompts.map((p) => featureCache.get(p)!);
  };
  // Earlier adapters whose gates fire on these prompts serve beside the new one: it trains on top of them.
  const context = deployed
    ? deployedContext(
        model,
        featuresOf,
        deployed,
        [
          ...forgetExamples.map((e, i) => [e, forgetSet[i].prompt] as const),
          ...keptExamples.map((e, i) => [e, weightedKeep[i].prompt] as const),
          ...withheldBeside.map((e, i) => [e, withheld[i].prompt] as const),
        ],
        o.gatePolicy,
      )
    : undefined;
  const steps = Math.min(o.maxSteps, o.epochs * Math.ceil(examples.length / o.batchSize));
  const relabelSeconds = lap();

  // Training: only the new LoRA's variables; the base model and earlier adapters stay frozen.
  check();
  const lora = createTrainableLora(model, { rank: o.rank, alpha: o.alpha, targetModules: o.targetModules, seed: o.seed + 1, init: input.initAdapter });
  const frozen = stackFrozenFactors(input.frozenAdapters);
  const pad = model.config.padTokenId ?? 0;
  const app = lora.application(1);
  const losses: number[] = [];
  let totalSteps = 0;
  const trainRound = async (roundSteps: number, seed: number): Promise<void> => {
    const r = await train<LmExample>({
      variables: lora.variables(),
      examples,
      batchSize: o.batchSize,
      steps: roundSteps,
      seed,
      optimizer: { learningRate: o.learningRate },
      maxGradNorm: 1,
      signal: run.signal,
      loss: (batch) => unlearningLoss(model, context ? context.application(lora, batch, o.alpha / o.rank) : app, lora, frozen, batch, pad, o.lambda),
      onProgress: (p) => progress({ phase: 'training', step: totalSteps + p.step, total: totalSteps + p.totalSteps, loss: p.loss, etaSeconds: p.etaSeconds }),
    });
    losses.push(...r.losses);
    totalSteps += r.steps;
    check();
  };

  let adapter: LoraAdapter | undefined;
  try {
    await trainRound(steps, o.seed);
    const trainingSeconds = lap();

    // Detector: base-model features of the forget prompts, given and found (detector-features.ts).
    check();
    progress({ phase: 'calibrating', message: o.useCel ? 'features + CEL heads' : 'features' });
    const features = featuresOf(forgetSet.map((it) => it.prompt));
    let maskedFeatures: Float32Array[][] | undefined;
    if (o.useCel) {
      const maskId = model.config.padTokenId ?? 0;
      maskedFeatures = detectorFeatures(model, forgetSet.map((it, i) => maskTokens(tokenizer.encode(it.prompt), o.maskRate, maskId, o.seed * 7919 + i)));
    }
    const fittedFeatures = fitDetector({ features, maskedFeatures }, { useCel: o.useCel, seed: o.seed, layers: o.detectorLayers });
    // Named entities gate by name (entity-match.ts); the features then only need to catch prompts
    // that do not name them, so their gate is placed strictly above the near-negatives.
    const entityHashes = (nn?.entities ?? []).map(entityHash);
    const fitted: OodDetector = entityHashes.length > 0 ? { ...fittedFeatures, entityHashes, entityMode: o.entityGate } : fittedFeatures;
    // Other-entity near-negatives place the gate; same-entity ones may fire it (the adapter keeps them).
    // With `and`, the features only decide among prompts naming the entity: place them against its other questions.
    const within = entityHashes.length > 0 && o.entityGate === 'and';
    const negatives = within ? (nn?.sameEntity ?? []) : (nn?.otherEntity ?? []);
    const negativeFeatures = featuresOf(negatives.map((k) => k.prompt));
    const zNegative = negativeFeatures.map((f) => scoreDetector(fitted, f).z);
    const zPositive = entityHashes.length > 0 && !within ? [] : fitted.split.rest.map((i) => scoreDetector(fitted, features[i]).z);
    let maxFalseFire = o.negativeFalseFire;
    const calibrate = () => calibrateAgainstNegatives(fitted.calibration, zPositive, zNegative, { maxFalseFire, policy: o.gatePolicy });
    let shifted = calibrate();
    let detector: OodDetector = { ...fitted, calibration: shifted.calibration };
    const calibratingSeconds = lap();

    check();
    progress({ phase: 'evaluating', message: 'request checks' });
    // Reference prompts that name a forget entity are about it, not unrelated: they cannot count as false fires.
    const unrelatedReferences = (input.referencePrompts ?? []).filter((p) => entityHashes.length === 0 || !namesEntity(promptEntityIndex(p), entityHashes));
    const runChecks = async () => {
      const frozenAdapter = lora.freeze();
      try {
        const checks = await runUnlearningChecks({ model, tokenizer, items: forgetItems, relabelled: forgetSet, adapter: frozenAdapter, detector, features, referencePrompts: unrelatedReferences, heldKeep, deployed, options: o });
        return { checks, frozenAdapter };
      } catch (e) {
        disposeAdapter(frozenAdapter);
        throw e;
      }
    };
    let { checks, frozenAdapter } = await runChecks();
    let attempts = 1;
    let verdict = activationVerdict(checks, o.activation, attempts);
    // Escalation: while a check fails and the budget lasts, train more (leaks, collateral) or move the gate (false fires).
    const escalationStart = performance.now();
    while (!verdict.passed && (performance.now() - escalationStart) / 1000 < o.activation.escalationSeconds && attempts < 4) {
      disposeAdapter(frozenAdapter);
      attempts++;
      progress({ phase: 'evaluating', message: `checks failed (${verdict.failures.join(', ')}): escalation ${attempts - 1}` });
      if (verdict.failures.includes('forgetAnswerRate') || verdict.failures.includes('nearNegativeCollateral')) await trainRound(Math.max(8, Math.ceil(steps / 2)), o.seed + attempts);
      if (verdict.failures.includes('referenceFalseFireRate') || verdict.failures.includes('nearNegativeCollateral')) {
        maxFalseFire = maxFalseFire / 2;
        shifted = calibrate();
        detector = { ...fitted, calibration: shifted.calibration };
      }
      ({ checks, frozenAdapter } = await runChecks());
      verdict = activationVerdict(checks, o.activation, attempts);
    }
    adapter = frozenAdapter;
    const evaluatingSeconds = lap();
    const orthLast = tf.tidy(() => orthogonalityLoss(currentA(lora), frozen).dataSync()[0]);
    const detectorBytes = serializeDetector(detector);
    const peft = exportPeftAdapter(adapter, model.config, { baseModelNameOrPath: input.baseModelName });
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
        steps: totalSteps,
        lossFirst: losses[0] ?? Number.NaN,
        lossLast: losses[losses.length - 1] ?? Number.NaN,
        orthLast,
        refusals: refusals ? [...refusals] : null,
        nearNegatives: { entities: nn?.entities ?? [], forgetPrompts: extraForget.length, otherEntity: nn?.otherEntity.length ?? 0, sameEntity: nn?.sameEntity.length ?? 0, reference: nn?.reference.length ?? 0, withheld: withheld.length, heldOut: heldKeep.length, gateShift: shifted.delta },
        ...checks,
        activation: verdict,
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
    app.dispose();
    context?.dispose();
    frozen.dispose();
    lora.dispose();
    if (adapter) disposeAdapter(adapter);
  }
}

/** The earlier adapters a request's training runs beside, at each example's gate strengths. */
interface DeployedContext {
  /** The trainable LoRA plus the earlier adapters, per batch row; built inside the loss (its tensors are the tape's). */
  application(lora: TrainableLora, batch: readonly LmExample[], ownScale: number): LoraApplication;
  dispose(): void;
}

/**
 * Gates every earlier adapter on every training prompt (as serving will) and stacks the ones that fire
 * anywhere. Training the new adapter with them applied makes it learn what to add to what is already
 * served: overlapping requests on one entity otherwise pull against each other when both gates fire.
 */
function deployedContext(
  model: TransformerModel,
  featuresOf: (prompts: readonly string[]) => Float32Array[][],
  deployed: readonly GatedAdapter[],
  examples: readonly (readonly [LmExample, string])[],
  policy: UnlearningOptions['gatePolicy'],
): DeployedContext | undefined {
  const prompts = examples.map(([, p]) => p);
  const gates = scoreGates(featuresOf(prompts), deployed, policy, prompts);
  const firing = deployed.map((_, k) => k).filter((k) => gates.some((g) => g[k].strength > 0));
  if (firing.length === 0) return undefined;
  // Examples not listed here (withheld prompts trained alone) get strength 0 for every earlier adapter.
  const strengths = new Map<LmExample, number[]>(examples.map(([e], i) => [e, firing.map((k) => gates[i][k].strength)]));
  const stacked = stackLora(model, firing.map((k) => ({ adapter: deployed[k].adapter, strength: 1 })));
  // Per module: which earlier adapter owns each rank slot, and the slot's α/r.
  const slots = new Map<string, { owner: number[]; scale: Float32Array }>();
  for (const [name, m] of stacked.modules) {
    const owner = firing.flatMap((k, j) => (deployed[k].adapter.modules.has(name) ? Array.from({ length: deployed[k].adapter.rank }, () => j) : []));
    slots.set(name, { owner, scale: m.scale.dataSync() as Float32Array });
  }
  return {
    application(lora, batch, ownScale) {
      const app: LoraApplication = { modules: new Map(), weightOverrides: new Map(), dispose() {} };
      for (const [name, f] of lora.factors) {
        const own = Array.from({ length: f.aT.shape[1] }, () => ownScale);
        const e = stacked.modules.get(name);
        if (!e) {
          app.modules.set(name, { aT: f.aT, bT: f.bT, scale: tf.tensor2d(batch.flatMap(() => own), [batch.length, own.length]) });
          continue;
        }
        const { owner, scale } = slots.get(name)!;
        const rows = batch.flatMap((ex) => [...owner.map((j, slot) => scale[slot] * (strengths.get(ex)?.[j] ?? 0)), ...own]);
        app.modules.set(name, { aT: tf.concat([e.aT, f.aT], 1), bT: tf.concat([e.bT, f.bT], 0), scale: tf.tensor2d(rows, [batch.length, owner.length + own.length]) });
      }
      return app;
    },
    dispose: () => stacked.dispose(),
  };
}

/**
 * Forget and keep examples in one list, the forget ones repeated until they are at least as many as
 * the kept ones: a 1-item request must not be drowned by 40 near-negatives.
 */
export function balancedExamples(forget: readonly LmExample[], keep: readonly LmExample[]): LmExample[] {
  const copies = forget.length === 0 ? 0 : Math.max(1, Math.ceil(keep.length / forget.length));
  return [...Array.from({ length: copies }, () => forget).flat(), ...keep];
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
