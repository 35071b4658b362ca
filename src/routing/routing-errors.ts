/** Codes of the router's domain errors; the HTTP layer maps each one to a status in one place. */
export const RoutingErrorCode = {
  /** No adapter with that name or id in the registry snapshot. */
  UNKNOWN_ADAPTER: 'UNKNOWN_ADAPTER',
  /** The adapter exists but is not active (never activated, deactivated or revoked). */
  INACTIVE_ADAPTER: 'INACTIVE_ADAPTER',
  /** A strength that is not a finite number within the configured bounds. */
  INVALID_STRENGTH: 'INVALID_STRENGTH',
  /** `routing: "none"` asked for by a caller who is not an admin. */
  FORBIDDEN_ROUTING_MODE: 'FORBIDDEN_ROUTING_MODE',
  /** An explicit entry naming an adapter clients may not select (unlearning adapters: gate only). */
  ADAPTER_NOT_SELECTABLE: 'ADAPTER_NOT_SELECTABLE',
  /** The same adapter named twice in one request. */
  DUPLICATE_ADAPTER: 'DUPLICATE_ADAPTER',
  /** More explicit adapters than the policy allows. */
  TOO_MANY_ADAPTERS: 'TOO_MANY_ADAPTERS',
  /** A malformed routing request (unknown mode, entry without name or id, adapters with `none`...). */
  INVALID_ROUTING_REQUEST: 'INVALID_ROUTING_REQUEST',
  /** Server side: an active unlearning adapter has no gate score and the policy says `error`. */
  MISSING_GATE_SCORE: 'MISSING_GATE_SCORE',
} as const;
export type RoutingErrorCode = (typeof RoutingErrorCode)[keyof typeof RoutingErrorCode];

/** What a routing error is about: the request field (`lethe.adapters[1].strength`) and/or adapter. */
export interface RoutingErrorDetails {
  field?: string;
  adapter?: string;
  [key: string]: unknown;
}

/** A domain error of the router. `code` is stable; `message` names the field or adapter. */
export class RoutingError extends Error {
  override readonly name = 'RoutingError';
  constructor(
    readonly code: RoutingErrorCode,
    message: string,
    readonly details: RoutingErrorDetails = {},
  ) {
    super(message);
  }
}

/**
 * Suggested HTTP status per code, exhaustive by construction (a new code fails to compile here).
 * Input errors are 4xx; a missing gate score is the server's fault.
 */
export const ROUTING_ERROR_HTTP_STATUS: Readonly<Record<RoutingErrorCode, number>> = {
  UNKNOWN_ADAPTER: 404,
  INACTIVE_ADAPTER: 409,
  INVALID_STRENGTH: 400,
  FORBIDDEN_ROUTING_MODE: 403,
  ADAPTER_NOT_SELECTABLE: 403,
  DUPLICATE_ADAPTER: 400,
  TOO_MANY_ADAPTERS: 400,
  INVALID_ROUTING_REQUEST: 400,
  MISSING_GATE_SCORE: 500,
};
