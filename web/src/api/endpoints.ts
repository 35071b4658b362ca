import { apiFetch, withQuery, type Query } from './client.js';
import type { Adapter, AdapterPage, AuditEvent, AuditPage, ChainVerdict, ListPage, RoutingDecision, UnlearningRequest } from './types.js';

/** Checks that `key` is an admin key (the audit log is admin-only); throws ApiError otherwise. */
export async function checkAdminKey(key: string): Promise<void> {
  await apiFetch<AuditPage>(withQuery('/v1/admin/audit', { limit: 1 }), { key });
}

export const listAdapters = (q: Query, signal?: AbortSignal) => apiFetch<AdapterPage>(withQuery('/v1/adapters', q), { signal });
export const getAdapter = (id: string, signal?: AbortSignal) => apiFetch<Adapter>(`/v1/adapters/${encodeURIComponent(id)}`, { signal });
export const adapterHistory = (id: string, signal?: AbortSignal) =>
  apiFetch<{ items: AuditEvent[] }>(`/v1/adapters/${encodeURIComponent(id)}/history`, { signal });

export const listAudit = (q: Query, signal?: AbortSignal) => apiFetch<AuditPage>(withQuery('/v1/admin/audit', q), { signal });
export const verifyAudit = (signal?: AbortSignal) => apiFetch<ChainVerdict>('/v1/admin/audit/verify', { signal });

export const listUnlearning = (q: Query, signal?: AbortSignal) =>
  apiFetch<ListPage<UnlearningRequest>>(withQuery('/v1/unlearning-requests', q), { signal });
export const getUnlearning = (id: string, signal?: AbortSignal) => apiFetch<UnlearningRequest>(`/v1/unlearning-requests/${encodeURIComponent(id)}`, { signal });
export const unlearningEventsPath = (id: string) => `/v1/unlearning-requests/${encodeURIComponent(id)}/events`;

export const listRoutingDecisions = (q: Query, signal?: AbortSignal) =>
  apiFetch<ListPage<RoutingDecision>>(withQuery('/v1/admin/routing-decisions', q), { signal });

/** Every audit event matching `q`, page by page (bounded by `max`), for export. */
export async function allAuditEvents(q: Query, max = 50_000): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let after: number | null | undefined;
  do {
    const page = await listAudit({ ...q, limit: 1000, after: after ?? undefined });
    out.push(...page.items);
    after = page.nextCursor;
  } while (after !== null && after !== undefined && out.length < max);
  return out;
}
