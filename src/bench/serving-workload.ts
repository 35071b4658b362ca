/**
 * What bench:serving sends (issue 13), from the model folder's world.json: the 5 unlearning
 * requests (one author each, every fact asked once: the shape people send), the request mix of the
 * three ways (a third each: questions about the forgotten authors in every phrasing, questions
 * about other authors, general "task" prompts that auto routing sends to the task adapter), and the
 * many-adapter workload (Zipf(1) draws over registered adapters, prompts and output lengths from
 * fixed distributions).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ForgetRequest } from './serving-services.js';
import { seededRandom, zipfSampler } from './serving-load.js';

interface WorldItem {
  split: string;
  authorId: number;
  type: string;
  phrasing: number;
  prompt: string;
  answer: string;
}

export interface ServingWorld {
  forget: ForgetRequest[];
  /** Questions about the forgotten authors (every phrasing, paraphrases included). */
  forgetPrompts: string[];
  retained: string[];
  task: string[];
}

export function loadServingWorld(modelDir: string): ServingWorld {
  const items = (JSON.parse(readFileSync(join(modelDir, 'world.json'), 'utf8')) as { items: WorldItem[] }).items;
  const trained = items.filter((i) => i.split === 'trained');
  const authors = [...new Set(trained.map((i) => i.authorId))].sort((a, b) => a - b);
  const forgotten = authors.slice(0, 5);
  const forget = forgotten.map((a, g): ForgetRequest => {
    const mine = trained.filter((i) => i.authorId === a && i.phrasing === 0);
    const byType = new Map<string, WorldItem>();
    for (const i of mine) if (!byType.has(i.type)) byType.set(i.type, i);
    return { name: `forget-author-${g + 1}`, items: [...byType.values()].map((i) => ({ prompt: i.prompt, answer: i.answer })) };
  });
  const forgetPrompts = items.filter((i) => (i.split === 'trained' || i.split === 'paraphrase') && forgotten.includes(i.authorId)).map((i) => i.prompt);
  const retained = authors.slice(20, 60).flatMap((a) => trained.filter((i) => i.authorId === a && i.phrasing === 0).slice(0, 3).map((i) => i.prompt));
  const task = items.filter((i) => i.split === 'utility').map((i) => i.prompt);
  return { forget, forgetPrompts, retained, task };
}

export type MixKind = 'forget' | 'retained' | 'task';

/** `n` prompts, a third each of forget, retained and task prompts, interleaved, spread over each pool. */
export function servingMix(world: ServingWorld, n: number): Array<{ kind: MixKind; prompt: string }> {
  const pools: Record<MixKind, string[]> = { forget: world.forgetPrompts, retained: world.retained, task: world.task };
  const out: Array<{ kind: MixKind; prompt: string }> = [];
  for (let i = 0; out.length < n; i++) {
    const kind = (['forget', 'retained', 'task'] as const)[i % 3];
    const pool = pools[kind];
    // A stride coprime with typical pool sizes spreads the picks over authors and phrasings.
    out.push({ kind, prompt: pool[(Math.floor(i / 3) * 37) % pool.length] });
  }
  return out;
}

/** Output lengths of the many-adapter workload (max_tokens), drawn uniformly. */
export const ZIPF_MAX_TOKENS = [8, 16, 32] as const;

/**
 * `n` requests of the many-adapter workload: adapter rank k ∈ [0, adapters) drawn Zipf(alpha), a
 * prompt drawn uniformly from the mix's pools, max_tokens from ZIPF_MAX_TOKENS. Seeded.
 */
export function zipfWorkload(world: ServingWorld, n: number, adapters: number, seed: number, alpha = 1): Array<{ adapter: number; prompt: string; maxTokens: number }> {
  const random = seededRandom(seed);
  const draw = zipfSampler(adapters, alpha, random);
  const prompts = [...world.forgetPrompts.slice(0, 200), ...world.retained, ...world.task.slice(0, 200)];
  return Array.from({ length: n }, () => ({
    adapter: draw(),
    prompt: prompts[Math.floor(random() * prompts.length)],
    maxTokens: ZIPF_MAX_TOKENS[Math.floor(random() * ZIPF_MAX_TOKENS.length)],
  }));
}
