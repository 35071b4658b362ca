import { currentKey, signOut } from '../lib/session.js';

/** The service's error shape `{ error: { code, message, details } }`, with the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
  }

  /**
   * True when the route itself does not exist on this server (Nest's "Cannot GET /x" 404), as
   * opposed to a missing resource: that part of Lethe isn't deployed yet, show an empty state.
   */
  get routeMissing(): boolean {
    return this.status === 404 && /^Cannot (GET|POST|PUT|PATCH|DELETE) /.test(this.message);
  }
}

export type Query = Record<string, string | number | undefined | null>;

/** `path?query`, leaving out empty values. */
export function withQuery(path: string, query: Query = {}): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

/** Headers carrying the session's key (or `key` when given, e.g. while signing in). */
export function authHeaders(key = currentKey()): Record<string, string> {
  return key ? { authorization: `Bearer ${key}`, accept: 'application/json' } : { accept: 'application/json' };
}

async function toApiError(res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || `request failed with status ${res.status}`;
  let details: unknown = null;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string; details?: unknown } };
    if (body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      details = body.error.details ?? null;
    }
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(res.status, code, message, details);
}

/**
 * GET (or `init.method`) a JSON endpoint with the session's key. A 401 on a signed-in session
 * means the key was revoked: the session ends.
 */
export async function apiFetch<T>(path: string, init: RequestInit & { key?: string } = {}): Promise<T> {
  const { key, ...rest } = init;
  const res = await fetch(path, { ...rest, headers: { ...authHeaders(key), ...(rest.headers as Record<string, string> | undefined) }, credentials: 'omit' });
  if (!res.ok) {
    const err = await toApiError(res);
    if (res.status === 401 && key === undefined && currentKey()) signOut();
    throw err;
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A human sentence for any error thrown by the API layer. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) return `${e.message} (${e.code}, HTTP ${e.status})`;
  if (e instanceof DOMException && e.name === 'AbortError') return 'cancelled';
  return e instanceof Error ? e.message : String(e);
}
