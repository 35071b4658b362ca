import { RoutingError, RoutingErrorCode } from './routing-errors.js';
import type {
  AdapterKind,
  AdapterSelection,
  GateScore,
  GateScores,
  PlanRecordEntry,
  RegistryAdapter,
  RegistrySnapshot,
  RoutingMode,
  RoutingPlan,
  RoutingPolicy,
  RoutingRequest,
} from './routing-types.js';

export const DEFAULT_ROUTING_POLICY: Readonly<RoutingPolicy> = Object.freeze({
  strengthBounds: [0, 2] as const,
  topK: 1,
  minSimilarity: 0.5,
  autoStrength: 1,
  gatePolicy: 'o3-hard',
  maxExplicitAdapters: 8,
  missingGate: 'full',
});

const MODES: ReadonlySet<string> = new Set<RoutingMode>(['auto', 'manual', 'none']);
/** Kinds a client may name or auto-routing may pick; unlearning adapters follow their gates only. */
const SELECTABLE: ReadonlySet<AdapterKind> = new Set<AdapterKind>(['task', 'generated', 'imported']);

/** Fills defaults and checks the configuration (a bad policy is a boot error, not a 4xx). */
export function resolveRoutingPolicy(partial: Partial<RoutingPolicy> = {}): RoutingPolicy {
  const p: RoutingPolicy = { ...DEFAULT_ROUTING_POLICY, ...partial };
  const [lo, hi] = p.strengthBounds;
  const bad: string[] = [];
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo < 0 || lo > hi) bad.push('strengthBounds');
  if (!Number.isInteger(p.topK) || p.topK < 0) bad.push('topK');
  if (!Number.isFinite(p.minSimilarity) || p.minSimilarity < -1 || p.minSimilarity > 1) bad.push('minSimilarity');
  if (!Number.isFinite(p.autoStrength) || p.autoStrength < lo || p.autoStrength > hi) bad.push('autoStrength');
  if (!Number.isInteger(p.maxExplicitAdapters) || p.maxExplicitAdapters < 0) bad.push('maxExplicitAdapters');
  if (p.missingGate !== 'full' && p.missingGate !== 'error') bad.push('missingGate');
  if (typeof p.gatePolicy !== 'string' || p.gatePolicy === '') bad.push('gatePolicy');
  if (bad.length > 0) throw new Error(`invalid routing policy: ${bad.join(', ')}`);
  return p;
}

/**
 * Decides which adapters a request runs with, and at what strength (DESIGN §5).
 *
 * - Every active unlearning adapter gets an entry in every mode, with its strength from its gate
 *   only; a request naming one is refused (ADAPTER_NOT_SELECTABLE), so it can be neither removed,
 *   lowered nor raised by a client.
 * - `manual`: the explicit task adapters, validated. `auto`: the explicit ones if any were named
 *   (the caller's choice wins), else the top-k task centroids by cosine ≥ minSimilarity.
 *   `none` (admins only): no task adapters; unlearning entries recorded with reason
 *   `routing-none` and strength 0, their gate kept in `scores`.
 * - Deterministic: entries are unlearning (by id), explicit (by id), auto (by cosine desc, then id),
 *   whatever the order of the registry, the request's list or the score map.
 * - Entries at strength 0 stay in the plan with `applied: false`; see `appliedEntries`.
 *
 * @throws RoutingError for a bad request (codes in routing-errors.ts).
 */
export function plan(
  request: RoutingRequest,
  registry: RegistrySnapshot,
  scores: GateScores,
  policy: RoutingPolicy = DEFAULT_ROUTING_POLICY,
): RoutingPlan {
  const { mode, explicit } = checkRequest(request, registry, policy);
  const selections = request.adapters ?? [];
  const adapters = [...registry.adapters].sort((a, b) => cmp(a.id, b.id));
  const entries: PlanRecordEntry[] = [];
  for (const a of adapters) {
    if (a.kind === 'unlearning' && a.active) entries.push(unlearningEntry(a, gateOf(scores, a.id), mode, policy));
  }
  entries.push(...explicit);
  if (mode === 'auto' && selections.length === 0) entries.push(...autoEntries(request.conditionVector, adapters, policy));

  return {
    mode,
    entries,
    policy: {
      gatePolicy: policy.gatePolicy,
      strengthBounds: [policy.strengthBounds[0], policy.strengthBounds[1]],
      topK: policy.topK,
      minSimilarity: policy.minSimilarity,
      autoStrength: policy.autoStrength,
      missingGate: policy.missingGate,
    },
    registryVersion: registry.registryVersion,
  };
}

