import { describe, expect, it } from 'vitest';
import { API_KEY_ROLES, isApiKeyRole, roleSatisfies } from './roles.js';

describe('roleSatisfies', () => {
  // Written out in full so the table itself is the specification.
  const table: [string, string, boolean][] = [
    ['admin', 'admin', true],
    ['admin', 'operator', true],
    ['admin', 'client', true],
    ['operator', 'admin', false],
    ['operator', 'operator', true],
    ['operator', 'client', true],
    ['client', 'admin', false],
    ['client', 'operator', false],
    ['client', 'client', true],
  ];

  it.each(table)('%s may call a %s route: %s', (have, need, expected) => {
    expect(roleSatisfies(have as never, need as never)).toBe(expected);
  });

  it('covers every pair of roles', () => {
    expect(table).toHaveLength(API_KEY_ROLES.length ** 2);
  });

  it('recognises role names', () => {
    expect(API_KEY_ROLES.every(isApiKeyRole)).toBe(true);
    expect(isApiKeyRole('root')).toBe(false);
    expect(isApiKeyRole(undefined)).toBe(false);
  });
});
