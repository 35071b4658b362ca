import { Inject, Injectable, Logger } from '@nestjs/common';
import { deserializeDetector } from '../../ood/detector-codec.js';
import type { OodDetector } from '../../ood/detector.js';
import { scoreDetector } from '../../ood/detector.js';
import { promptEntityIndex } from '../../ood/entity-match.js';
import { applyGatePolicy, DEFAULT_GATE_POLICY, gatePolicyLabel, type GatePolicy } from '../../ood/gate.js';
import type { GateScore, GateScores } from '../../routing/routing-types.js';
import { UnlearningRepository } from '../unlearning/unlearning.repository.js';
import type { GateScoreProvider, ScoredPrompt } from './routing.service.js';

/**
 * Gates of the active unlearning adapters from their stored O3 detectors (DESIGN §3.3): each
 * prompt's base features are scored by every detector (z, raw gate w) and mapped to a strength by
 * the gate policy (o3-hard). Detectors are deserialised once per adapter id and reloaded when the
 * set of active unlearning adapters changes.
 */
@Injectable()
export class DetectorGateProvider implements GateScoreProvider {
  private readonly log = new Logger('DetectorGates');
  private readonly policy: GatePolicy = DEFAULT_GATE_POLICY;
  readonly gatePolicy = gatePolicyLabel(DEFAULT_GATE_POLICY);
  private detectors = new Map<string, OodDetector>();
  private loading: Promise<void> | null = null;

  constructor(@Inject(UnlearningRepository) private readonly repo: UnlearningRepository) {}

  async scores(prompts: ScoredPrompt[], adapterIds: string[]): Promise<GateScores[]> {
    if (adapterIds.some((id) => !this.detectors.has(id))) await this.reload();
    return prompts.map((p) => {
      const out = new Map<string, GateScore>();
      const entities = promptEntityIndex(p.text);
      for (const id of adapterIds) {
        const det = this.detectors.get(id);
        if (!det) continue; // no detector: the router applies the adapter at full strength
        try {
          const s = scoreDetector(det, p.features, entities);
          out.set(id, { strength: applyGatePolicy(s.w, this.policy), gate: s.w, z: s.z });
        } catch (e) {
          this.log.warn(`detector of adapter ${id} cannot score this prompt: ${(e as Error).message}`);
        }
      }
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
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }
}
