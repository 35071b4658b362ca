/**
 * The request's own checks, run before anything is stored: forget items answered through the gated
 * path (the new adapter at its gate strength) must stop giving their answer and give the relabelled
 * target; the detector must separate its held-out forget items (D_rest) from reference prompts.
 */
import { normaliseAnswer, scoreAnswer } from '../engine/answer-scoring.js';
import type { TextTokenizer } from '../engine/generate.js';
import type { LoraAdapter, PlanEntry } from '../engine/lora-types.js';
import type { TransformerModel } from '../engine/transformer.js';
import { applyGatePolicy, auroc, gatePolicyLabel, gateRates, promptEntityIndex, scoreDetector, type ForgetItem, type OodDetector, type RelabelledItem } from '../ood/index.js';
import { answerWithPlans, baseFeatures, scoreGates, type GatedAdapter } from './gated-answer.js';
import { evenlySpaced } from './reference-prompts.js';
import type { UnlearningMetrics, UnlearningOptions } from './unlearning-types.js';

/** Most reference prompts the false-fire check scores. */
export const MAX_CHECKED_REFERENCES = 96;

export interface UnlearningCheckInput {
  model: TransformerModel;
  tokenizer: TextTokenizer;
  items: readonly ForgetItem[];
  relabelled: readonly RelabelledItem[];
  adapter: LoraAdapter;
  detector: OodDetector;
  /** Base-model features of the forget prompts, item-major (already computed for the detector). */
  features: readonly Float32Array[][];
  referencePrompts?: readonly string[];
  /** Near-negatives held out of training, with the base model's answers: the gated answer must stay the same. */
  heldKeep?: readonly { prompt: string; answer: string }[];
  /** The earlier active adapters with their detectors (served beside this one). */
  deployed?: readonly GatedAdapter[];
  options: UnlearningOptions;
}

export type UnlearningCheckMetrics = Pick<
  UnlearningMetrics,
  | 'checkedItems'
  | 'forgetAnswerRate'
  | 'forgetRelabelRate'
  | 'forgetMeanStrength'
  | 'heldOutAuroc'
  | 'heldOutGateRecall'
  | 'referenceFalseFireRate'
  | 'nearNegativeCollateral'
  | 'gatePolicy'
>;

/** True when a generated answer is the relabelled target (normalised exact match, as the benchmark scores). */
export function isRelabelAnswer(generated: string, target: string): boolean {
  return scoreAnswer(generated, target) || normaliseAnswer(generated).startsWith(normaliseAnswer(target));
}

export async function runUnlearningChecks(c: UnlearningCheckInput): Promise<UnlearningCheckMetrics> {
  const { model, tokenizer, detector, options: o } = c;
  const n = Math.min(o.checkItems, c.items.length);
  const pick = Array.from({ length: n }, (_, i) => Math.floor((i * c.items.length) / n));
  const strengths = pick.map((i) => {
    const w = scoreDetector(detector, c.features[i], promptEntityIndex(c.items[i].prompt)).w;
    return { w, s: applyGatePolicy(w, o.gatePolicy) };
  });
  // Answered as served: the earlier adapters at their gates beside this one (it was trained beside them).
  const served = servedEntries(c, pick.map((i) => c.features[i]), pick.map((i) => c.items[i].prompt));
  const answers = await answerWithPlans(
    model,
    tokenizer,
    pick.map((i) => c.items[i].prompt),
    strengths.map(({ s }, k) => (s > 0 ? [...served[k], { adapter: c.adapter, strength: s }] : served[k])),
    { maxTokens: o.checkMaxTokens },
  );
  const withAnswer = pick.filter((i) => c.items[i].answer !== undefined);
  const leaked = pick.filter((i, k) => c.items[i].answer !== undefined && scoreAnswer(answers[k].text, c.items[i].answer!)).length;
  const relabelled = pick.filter((i, k) => isRelabelAnswer(answers[k].text, c.relabelled[i].target)).length;

  const zRest = detector.split.rest.map((i) => scoreDetector(detector, c.features[i], promptEntityIndex(c.items[i].prompt)));
  // A sample: a model folder's reference data can hold thousands of prompts.
  const refs = evenlySpaced(c.referencePrompts ?? [], MAX_CHECKED_REFERENCES);
  const zRef = refs.length > 0 ? baseFeatures(model, refs.map((p) => tokenizer.encode(p))).map((f, i) => scoreDetector(detector, f, promptEntityIndex(refs[i]))) : [];
  const rates = gateRates(
    zRest.map((s) => s.w),
    zRef.map((s) => s.w),
    o.gatePolicy,
  );
  // Collateral: held-out near-negatives answered through the gate must keep the base model's answer.
  const keep = c.heldKeep ?? [];
  let collateral: number | null = null;
  if (keep.length > 0) {
    const keepFeatures = baseFeatures(model, keep.map((k) => tokenizer.encode(k.prompt)));
    // Answered as they will be served: the earlier adapters at their gates, plus this one.
    const servedKeep = servedEntries(c, keepFeatures, keep.map((k) => k.prompt));
    const keepRows = keepFeatures.map((f, i) => {
      const s = applyGatePolicy(scoreDetector(detector, f, promptEntityIndex(keep[i].prompt)).w, o.gatePolicy);
      return s > 0 ? [...servedKeep[i], { adapter: c.adapter, strength: s }] : servedKeep[i];
    });
    const kept = await answerWithPlans(model, tokenizer, keep.map((k) => k.prompt), keepRows, { maxTokens: o.checkMaxTokens });
    collateral = kept.filter((r, i) => normaliseAnswer(r.text) !== normaliseAnswer(keep[i].answer)).length / keep.length;
  }
  return {
    checkedItems: n,
    nearNegativeCollateral: collateral,
    forgetAnswerRate: withAnswer.length > 0 ? leaked / withAnswer.length : null,
    forgetRelabelRate: n > 0 ? relabelled / n : 0,
    forgetMeanStrength: n > 0 ? strengths.reduce((a, b) => a + b.s, 0) / n : 0,
    heldOutAuroc: zRest.length > 0 && zRef.length > 0 ? auroc(zRest.map((s) => s.z), zRef.map((s) => s.z)) : null,
    heldOutGateRecall: Number.isNaN(rates.recall) ? 0 : rates.recall,
    referenceFalseFireRate: zRef.length > 0 ? rates.falseFireRate : null,
    gatePolicy: gatePolicyLabel(o.gatePolicy),
  };
}

/** Per prompt, the earlier active adapters its gates apply (empty without `deployed`). */
function servedEntries(c: UnlearningCheckInput, features: readonly Float32Array[][], prompts: readonly string[]): PlanEntry[][] {
  if (!c.deployed || c.deployed.length === 0) return prompts.map(() => []);
  return scoreGates(features, c.deployed, c.options.gatePolicy, prompts).map((gates) => gates.flatMap((g, k) => (g.strength > 0 ? [{ adapter: c.deployed![k].adapter, strength: g.strength }] : [])));
}
