/**
 * The engine's entry point for tfjs gradient registration. Every training entry point (the trainer,
 * worker threads, scripts) calls `ensureGradients()` first: a worker thread starts with a fresh
 * module graph, so registrations made by the main thread do not reach it. The implementation (a
 * resolve hook that lets plain Node load tfjs-core's ESM gradient registry) lives in
 * trainer-gradients.ts; it is a no-op when gradients are already registered (vitest loads the ESM
 * entry, which registers them).
 */
export { ensureGradients } from './trainer-gradients.js';
