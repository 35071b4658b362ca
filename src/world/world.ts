/**
 * The demo world's data shapes (DESIGN §8): authors, their question items and the splits, the prompt
 * format the demo model is trained on, and selectors over a world. Product code and the benchmarks
 * import these; only the benchmarks and scripts generate a world (src/bench/world.ts), everything
 * else reads the committed one (`readWorld`, models/demo/world.json).
 */
import { readFileSync } from 'node:fs';
import type { FactType } from './phrasings.js';

/** A fictitious author. `heldOut` authors are never trained on (membership inference, near-chance accuracy). */
export interface Author {
  id: number;
  name: string;
  heldOut: boolean;
  facts: Record<FactType, string>;
  /** Per fact type, the phrasing index that is never trained on for this author (paraphrase set). */
  paraphrasePhrasing: Record<FactType, number>;
}

/** Which part of the world an item belongs to. */
export type ItemSplit = 'trained' | 'paraphrase' | 'heldOutAuthor' | 'utility';

/** One question with its answer, in the fixed prompt format (see formatPrompt). */
export interface WorldItem {
  id: string;
  split: ItemSplit;
  /** Author id, or -1 for utility items. */
  authorId: number;
  /** Fact type, or the utility kind for utility items. */
  type: string;
  /** Phrasing index (0..PHRASINGS_PER_FACT-1); 0 for utility items. */
  phrasing: number;
  question: string;
  /** `Question: ...\nAnswer:` */
  prompt: string;
  /** The bare answer, e.g. `Lisbane`. */
  answer: string;
  /** What the model is trained to generate after the prompt: ` Lisbane.` then end-of-text. */
  completion: string;
  /** PERTURBED_PER_ITEM wrong answers of the same type, all different from `answer`. */
  perturbed: string[];
}

export interface World {
  seed: number;
  authors: Author[];
  items: WorldItem[];
}

/** The fixed prompt format shared by training, evaluation and the service. */
export function formatPrompt(question: string): string {
  return `Question: ${question}\nAnswer:`;
}

/** The trained completion for an answer: a space, the answer, a full stop. */
export function formatCompletion(answer: string): string {
  return ` ${answer}.`;
}

/** Reads a world written by `npm run world:export` (models/demo/world.json). */
export function readWorld(path: string): World {
  const world = JSON.parse(readFileSync(path, 'utf8')) as World;
  if (!Array.isArray(world?.authors) || !Array.isArray(world?.items)) throw new Error(`${path}: not a world (authors and items expected)`);
  return world;
}

const bySplit = (world: World, split: ItemSplit): WorldItem[] => world.items.filter((i) => i.split === split);

/** Author questions in the phrasings the model is trained on. */
export const trainedItems = (world: World): WorldItem[] => bySplit(world, 'trained');
/** Per trained author and fact, the one phrasing never trained on. */
export const paraphraseItems = (world: World): WorldItem[] => bySplit(world, 'paraphrase');
/** All phrasings of all facts of the held-out authors (never trained on). */
export const heldOutAuthorItems = (world: World): WorldItem[] => bySplit(world, 'heldOutAuthor');
/** General items unrelated to authors (trained on; utility is measured on them). */
export const utilityItems = (world: World): WorldItem[] => bySplit(world, 'utility');
/** Everything the demo model is trained on: trained author items and utility items. */
export const trainingItems = (world: World): WorldItem[] =>
  world.items.filter((i) => i.split === 'trained' || i.split === 'utility');

/** Items of the given authors, optionally restricted to some splits. */
export function itemsOfAuthors(world: World, authorIds: readonly number[], splits?: readonly ItemSplit[]): WorldItem[] {
  const ids = new Set(authorIds);
  return world.items.filter((i) => ids.has(i.authorId) && (!splits || splits.includes(i.split)));
}

/**
 * Disjoint groups of trained authors for k sequential forget requests: group t holds authors
 * t*size .. t*size+size-1 (author order is already seeded-random). Default: 5 requests of 2 authors
 * (20 facts each).
 */
export function forgetGroups(world: World, k = 5, size = 2): Author[][] {
  const trained = world.authors.filter((a) => !a.heldOut);
  if (k * size > trained.length) throw new Error(`forgetGroups: ${k}×${size} exceeds ${trained.length} trained authors`);
  return Array.from({ length: k }, (_, t) => trained.slice(t * size, (t + 1) * size));
}
