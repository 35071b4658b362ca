// Response shapes of the Lethe API, as the controllers return them (src/modules/*/*.dto.ts).

export const ADAPTER_KINDS = ['unlearning', 'task', 'generated', 'imported'] as const;
export const ADAPTER_STATUSES = ['training', 'inactive', 'active', 'revoked', 'failed'] as const;

export interface Adapter {
  id: string;
  name: string;
  kind: string;
  status: string;
  version: number;
  baseModel: string;
  rank: number;
  alpha: number;
  targetModules: string[];
  blobSha256: string | null;
  sizeBytes: number;
  lineage: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface AdapterPage {
  items: Adapter[];
  total: number;
  limit: number;
  offset: number;
}

export interface AuditEvent {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface AuditPage {
  items: AuditEvent[];
  nextCursor: number | null;
}

export type ChainVerdict = { valid: true; events: number } | { valid: false; firstBadSeq: number; reason: string };

export const UNLEARNING_STATUSES = ['queued', 'training', 'calibrating', 'evaluating', 'active', 'needs_review', 'failed', 'revoked'] as const;
/** Statuses after which a request's job no longer changes it (no live updates); an admin moves needs_review on. */
export const FINAL_UNLEARNING_STATUSES: readonly string[] = ['active', 'needs_review', 'failed', 'revoked'];

/** One activation check of a trained request (src/unlearning/activation.ts). */
export interface ActivationCheck {
  name: string;
  /** null: nothing to measure (passes). */
  value: number | null;
  threshold: number;
  passed: boolean;
}

/** The activation checks of a trained request; failed checks leave it needs_review. */
export interface ActivationReview {
  passed: boolean;
  checks: ActivationCheck[];
  failed: ActivationCheck[];
  attempts: number;
}

/** Progress of an unlearning job as stored on the request (src/modules/unlearning). */
export interface UnlearningProgress {
  phase?: string;
  step?: number;
  total?: number;
  loss?: number;
  etaSeconds?: number;
  attempt?: number;
  message?: string;
}

/** GET /v1/unlearning-requests/:id (UnlearningRequestDto); also each SSE `progress` event. */
export interface UnlearningRequest {
  id: string;
  name: string;
  status: string;
  relabel: string;
  replacement: string | null;
  options: Record<string, unknown>;
  itemCount: number;
  itemsSha256: string;
  itemsStored: boolean;
  progress: UnlearningProgress;
  adapterId: string | null;
  detectorId: string | null;
  metrics: Record<string, unknown> | null;
  /** null before training ends (and on servers older than the activation checks). */
  review?: ActivationReview | null;
  error: string | null;
  attempts: number;
  actor: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** GET /v1/unlearning-requests: offset pagination. */
export interface UnlearningPage {
  items: UnlearningRequest[];
  total: number;
  limit: number;
  offset: number;
}

/** One entry of a routing plan (src/routing/routing-types.ts PlanRecordEntry). */
export interface PlanEntry {
  adapterId: string;
  name: string;
  version: number;
  kind: string;
  /** Strength the engine applies (0 when not applied). */
  strength: number;
  applied: boolean;
  reason: string;
  /** Numbers behind the decision: gate strength, raw gate, z for unlearning; cosine for auto. */
  scores: Record<string, number>;
}

export interface RoutingPlan {
  mode: string;
  entries: PlanEntry[];
  policy?: Record<string, unknown>;
  registryVersion?: number;
}

/** The OpenAI endpoint a request came through. */
export type InferenceEndpoint = 'completions' | 'chat.completions';

/** One stored routing decision (one prompt of one completion or chat completion request). */
export interface RoutingDecision {
  id: string;
  requestId: string;
  endpoint: InferenceEndpoint;
  promptIndex: number;
  apiKeyId: string | null;
  keyId: string | null;
  model: string;
  mode: string;
  plan: RoutingPlan;
  adapterIds: string[];
  registryVersion: number;
  /** Gate policy label (`o3-hard`). */
  policy: string;
  latencyMs: number;
  promptTokens: number;
  completionTokens: number;
  createdAt: string;
}

/** GET /v1/admin/routing-decisions: newest first; `nextCursor` goes in `after`. */
export interface RoutingDecisionPage {
  items: RoutingDecision[];
  total: number;
  limit: number;
  offset: number;
  nextCursor: number | null;
}
