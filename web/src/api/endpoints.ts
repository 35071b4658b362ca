import { apiFetch, withQuery, type Query } from './client.js';
import type { Adapter, AdapterPage, AuditEvent, AuditPage, ChainVerdict, RoutingDecisionPage, UnlearningPage, UnlearningRequest } from './types.js';

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

/** Filters: status, name; pagination: limit (≤ 500), offset. */
export const listUnlearning = (q: Query, signal?: AbortSignal) =>
  apiFetch<UnlearningPage>(withQuery('/v1/unlearning-requests', q), { signal });
export const getUnlearning = (id: string, signal?: AbortSignal) => apiFetch<UnlearningRequest>(`/v1/unlearning-requests/${encodeURIComponent(id)}`, { signal });
const jsonPost = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
/** needs_review → active (admin): accepts the failed checks; the reason is audited. */
export const activateUnlearning = (id: string, reason: string) =>
  apiFetch<UnlearningRequest>(`/v1/unlearning-requests/${encodeURIComponent(id)}/activate`, jsonPost({ reason }));
/** Stops routing the request's adapter for good (admin); works on needs_review requests too. */
export const revokeUnlearning = (id: string, reason: string) =>
  apiFetch<UnlearningRequest>(`/v1/unlearning-requests/${encodeURIComponent(id)}/revoke`, jsonPost(reason ? { reason } : {}));
/** SSE: `progress` (the whole request) on every change, then `end` once final. */
export const unlearningEventsPath = (id: string) => `/v1/unlearning-requests/${encodeURIComponent(id)}/events`;

/** Filters: adapterId, keyId, requestId, from, to (ISO); pagination: limit (≤ 1000), after = nextCursor. */
export const listRoutingDecisions = (q: Query, signal?: AbortSignal) =>
  apiFetch<RoutingDecisionPage>(withQuery('/v1/admin/routing-decisions', q), { signal });

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
