import { seededRandom } from './transformer-weights.js';

export interface SamplingOptions {
  /** 0 (default) = greedy argmax. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of most probable tokens whose mass reaches topP; default 1. */
  topP?: number;
}

/** A seeded uniform [0, 1) generator (mulberry32). Same seed, same sequence. */
export function createRng(seed: number): () => number {
  return seededRandom(seed);
}

/** Index of the largest logit (first one on ties). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** softmax(logits / temperature) in float64. */
export function softmaxWithTemperature(logits: ArrayLike<number>, temperature: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const p = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    p[i] = Math.exp((logits[i] - max) / temperature);
    sum += p[i];
  }
  for (let i = 0; i < p.length; i++) p[i] /= sum;
  return p;
}

/**
 * The nucleus: token ids sorted by probability (descending, ties by id), cut after the first
 * prefix whose mass reaches topP, with their renormalised probabilities.
 */
export function topPFilter(probs: ArrayLike<number>, topP: number): { ids: number[]; probs: number[] } {
  const order = Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  const ids: number[] = [];
  let mass = 0;
  for (const id of order) {
    ids.push(id);
    mass += probs[id];
    // The epsilon keeps float rounding from adding one extra token at an exact boundary.
    if (mass >= topP - 1e-12) break;
  }
  return { ids, probs: ids.map((id) => probs[id] / mass) };
}

/** Picks the next token from one row of logits: greedy at temperature 0, else temperature + top-p. */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, rng: () => number): number {
  const temperature = options.temperature ?? 0;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(`temperature ${temperature} must be ≥ 0`);
  const topP = options.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new Error(`topP ${topP} must be in (0, 1]`);
  if (temperature === 0) return argmax(logits);
  const probs = softmaxWithTemperature(logits, temperature);
  const nucleus = topP < 1 ? topPFilter(probs, topP) : { ids: [...probs.keys()], probs: [...probs] };
  let u = rng();
  for (let i = 0; i < nucleus.ids.length; i++) {
    u -= nucleus.probs[i];
    if (u < 0) return nucleus.ids[i];
  }
  return nucleus.ids[nucleus.ids.length - 1];
}
