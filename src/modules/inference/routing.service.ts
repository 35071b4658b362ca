import { Inject, Injectable, Optional } from '@nestjs/common';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { appliedEntries, plan, resolveRoutingPolicy, validateRoutingRequest } from '../../routing/router.js';
import { RoutingError, ROUTING_ERROR_HTTP_STATUS } from '../../routing/routing-errors.js';
import type { AdapterSelection, CallerRole, GateScores, RegistrySnapshot, RoutingMode, RoutingPlan, RoutingPolicy } from '../../routing/routing-types.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { AdapterStore } from './adapter-store.service.js';
import { ModelHost } from './model-host.service.js';

/** A prompt as the gate scorer sees it: text, tokens and the base model's detector features. */
export interface ScoredPrompt {
  text: string;
  tokens: number[];
  /** Detector features of the base prefill (src/unlearning/detector-features.ts): [layer] → Float32Array(dModel). */
  features: Float32Array[];
}

/**
 * The unlearning hook: gate scores of the active unlearning adapters' detectors, per prompt.
 * Provided under {@link GATE_SCORE_PROVIDER} (DetectorGateProvider reads the detectors stored by
 * the unlearning module); an active unlearning adapter without a score is applied at full
 * strength (policy missingGate = full: fail closed).
 */
export interface GateScoreProvider {
  /** Gate policy label recorded in plans (`o3-hard`...). */
  readonly gatePolicy?: string;
  /** Scores for `adapterIds` (the active unlearning adapters of the snapshot) for each prompt. */
  scores(prompts: ScoredPrompt[], adapterIds: string[]): Promise<GateScores[]>;
  /**
   * Optional: per prompt, the scores() it will get when they follow from its text alone (entity
   * gates), else undefined. A prompt whose scores are settled needs no features pass for its gates.
   */
  settledScores?(prompts: Array<{ text: string }>, adapterIds: string[]): Promise<Array<GateScores | undefined>>;
}

/**
 * Auto task adapters the routing pass guesses plans with (their centroid as the condition vector).
 * 0: measured on the demo model (bench:serving A/B, docs/benchmarks.md), a second row in the
 * features pass costs ~40 % of a prefill, so a guess pays only when it is usually right; an auto
 * guess is right only for the prompts of that task, while the entity gates' guess is right whenever
 * auto routing adds nothing.
 */
const SPECULATIVE_AUTO_CANDIDATES = 0;

export const GATE_SCORE_PROVIDER = Symbol('GATE_SCORE_PROVIDER');

export interface RouteInput {
  mode: RoutingMode;
  adapters: AdapterSelection[];
  role: CallerRole;
  prompts: Array<{ text: string; tokens: number[] }>;
}

/** Plans for each prompt of a request: registry snapshot + gate scores + router (src/routing). */
@Injectable()
export class RoutingService {
  readonly policy: RoutingPolicy;
  private readonly speculate: boolean;

  constructor(
    @Inject(CONFIG) config: LetheConfig,
    @Inject(AdapterStore) private readonly store: AdapterStore,
    @Inject(ModelHost) private readonly host: ModelHost,
    @Optional() @Inject(GATE_SCORE_PROVIDER) private readonly gates?: GateScoreProvider,
  ) {
    this.speculate = config.inference.speculativePrefill;
    this.policy = resolveRoutingPolicy({
      strengthBounds: [0, config.inference.strengthMax],
      ...(this.gates?.gatePolicy ? { gatePolicy: this.gates.gatePolicy } : {}),
    });
  }

  /** One plan per prompt. Router errors become DomainErrors with the field and adapter named. */
  async route(input: RouteInput): Promise<RoutingPlan[]> {
    return this.begin(input).plans;
  }

  /**
   * Checks the request against the registry now (bad input throws a DomainError at once, before any
   * prefill) and starts the routing: the base features pass, gate scores and plans. The plans come
   * on the returned promise; a caller can queue the generation meanwhile (DESIGN §5: routing
   * overlaps the micro-batcher's window), and the plans use the snapshot the request was checked on.
   */
  begin(input: RouteInput): { plans: Promise<RoutingPlan[]> } {
    const registry = this.store.routingSnapshot();
    try {
      validateRoutingRequest({ mode: input.mode, adapters: input.adapters, role: input.role, conditionVector: null }, registry, this.policy);
    } catch (e) {
      throw toDomainError(e);
    }
    return { plans: this.plans(input, registry) };
  }

  /** Per prompt, its gate scores when no features are needed for them (none to score: empty), else undefined. */
  private async settled(prompts: RouteInput['prompts'], unlearning: string[], gated: boolean): Promise<Array<GateScores | undefined>> {
    if (!gated) return prompts.map(() => ({}));
    if (!this.gates!.settledScores) return prompts.map(() => undefined);
    return this.gates!.settledScores(prompts, unlearning);
  }

