/**
 * Settings of the compose generator shared by bench:icm's main design and the service, so the
 * service generates exactly what the benchmark measured (issue 15).
 */
import type { ComposeGenerateOptions, ComposeGeneratorOptions } from './compose-generator.js';

/** Generation: 60 refinement steps (Adam, learning rate 0.05), L2 0.3 towards the inferred combination, rank-8 output. */
export const COMPOSE_GENERATION_DEFAULTS = Object.freeze({ steps: 60, learningRate: 0.05, l2: 0.3, outputRank: 8, refineSeen: true, select: 'parts' } satisfies Required<ComposeGenerateOptions>);

/**
 * Training: every seen task stored (rank ≤ 4, 4-bit; ranks are cut only beyond 0.25× the seen adapters'
 * float16 bytes, which rank-4 adapters at 4 bits never reach); the parts are composed from them at
 * generation (bench:icm's main design).
 */
export const COMPOSE_TRAIN_DEFAULTS = Object.freeze({ rank: 4, bits: 4, store: 'tasks', budgetRatio: 0.25 } satisfies ComposeGeneratorOptions);
