// Response shapes of the Lethe API, as the controllers return them (src/modules/*/*.dto.ts).
// Parts still being built elsewhere (unlearning requests, routing decisions) are typed loosely and
// read defensively.

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

export interface UnlearningRequest {
  id: string;
  status: string;
  createdAt?: string;
  updatedAt?: string;
  progress?: unknown;
  metrics?: Record<string, unknown> | null;
  [field: string]: unknown;
}

/** One entry of a routing plan (src/routing). */
export interface PlanEntry {
  adapterId: string;
  name?: string;
  version?: number;
  kind?: string;
  strength: number;
  applied?: boolean;
  reason?: string;
  scores?: Record<string, number>;
}

export interface RoutingPlan {
  mode?: string;
  entries: PlanEntry[];
  policy?: Record<string, unknown>;
  registryVersion?: number;
}

export interface RoutingDecision {
  id: string;
  at?: string;
  createdAt?: string;
  keyId?: string;
  actor?: string;
  plan: RoutingPlan;
  scores?: Record<string, unknown>;
  [field: string]: unknown;
}

/** A list answer in any of the shapes the service uses ({items} with a cursor or offset). */
export interface ListPage<T> {
  items: T[];
  nextCursor?: string | number | null;
  total?: number;
}