/**
 * The request-only checks of {@link plan} (mode, role, explicit adapters: exist, selectable,
 * active, strength within bounds), without gate scores or a condition vector: a request that
 * passes them cannot fail planning on the same registry snapshot. Lets a server refuse bad input
 * before it spends a prefill on the features.
 *
 * @throws RoutingError as plan() would.
 */
export function validateRoutingRequest(request: RoutingRequest, registry: RegistrySnapshot, policy: RoutingPolicy = DEFAULT_ROUTING_POLICY): void {
  checkRequest(request, registry, policy);
}

function checkRequest(request: RoutingRequest, registry: RegistrySnapshot, policy: RoutingPolicy): { mode: RoutingMode; explicit: PlanRecordEntry[] } {
  const mode = request.mode;
  if (typeof mode !== 'string' || !MODES.has(mode)) {
    throw new RoutingError(RoutingErrorCode.INVALID_ROUTING_REQUEST, `unknown routing mode "${String(mode)}"`, {
      field: 'routing',
    });
  }
  if (mode === 'none' && request.role !== 'admin') {
    throw new RoutingError(RoutingErrorCode.FORBIDDEN_ROUTING_MODE, 'routing "none" is reserved to admins', {
      field: 'routing',
    });
  }
  const selections = request.adapters ?? [];
  if (mode === 'none' && selections.length > 0) {
    throw new RoutingError(RoutingErrorCode.INVALID_ROUTING_REQUEST, 'routing "none" takes no adapters', {
      field: 'adapters',
    });
  }
  return { mode, explicit: resolveSelections(selections, registry.adapters, policy) };
}

/** The entries the engine applies (strength > 0), in plan order. */
export function appliedEntries(p: RoutingPlan): PlanRecordEntry[] {
  return p.entries.filter((e) => e.applied);
}

function unlearningEntry(
  a: RegistryAdapter,
  gate: GateScore | undefined,
  mode: RoutingMode,
  policy: RoutingPolicy,
): PlanRecordEntry {
  const base = { adapterId: a.id, name: a.name, version: a.version, kind: a.kind };
  const usable = gate !== undefined && Number.isFinite(gate.strength) && gate.strength >= 0;
  if (!usable && policy.missingGate === 'error') {
    throw new RoutingError(RoutingErrorCode.MISSING_GATE_SCORE, `no usable gate score for unlearning adapter ${a.id}`, {
      adapter: a.id,
    });
  }
  const scores = gate === undefined ? {} : finiteScores(gate);
  if (mode === 'none') return { ...base, strength: 0, applied: false, reason: 'routing-none', scores };
  if (!usable) return { ...base, strength: 1, applied: true, reason: 'gate-missing-failsafe', scores };
  const s = gate.strength === 0 ? 0 : gate.strength; // -0 → 0
  return { ...base, strength: s, applied: s > 0, reason: s > 0 ? 'gate' : 'gate-closed', scores };
}

function finiteScores(gate: GateScore): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(gate).sort()) {
    const v = gate[k];
    if (typeof v === 'number' && Number.isFinite(v)) out[k === 'strength' ? 'gateStrength' : k] = v;
  }
  return out;
}

function gateOf(scores: GateScores, id: string): GateScore | undefined {
  if (scores instanceof Map) return scores.get(id);
  const rec = scores as Readonly<Record<string, GateScore>>;
  return Object.hasOwn(rec, id) ? rec[id] : undefined;
}

