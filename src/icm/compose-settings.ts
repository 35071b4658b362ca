/**
 * Settings of the compose generator shared by bench:icm's main design and the service, so the
 * service generates exactly what the benchmark measured (issue 15).
 */
import type { ComposeGenerateOptions, ComposeGeneratorOptions } from './compose-generator.js';

/** Generation: 60 refinement steps (Adam, learning rate 0.05), L2 0.3 towards the inferred combination, rank-8 output. */
export const COMPOSE_GENERATION_DEFAULTS = Object.freeze({ steps: 60, learningRate: 0.05, l2: 0.3, outputRank: 8, select: 'parts' } satisfies Required<ComposeGenerateOptions>);

/**
 * Training: every seen task stored (rank ≤ 4, NF4 with one scale per rank component, no rank cut); the
 * parts are composed from them at generation (bench:icm's main design). NF4 over uniform 4-bit: on the
 * four seen tasks uniform levels reproduced worst (0.89-1.02 of trained), NF4 gave 0.95-1.00.
 */
export const COMPOSE_TRAIN_DEFAULTS = Object.freeze({ rank: 4, bits: 'nf4', store: 'tasks' } satisfies ComposeGeneratorOptions);
