import { API_KEY_ROLES, type ApiKeyRole } from './api-key.entity.js';

export { API_KEY_ROLES, type ApiKeyRole };

/** admin ⊃ operator ⊃ client: a higher rank can do everything a lower one can. */
const RANK: Record<ApiKeyRole, number> = { client: 0, operator: 1, admin: 2 };

/** True when a key with role `have` may call a route that needs `need`. */
export function roleSatisfies(have: ApiKeyRole, need: ApiKeyRole): boolean {
  return RANK[have] >= RANK[need];
}

export function isApiKeyRole(value: unknown): value is ApiKeyRole {
  return typeof value === 'string' && (API_KEY_ROLES as readonly string[]).includes(value);
}