function resolveSelections(
  selections: readonly AdapterSelection[],
  adapters: readonly RegistryAdapter[],
  policy: RoutingPolicy,
): PlanRecordEntry[] {
  if (!Array.isArray(selections)) {
    throw new RoutingError(RoutingErrorCode.INVALID_ROUTING_REQUEST, 'adapters must be a list', { field: 'adapters' });
  }
  if (selections.length > policy.maxExplicitAdapters) {
    throw new RoutingError(
      RoutingErrorCode.TOO_MANY_ADAPTERS,
      `at most ${policy.maxExplicitAdapters} adapters per request, got ${selections.length}`,
      { field: 'adapters' },
    );
  }
  const [lo, hi] = policy.strengthBounds;
  const seen = new Set<string>();
  const out: PlanRecordEntry[] = [];
  selections.forEach((sel, i) => {
    const field = `adapters[${i}]`;
    const a = lookup(sel, adapters, field);
    const label = sel.name ?? sel.id ?? a.id;
    if (!SELECTABLE.has(a.kind)) {
      throw new RoutingError(
        RoutingErrorCode.ADAPTER_NOT_SELECTABLE,
        `adapter "${label}" is of kind ${a.kind}: it is applied by its gate only and cannot be named`,
        { field, adapter: label },
      );
    }
    if (!a.active) {
      throw new RoutingError(RoutingErrorCode.INACTIVE_ADAPTER, `adapter "${label}" is not active`, {
        field,
        adapter: label,
      });
    }
    const raw: unknown = sel.strength === undefined ? 1 : sel.strength;
    if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < lo || raw > hi) {
      throw new RoutingError(
        RoutingErrorCode.INVALID_STRENGTH,
        `${field}.strength must be a finite number in [${lo}, ${hi}], got ${String(raw)}`,
        { field: `${field}.strength`, adapter: label },
      );
    }
    if (seen.has(a.id)) {
      throw new RoutingError(RoutingErrorCode.DUPLICATE_ADAPTER, `adapter "${label}" is named twice`, {
        field,
        adapter: label,
      });
    }
    seen.add(a.id);
    const s = raw === 0 ? 0 : raw;
    out.push({
      adapterId: a.id,
      name: a.name,
      version: a.version,
      kind: a.kind,
      strength: s,
      applied: s > 0,
      reason: s > 0 ? 'explicit' : 'explicit-zero',
      scores: {},
    });
  });
  return out.sort((x, y) => cmp(x.adapterId, y.adapterId));
}

function lookup(sel: AdapterSelection, adapters: readonly RegistryAdapter[], field: string): RegistryAdapter {
  const hasId = typeof sel?.id === 'string' && sel.id !== '';
  const hasName = typeof sel?.name === 'string' && sel.name !== '';
  if (!hasId && !hasName) {
    throw new RoutingError(RoutingErrorCode.INVALID_ROUTING_REQUEST, `${field} needs a name or an id`, { field });
  }
  const byId = hasId ? adapters.find((a) => a.id === sel.id) : undefined;
  if (hasId && byId === undefined) {
    throw new RoutingError(RoutingErrorCode.UNKNOWN_ADAPTER, `unknown adapter id "${sel.id}"`, {
      field: `${field}.id`,
      adapter: sel.id,
    });
  }
  if (!hasName) return byId!;
  // Several versions may share a name: the active one wins, then the newest, then the lowest id.
  const named = adapters
    .filter((a) => a.name === sel.name)
    .sort((a, b) => Number(b.active) - Number(a.active) || b.version - a.version || cmp(a.id, b.id));
  if (named.length === 0) {
    throw new RoutingError(RoutingErrorCode.UNKNOWN_ADAPTER, `unknown adapter "${sel.name}"`, {
      field: `${field}.name`,
      adapter: sel.name,
    });
  }
  if (byId !== undefined) {
    if (byId.name !== sel.name) {
      throw new RoutingError(
        RoutingErrorCode.INVALID_ROUTING_REQUEST,
        `${field}: id "${sel.id}" is not adapter "${sel.name}"`,
        { field, adapter: sel.name },
      );
    }
    return byId;
  }
  return named[0]!;
}

function autoEntries(
  condition: ArrayLike<number> | null | undefined,
  adapters: readonly RegistryAdapter[],
  policy: RoutingPolicy,
): PlanRecordEntry[] {
  if (condition == null || policy.topK === 0) return [];
  const qNorm = norm(condition);
  if (!(qNorm > 0) || !Number.isFinite(qNorm)) return [];
  const ranked: Array<{ a: RegistryAdapter; cosine: number }> = [];
  for (const a of adapters) {
    const c = a.centroid;
    if (!a.active || !SELECTABLE.has(a.kind) || c == null || c.length !== condition.length) continue;
    const cNorm = norm(c);
    if (!(cNorm > 0) || !Number.isFinite(cNorm)) continue;
    let dot = 0;
    for (let i = 0; i < c.length; i++) dot += condition[i]! * c[i]!;
    const cosine = dot / (qNorm * cNorm);
    if (cosine >= policy.minSimilarity) ranked.push({ a, cosine });
  }
  ranked.sort((x, y) => y.cosine - x.cosine || cmp(x.a.id, y.a.id));
  return ranked.slice(0, policy.topK).map(({ a, cosine }, rank) => ({
    adapterId: a.id,
    name: a.name,
    version: a.version,
    kind: a.kind,
    strength: policy.autoStrength,
    applied: policy.autoStrength > 0,
    reason: 'auto' as const,
    scores: { cosine, rank },
  }));
}

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** Code-point order, independent of the locale. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
