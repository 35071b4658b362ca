/**
 * All active requests' detectors behind one index (issue 16, DESIGN §3.3): a prompt is scored once
 * against the bank instead of once per detector. Entity gates are one hash lookup per word run of the
 * prompt, whatever the number of requests; the features are scored only by the detectors whose gate
 * still depends on them (no entities, or an `and`/`or` entity mode that the lookup did not settle).
 * With today's requests (almost all name an entity, `only` mode) scoring cost stops growing with the
 * number of active requests.
 *
 * The bank is derived data: built from the detectors as stored, rebuilt when the active set changes,
 * and one request is revoked by dropping its entry. Its gates equal `scoreDetector`'s for every
 * detector (tested); only the features' z is left out where the gate does not use it.
 */
import { scoreDetector, type LayerFeatures, type OodDetector } from './detector.js';
import { gateWeight } from './gate.js';

export interface BankEntry {
  id: string;
  detector: OodDetector;
}

/** One detector's gate for one prompt: as `DetectorScore`, with z only when the features were scored. */
export interface BankScore {
  w: number;
  z?: number;
  entity: boolean;
}

export class DetectorBank {
  /** Entity hash → indexes of the entries whose detector holds it. */
  private readonly byEntity = new Map<string, number[]>();
  private readonly entries: readonly BankEntry[];

  constructor(entries: readonly BankEntry[]) {
    this.entries = [...entries];
    this.entries.forEach((e, k) => {
      for (const h of new Set(e.detector.entityHashes ?? [])) {
        const list = this.byEntity.get(h);
        if (list) list.push(k);
        else this.byEntity.set(h, [k]);
      }
    });
  }

  get size(): number {
    return this.entries.length;
  }

  ids(): string[] {
    return this.entries.map((e) => e.id);
  }

  /** A bank without one entry (a revoked request); the others' gates do not change. */
  without(id: string): DetectorBank {
    return new DetectorBank(this.entries.filter((e) => e.id !== id));
  }

  /**
   * Gates of every entry for one prompt, in entry order. `entityIndex` is the prompt's
   * `promptEntityIndex`; `onError` gets the entries whose detector cannot score these features (they
   * are left out of the result, as a missing gate).
   */
  score(features: LayerFeatures, entityIndex: ReadonlySet<string>, onError?: (id: string, error: Error) => void): Map<string, BankScore> {
    return this.scoreWith(features, entityIndex, onError)!;
  }

  /**
   * The gates of every entry for one prompt when its entity lookup settles all of them (no gate
   * reads the features), else undefined: what the routing pass can know before its prefill
   * (issue 13: the plan it guesses for a speculative adapted prefill). Equal to score()'s then.
   */
  settled(entityIndex: ReadonlySet<string>): Map<string, BankScore> | undefined {
    return this.scoreWith(undefined, entityIndex);
  }

  /** score(); without features, undefined as soon as one entry would need them. */
  private scoreWith(features: LayerFeatures | undefined, entityIndex: ReadonlySet<string>, onError?: (id: string, error: Error) => void): Map<string, BankScore> | undefined {
    const named = new Set<number>();
    // The smaller side drives the lookup: a long prompt against a few entities, or the reverse.
    if (entityIndex.size <= this.byEntity.size) {
      for (const h of entityIndex) for (const k of this.byEntity.get(h) ?? []) named.add(k);
    } else {
      for (const [h, ks] of this.byEntity) if (entityIndex.has(h)) for (const k of ks) named.add(k);
    }
    const out = new Map<string, BankScore>();
    for (const [k, e] of this.entries.entries()) {
      const det = e.detector;
      const entity = named.has(k);
      const mode = det.entityMode ?? 'only';
      const hasEntities = (det.entityHashes?.length ?? 0) > 0;
      // Settled by the lookup: the gate does not read the features (scoreDetector's peak / tail).
      if (hasEntities && (mode === 'only' || (mode === 'and' && !entity) || (mode === 'or' && entity))) {
        out.set(e.id, { w: gateWeight(det.calibration, entity ? Number.NaN : Number.NEGATIVE_INFINITY), entity });
        continue;
      }
      if (!features) return undefined;
      try {
        const s = scoreDetector(det, features, entityIndex);
        out.set(e.id, { w: s.w, z: s.z, entity: s.entity });
      } catch (error) {
        onError?.(e.id, error as Error);
      }
    }
    return out;
  }
}
