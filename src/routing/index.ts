// Public API of the framework-free serving pieces (router, adapter cache, micro-batcher, FLOPs).
export * from './adapter-cache.js';
export * from './flops.js';
export * from './micro-batcher.js';
export * from './router.js';
export * from './routing-errors.js';
export type * from './routing-types.js';
