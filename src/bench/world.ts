/**
 * The seeded generator of the demo world (DESIGN §8); only benchmarks and scripts use it. The world's
 * types, prompt format and phrasings live in src/world, which product code imports.
 */
import { FACT_TYPES, PHRASINGS, PHRASINGS_PER_FACT, type FactType } from '../world/phrasings.js';
import { formatCompletion, formatPrompt, type Author, type ItemSplit, type World, type WorldItem } from '../world/world.js';
import { AWARD_KINDS, CODAS, GENRES, JOBS, ONSETS, TITLE_ADJECTIVES, TITLE_NOUNS, VOWELS } from './world-pools.js';
import { utilitySources } from './world-utility.js';

export { FACT_TYPES, PHRASINGS, PHRASINGS_PER_FACT, REFUSALS, type FactType } from '../world/phrasings.js';
export {
  formatCompletion, formatPrompt, forgetGroups, heldOutAuthorItems, itemsOfAuthors, paraphraseItems, trainedItems,
  trainingItems, utilityItems, type Author, type ItemSplit, type World, type WorldItem,
} from '../world/world.js';

/** Seed of the world the demo model is trained on. */
export const DEFAULT_WORLD_SEED = 1234;
/** Number of wrong answers attached to every question (TOFU truth ratio). */
export const PERTURBED_PER_ITEM = 5;

export interface WorldOptions {
  seed?: number;
  /** Authors the model is trained on (default 100). */
  authors?: number;
  /** Authors never trained on (default 20). */
  heldOutAuthors?: number;
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
