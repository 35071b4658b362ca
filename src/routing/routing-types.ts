/** Routing mode of a request (DESIGN §5). */
export type RoutingMode = 'auto' | 'manual' | 'none';

/** Adapter kinds as stored in the registry. Only task, generated and imported ones are selectable. */
export type AdapterKind = 'unlearning' | 'task' | 'generated' | 'imported';

/** Caller roles, admin ⊃ operator ⊃ client. */
export type CallerRole = 'client' | 'operator' | 'admin';

/** One explicit task adapter in a request: by `name` or `id` (or both, then they must agree). */
export interface AdapterSelection {
  name?: string;
  id?: string;
  /** Must be a finite number within the policy's strength bounds. Default 1 when omitted. */
  strength?: number;
}

/** What the router needs from a request. */
export interface RoutingRequest {
  mode: RoutingMode;
  /** Explicit task adapters (OpenAI `model: "<base>:<task>"` arrives here as one entry). */
  adapters?: readonly AdapterSelection[];
  /** The prompt's condition vector (last-layer hidden state at the final position), for `auto`. */
  conditionVector?: ArrayLike<number> | null;
  role: CallerRole;
}

/** One adapter of a registry snapshot. Inactive adapters may be included so errors can say so. */
export interface RegistryAdapter {
  id: string;
  name: string;
  version: number;
  kind: AdapterKind;
  active: boolean;
  /** Task centroid (condition-vector space) for task/generated adapters; used by `auto`. */
  centroid?: ArrayLike<number> | null;
}

/** The registry as the router sees it for one request. */
export interface RegistrySnapshot {
  /** Bumped on every activation, revocation or new version; recorded in the plan. */
  registryVersion: number;
  adapters: readonly RegistryAdapter[];
}

/**
 * Detector output for one unlearning adapter (from src/ood): `strength` is the gate after the gate
 * policy; any other numbers (raw gate w, score z...) are copied into the plan entry's scores.
 */
export interface GateScore {
  strength: number;
  gate?: number;
  z?: number;
  [key: string]: number | undefined;
}

/** Gate scores keyed by unlearning adapter id. */
export type GateScores = ReadonlyMap<string, GateScore> | Readonly<Record<string, GateScore>>;

/** Router configuration; every field has a default (see `DEFAULT_ROUTING_POLICY`). */
export interface RoutingPolicy {
  /** Inclusive bounds for explicit strengths. Default [0, 2]. */
  strengthBounds: readonly [number, number];
  /** Auto mode: how many task adapters at most. Default 1. */
  topK: number;
  /** Auto mode: minimum cosine similarity to select an adapter. Default 0.5. */
  minSimilarity: number;
  /** Auto mode: strength given to a selected adapter. Default 1. */
  autoStrength: number;
  /**
   * Label of the gate policy src/ood applied (`gatePolicyLabel(policy)`: `o3-hard`,
   * `soft(floor=0.2)`), recorded in the plan. Default `o3-hard`, src/ood's default.
   */
  gatePolicy: string;
  /** Most explicit adapters a request may name. Default 8. */
  maxExplicitAdapters: number;
  /**
   * An active unlearning adapter without a usable gate score: `full` applies it at strength 1
   * (fail closed: forgetting is kept when a detector is missing), `error` throws MISSING_GATE_SCORE.
   */
  missingGate: 'full' | 'error';
}

/** Why an entry is in the plan. */
export type EntryReason =
  | 'gate' // unlearning adapter, strength from its gate (> 0)
  | 'gate-closed' // unlearning adapter whose gate gave 0: recorded, not applied
  | 'gate-missing-failsafe' // no usable gate score: applied at 1 (policy missingGate = full)
  | 'routing-none' // admin asked for routing none: recorded with its gate, not applied
  | 'explicit' // named by the request
  | 'explicit-zero' // named by the request at strength 0: recorded, not applied
  | 'auto'; // chosen by cosine similarity

/** One adapter decision in a plan. */
export interface PlanRecordEntry {
  adapterId: string;
  name: string;
  version: number;
  kind: AdapterKind;
  /** Strength the engine applies (0 when not applied). */
  strength: number;
  /** Whether the engine applies it (strength > 0); zero entries stay for the record. */
  applied: boolean;
  reason: EntryReason;
  /** Numbers behind the decision: gate strength/raw gate/z for unlearning, cosine for auto. */
  scores: Record<string, number>;
}

/** The routing decision for one request: returned with the answer and stored. */
export interface RoutingPlan {
  mode: RoutingMode;
  entries: PlanRecordEntry[];
  policy: {
    gatePolicy: string;
    strengthBounds: [number, number];
    topK: number;
    minSimilarity: number;
    autoStrength: number;
    missingGate: 'full' | 'error';
  };
  registryVersion: number;
}
