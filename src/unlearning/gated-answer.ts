/**
 * Gated inference (DESIGN §3.3), framework-free: prompt → features of the base prefill → every
 * active detector's gate → a routing plan per prompt (src/routing's `plan`) → generation with the
 * applied adapters stacked at their strengths. The service, the benchmark and the tests all answer
 * through these functions, so measured numbers hold for served traffic.
 */
import type { GenerationResult, TextTokenizer } from '../engine/generate.js';
import { generate } from '../engine/generate.js';
import { stackLora } from '../engine/lora.js';
import type { LoraAdapter, PlanEntry } from '../engine/lora-types.js';
import type { TransformerModel } from '../engine/transformer.js';
import { applyGatePolicy, DEFAULT_GATE_POLICY, gatePolicyLabel, promptEntityIndex, scoreDetector, type GatePolicy, type OodDetector } from '../ood/index.js';
import { appliedEntries, plan, resolveRoutingPolicy } from '../routing/router.js';
import { detectorFeatures } from './detector-features.js';
import type { GateScore, RegistrySnapshot, RoutingPlan } from '../routing/routing-types.js';

/** One active unlearning adapter with its detector. */
export interface GatedAdapter {
  id: string;
  name: string;
  version: number;
  adapter: LoraAdapter;
  detector: OodDetector;
}

/** The gate of one adapter for one prompt. */
export interface PromptGate {
  adapterId: string;
  /** Detector score (larger = more forget-like). */
  z: number;
  /** Raw gate w ∈ (0.12, 1). */
  gate: number;
  /** Strength after the gate policy. */
  strength: number;
}

/** Detector features of each prompt from the base model (no adapter): [prompt][layer] → [dModel] (detector-features.ts). */
export function baseFeatures(model: TransformerModel, tokenIds: number[][]): Float32Array[][] {
  return detectorFeatures(model, tokenIds);
}

/** Every adapter's gate for every prompt: [prompt][adapter]; `prompts` (same order) enables the entity gates. */
export function scoreGates(features: readonly Float32Array[][], adapters: readonly GatedAdapter[], policy: GatePolicy = DEFAULT_GATE_POLICY, prompts?: readonly string[]): PromptGate[][] {
  return features.map((f, i) => {
    const index = prompts ? promptEntityIndex(prompts[i]) : undefined;
    return adapters.map((a) => {
      const s = scoreDetector(a.detector, f, index);
      return { adapterId: a.id, z: s.z, gate: s.w, strength: applyGatePolicy(s.w, policy) };
    });
  });
}

/** The routing plan of one prompt from its gates (unlearning adapters only; no task adapters). */
export function gatePlan(gates: readonly PromptGate[], adapters: readonly GatedAdapter[], policy: GatePolicy = DEFAULT_GATE_POLICY, registryVersion = 0): RoutingPlan {
  const registry: RegistrySnapshot = {
    registryVersion,
    adapters: adapters.map((a) => ({ id: a.id, name: a.name, version: a.version, kind: 'unlearning' as const, active: true })),
  };
  const scores = new Map<string, GateScore>(gates.map((g) => [g.adapterId, { strength: g.strength, gate: g.gate, z: g.z }]));
  return plan({ mode: 'manual', role: 'client' }, registry, scores, resolveRoutingPolicy({ gatePolicy: gatePolicyLabel(policy) }));
}

/** Engine plan entries (adapter + strength) of a routing plan's applied entries. */
export function planEntries(p: RoutingPlan, adapters: readonly GatedAdapter[]): PlanEntry[] {
  const byId = new Map(adapters.map((a) => [a.id, a.adapter]));
  return appliedEntries(p).map((e) => {
    const adapter = byId.get(e.adapterId);
    if (!adapter) throw new Error(`plan names adapter ${e.adapterId}, which is not loaded`);
    return { adapter, strength: e.strength };
  });
}

export interface AnswerOptions {
  maxTokens: number;
  stop?: string[];
  /** Prompts per generation batch (default 32). */
  batchSize?: number;
}

/**
 * Greedy answers with one plan per prompt (rows of one batch may differ: per-row rank stacking).
 * A row with an empty plan runs the base model.
 */
export async function answerWithPlans(
  model: TransformerModel,
  tokenizer: TextTokenizer,
  prompts: readonly (string | number[])[],
  rows: readonly PlanEntry[][],
  options: AnswerOptions,
): Promise<GenerationResult[]> {
  if (rows.length !== prompts.length) throw new Error('answerWithPlans: one plan per prompt');
  const size = options.batchSize ?? 32;
  const out: GenerationResult[] = [];
  for (let start = 0; start < prompts.length; start += size) {
    const chunk = prompts.slice(start, start + size);
    const plans = rows.slice(start, start + size);
    const lora = plans.some((r) => r.length > 0) ? stackLora(model, plans as PlanEntry[][]) : undefined;
    try {
      out.push(...(await generate(model, tokenizer, [...chunk], { maxTokens: options.maxTokens, stop: options.stop ?? ['\n'], lora, temperature: 0 })));
    } finally {
      lora?.dispose();
    }
  }
  return out;
}

export interface GatedAnswerOptions extends AnswerOptions {
  policy?: GatePolicy;
  registryVersion?: number;
}

export interface GatedAnswer {
  result: GenerationResult;
  gates: PromptGate[];
  plan: RoutingPlan;
}

/** Answers prompts the way the service does: gate every active adapter, route, generate. */
export async function gatedAnswer(
  model: TransformerModel,
  tokenizer: TextTokenizer,
  prompts: readonly string[],
  adapters: readonly GatedAdapter[],
  options: GatedAnswerOptions,
): Promise<GatedAnswer[]> {
  const ids = prompts.map((p) => tokenizer.encode(p));
  const gates = adapters.length === 0 ? ids.map(() => []) : scoreGates(baseFeatures(model, ids), adapters, options.policy, prompts);
  const plans = gates.map((g) => gatePlan(g, adapters, options.policy, options.registryVersion));
  const results = await answerWithPlans(model, tokenizer, ids, plans.map((p) => planEntries(p, adapters)), options);
  return results.map((result, i) => ({ result, gates: gates[i], plan: plans[i] }));
}
