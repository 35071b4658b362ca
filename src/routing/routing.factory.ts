import type { RegistryAdapter, RegistrySnapshot, RoutingRequest } from './routing-types.js';

let seq = 0;

/** Test factory: a registry adapter with full defaults (an active task adapter). */
export const RegistryAdapterFactory = {
  create(overrides: Partial<RegistryAdapter> = {}): RegistryAdapter {
    seq += 1;
    const id = overrides.id ?? `adapter-${String(seq).padStart(4, '0')}`;
    return { id, name: overrides.name ?? `name-${id}`, version: 1, kind: 'task', active: true, centroid: null, ...overrides };
  },
  unlearning(overrides: Partial<RegistryAdapter> = {}): RegistryAdapter {
    return RegistryAdapterFactory.create({ kind: 'unlearning', ...overrides });
  },
};

/** Test factory: a registry snapshot. */
export const RegistryFactory = {
  create(adapters: RegistryAdapter[] = [], registryVersion = 1): RegistrySnapshot {
    return { registryVersion, adapters };
  },
};

/** Test factory: a client request in manual mode with no adapters. */
export const RoutingRequestFactory = {
  create(overrides: Partial<RoutingRequest> = {}): RoutingRequest {
    return { mode: 'manual', adapters: [], role: 'client', conditionVector: null, ...overrides };
  },
};
