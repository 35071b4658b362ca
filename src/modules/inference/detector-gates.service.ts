import { Inject, Injectable, Logger } from '@nestjs/common';
import { DetectorBank } from '../../ood/detector-bank.js';
import { deserializeDetector } from '../../ood/detector-codec.js';
import type { OodDetector } from '../../ood/detector.js';
import { promptEntityIndex } from '../../ood/entity-match.js';
import { applyGatePolicy, DEFAULT_GATE_POLICY, gatePolicyLabel, type GatePolicy } from '../../ood/gate.js';
import type { GateScore, GateScores } from '../../routing/routing-types.js';
import { UnlearningRepository } from '../unlearning/unlearning.repository.js';
import type { GateScoreProvider, ScoredPrompt } from './routing.service.js';

/**
 * Gates of the active unlearning adapters from their stored O3 detectors (DESIGN §3.3): each
 * prompt's base features are scored by every detector (z, raw gate w) and mapped to a strength by
 * the gate policy (o3-hard). Detectors are deserialised once per adapter id and reloaded when the
 * set of active unlearning adapters changes; they sit in one DetectorBank, so a prompt's entity
 * gates are one lookup whatever the number of active requests, and only detectors whose gate reads
 * the features score them (z is recorded for those).
 */
@Injectable()
export class DetectorGateProvider implements GateScoreProvider {
  private readonly log = new Logger('DetectorGates');
  private readonly policy: GatePolicy = DEFAULT_GATE_POLICY;
  readonly gatePolicy = gatePolicyLabel(DEFAULT_GATE_POLICY);
  private detectors = new Map<string, OodDetector>();
  private bank = new DetectorBank([]);
  private loading: Promise<void> | null = null;

  constructor(@Inject(UnlearningRepository) private readonly repo: UnlearningRepository) {}

  async scores(prompts: ScoredPrompt[], adapterIds: string[]): Promise<GateScores[]> {
    if (adapterIds.some((id) => !this.detectors.has(id))) await this.reload();
    const wanted = new Set(adapterIds);
    return prompts.map((p) => {
      const out = new Map<string, GateScore>();
      const scores = this.bank.score(p.features, promptEntityIndex(p.text), (id, e) => this.log.warn(`detector of adapter ${id} cannot score this prompt: ${e.message}`));
      // An adapter without a score (no detector, or one that cannot score) is applied at full strength by the router.
      // `entity` (1: the prompt names the request's entity) says why; z only where the features were scored.
      for (const [id, s] of scores) {
        if (wanted.has(id)) out.set(id, { strength: applyGatePolicy(s.w, this.policy), gate: s.w, entity: s.entity ? 1 : 0, ...(s.z !== undefined && { z: s.z }) });
      }
      return out;
    });
  }

  /**
   * Per prompt, the scores() it will get when every wanted detector's gate is settled by the
   * prompt's entities alone (no features read), else undefined. Read before any prefill: a prompt
   * whose gates are all settled is planned from these without a features pass (RoutingService).
   */
  async settledScores(prompts: Array<{ text: string }>, adapterIds: string[]): Promise<Array<GateScores | undefined>> {
    if (adapterIds.some((id) => !this.detectors.has(id))) await this.reload();
    const wanted = new Set(adapterIds);
    return prompts.map((p) => {
      const scores = this.bank.settled(promptEntityIndex(p.text));
      if (!scores) return undefined;
      const out = new Map<string, GateScore>();
      for (const [id, s] of scores) if (wanted.has(id)) out.set(id, { strength: applyGatePolicy(s.w, this.policy), gate: s.w, entity: s.entity ? 1 : 0 });
      return out;
    });
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const rows = await this.repo.activeUnlearning();
        const next = new Map<string, OodDetector>();
        for (const { adapter, detector } of rows) next.set(adapter.id, this.detectors.get(adapter.id) ?? deserializeDetector(new Uint8Array(detector.bytes)));
        this.detectors = next;
        this.bank = new DetectorBank([...next].map(([id, detector]) => ({ id, detector })));
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }
}
