import {
  AWARD_KINDS, CODAS, FACT_TYPES, GENRES, JOBS, ONSETS, PHRASINGS, PHRASINGS_PER_FACT, TITLE_ADJECTIVES,
  TITLE_NOUNS, VOWELS, type FactType,
} from './world-pools.js';
import { utilitySources } from './world-utility.js';

export { FACT_TYPES, PHRASINGS, PHRASINGS_PER_FACT, REFUSALS, type FactType } from './world-pools.js';

/** Seed of the world the demo model is trained on. */
export const DEFAULT_WORLD_SEED = 1234;
/** Number of wrong answers attached to every question (TOFU truth ratio). */
export const PERTURBED_PER_ITEM = 5;

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

export interface WorldOptions {
  seed?: number;
  /** Authors the model is trained on (default 100). */
  authors?: number;
  /** Authors never trained on (default 20). */
  heldOutAuthors?: number;
}

/** The fixed prompt format shared by training, evaluation and the service. */
export function formatPrompt(question: string): string {
  return `Question: ${question}\nAnswer:`;
}

/** The trained completion for an answer: a space, the answer, a full stop. */
export function formatCompletion(answer: string): string {
  return ` ${answer}.`;
}

/** mulberry32: small, fast, seeded; the same seed always gives the same sequence. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];

function shuffled<T>(rng: Rng, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function syllable(rng: Rng, coda: boolean): string {
  return pick(rng, ONSETS) + pick(rng, VOWELS) + (coda ? pick(rng, CODAS) : '');
}

const capitalise = (s: string): string => s[0].toUpperCase() + s.slice(1);

/** `count` distinct invented words of `syllables` syllables, not in `taken` (which it extends). */
function inventWords(rng: Rng, count: number, syllables: number, taken: Set<string>, suffix = ''): string[] {
  const out: string[] = [];
  while (out.length < count) {
    let w = '';
    for (let s = 0; s < syllables; s++) w += syllable(rng, s === syllables - 1);
    w = capitalise(w) + suffix;
    if (w.length < 4 || w.length > 11 || taken.has(w)) continue;
    taken.add(w);
    out.push(w);
  }
  return out;
}

/** `n` distinct values from `pool` other than `correct`, in seeded random order. */
function perturb(rng: Rng, pool: readonly string[], correct: string, n = PERTURBED_PER_ITEM): string[] {
  const others = [...new Set(pool)].filter((x) => x.toLowerCase() !== correct.toLowerCase());
  return shuffled(rng, others).slice(0, n);
}

/** Generates the whole world from a seed: same seed → identical world. */
export function generateWorld(options: WorldOptions = {}): World {
  const seed = options.seed ?? DEFAULT_WORLD_SEED;
  const nTrained = options.authors ?? 100;
  const nHeldOut = options.heldOutAuthors ?? 20;
  const total = nTrained + nHeldOut;
  const rng = createRng(seed);
  const taken = new Set<string>();

  const firstNames = inventWords(rng, 50, 2, taken);
  const lastNames = inventWords(rng, total, 2, taken);
  const cities = inventWords(rng, 40, 2, taken);
  const countries = inventWords(rng, 16, 3, taken);
  const languages = inventWords(rng, 12, 2, taken, 'ish');
  const awards = inventWords(rng, 16, 2, taken).map((w) => `${w} ${pick(rng, AWARD_KINDS)}`);
  const titles = shuffled(rng, TITLE_ADJECTIVES.flatMap((a) => TITLE_NOUNS.map((n) => `The ${a} ${n}`)));
  const years = Array.from({ length: 100 }, (_, i) => String(1900 + i));
  const pools: Record<FactType, readonly string[]> = {
    birthplace: cities, birthYear: years, nationality: countries, genre: GENRES, award: awards,
    firstBook: titles, secondBook: titles, fatherJob: JOBS, motherJob: JOBS, language: languages,
  };

  const authors: Author[] = [];
  for (let id = 0; id < total; id++) {
    const facts = {} as Record<FactType, string>;
    const paraphrasePhrasing = {} as Record<FactType, number>;
    for (const f of FACT_TYPES) {
      facts[f] = f === 'firstBook' ? titles[2 * id] : f === 'secondBook' ? titles[2 * id + 1] : pick(rng, pools[f]);
      paraphrasePhrasing[f] = Math.floor(rng() * PHRASINGS_PER_FACT);
    }
    if (facts.fatherJob === facts.motherJob) facts.motherJob = JOBS[(JOBS.indexOf(facts.fatherJob as never) + 1) % JOBS.length];
    authors.push({ id, name: `${pick(rng, firstNames)} ${lastNames[id]}`, heldOut: id >= nTrained, facts, paraphrasePhrasing });
  }

  const items: WorldItem[] = [];
  const add = (split: ItemSplit, authorId: number, type: string, phrasing: number, question: string, answer: string, pool: readonly string[]): void => {
    items.push({
      id: `${split}:${authorId}:${type}:${phrasing}:${items.length}`, split, authorId, type, phrasing, question,
      prompt: formatPrompt(question), answer, completion: formatCompletion(answer), perturbed: perturb(rng, pool, answer),
    });
  };
  for (const a of authors) {
    for (const f of FACT_TYPES) {
      for (let p = 0; p < PHRASINGS_PER_FACT; p++) {
        const split: ItemSplit = a.heldOut ? 'heldOutAuthor' : p === a.paraphrasePhrasing[f] ? 'paraphrase' : 'trained';
        add(split, a.id, f, p, PHRASINGS[f][p].replace('{n}', a.name), a.facts[f], pools[f]);
      }
    }
  }
  for (const u of utilitySources()) add('utility', -1, u.kind, 0, u.question, u.answer, u.pool);
  return { seed, authors, items };
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