  private async plans(input: RouteInput, registry: RegistrySnapshot): Promise<RoutingPlan[]> {
    const unlearning = registry.adapters.filter((a) => a.kind === 'unlearning' && a.active).map((a) => a.id);
    const gated = unlearning.length > 0 && this.gates !== undefined;
    // Auto mode needs condition vectors only when some active task adapter has a centroid.
    const needsVectors = input.mode === 'auto' && input.adapters.length === 0 && registry.adapters.some((a) => a.active && a.kind !== 'unlearning' && a.centroid);
    // Gates the prompts' entities settle read no features (entity gates, the pipeline's default):
    // when every gate is settled and no condition vector is needed, no features pass runs, and a
    // routed request costs what its plan costs (its generation prefills once, with its adapters).
    const settled = await this.settled(input.prompts, unlearning, gated);
    const needsFeatures = needsVectors || settled.some((s) => s === undefined);
    // One base prefill gives the detectors' features and the condition vectors, and is kept so a
    // prompt whose plan applies no adapter generates from it without a second prefill.
    const speculate = this.speculate && needsFeatures ? guessPlans(input, registry, settled, this.policy) : undefined;
    const features = needsFeatures ? await this.host.promptFeatures(input.prompts.map((p) => p.tokens), { keepPrefill: true, speculate }) : undefined;
    const scores: GateScores[] = settled.every((s) => s !== undefined)
      ? (settled as GateScores[])
      : await this.gates!.scores(input.prompts.map((p, i) => ({ ...p, features: features!.detector[i] })), unlearning);
    const vectors = needsVectors && features ? features.last : [];
    try {
      return input.prompts.map((_, i) =>
        plan({ mode: input.mode, adapters: input.adapters, role: input.role, conditionVector: vectors[i] ?? null }, registry, scores[i], this.policy),
      );
    } catch (e) {
      throw toDomainError(e);
    }
  }
}

/**
 * The plans a prompt most likely gets, to prefill speculatively in the features pass (issue 13):
 * the unlearning gates its entities settle, with no auto adapter, and with each auto task adapter
 * (its centroid as the condition vector; at most SPECULATIVE_AUTO_CANDIDATES of them). A prompt
 * whose gates need the features gets no guess. The plan itself is made afterwards from the real
 * features; a guess only decides which prefill waits for the generation (kept under its exact plan).
 */
export function guessPlans(
  input: RouteInput,
  registry: RegistrySnapshot,
  settled: Array<GateScores | undefined>,
  policy: RoutingPolicy,
): Array<Array<Array<{ id: string; version: number; strength: number }>>> {
  const autos =
    input.mode === 'auto' && input.adapters.length === 0 ? registry.adapters.filter((a) => a.active && a.kind !== 'unlearning' && a.centroid).map((a) => a.centroid!) : [];
  const vectors: Array<ArrayLike<number> | null> = [null, ...(autos.length <= SPECULATIVE_AUTO_CANDIDATES ? autos : [])];
  // The entity gates' guess (no auto adapter) is also the one made when auto candidates are not guessed.
  return input.prompts.map((_, i) => {
    const scores = settled[i];
    if (!scores) return [];
    const seen = new Set<string>();
    const out: Array<Array<{ id: string; version: number; strength: number }>> = [];
    for (const conditionVector of vectors) {
      try {
        const p = plan({ mode: input.mode, adapters: input.adapters, role: input.role, conditionVector }, registry, scores, policy);
        const applied = appliedEntries(p).map((e) => ({ id: e.adapterId, version: e.version, strength: e.strength }));
        const sig = JSON.stringify(applied);
        if (applied.length > 0 && !seen.has(sig)) {
          seen.add(sig);
          out.push(applied);
        }
      } catch {
        // A guess that cannot be planned is not made; the real plan reports the error.
      }
    }
    return out;
  });
}

const STATUS_CODE: Record<number, ErrorCode> = {
  400: ErrorCode.VALIDATION,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  409: ErrorCode.CONFLICT,
  500: ErrorCode.INTERNAL,
};

/** RoutingError → DomainError (status from ROUTING_ERROR_HTTP_STATUS, the router's one mapping). */
export function toDomainError(e: unknown): unknown {
  if (!(e instanceof RoutingError)) return e;
  const code = STATUS_CODE[ROUTING_ERROR_HTTP_STATUS[e.code]] ?? ErrorCode.VALIDATION;
  const field = e.details.field ? `lethe.${e.details.field}` : undefined;
  return new DomainError(code, e.message, { reason: e.code, ...e.details, ...(field ? { field } : {}) });
}
