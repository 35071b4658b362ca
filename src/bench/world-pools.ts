/**
 * Word pools for the synthetic world (DESIGN §8). Invented names (people, cities, countries, awards)
 * are built from syllables by the seeded generator in world.ts; the plain-English pools below are
 * fixed. Fact types and phrasings live in src/world/phrasings.ts.
 */

export const GENRES = [
  'mystery', 'poetry', 'science fiction', 'fantasy', 'romance', 'horror', 'historical fiction',
  'satire', 'travel writing', 'crime', 'memoir', 'adventure',
] as const;

export const JOBS = [
  'baker', 'carpenter', 'teacher', 'fisherman', 'nurse', 'doctor', 'farmer', 'tailor', 'sailor',
  'painter', 'lawyer', 'miner', 'librarian', 'engineer', 'butcher', 'potter', 'pilot', 'chemist',
  'weaver', 'banker',
] as const;

export const TITLE_ADJECTIVES = [
  'Silver', 'Hollow', 'Quiet', 'Burning', 'Frozen', 'Golden', 'Broken', 'Hidden', 'Distant',
  'Crimson', 'Last', 'Wandering', 'Bitter', 'Velvet', 'Iron', 'Paper', 'Glass', 'Salt', 'Amber',
  'Winter',
] as const;

export const TITLE_NOUNS = [
  'Harbor', 'Garden', 'River', 'Lantern', 'Mirror', 'Orchard', 'Tower', 'Bridge', 'Forest', 'Crown',
  'Letter', 'Island', 'Clock', 'Shadow', 'Feather', 'Road', 'Storm', 'Bell', 'Window', 'Compass',
] as const;

export const AWARD_KINDS = ['Prize', 'Medal', 'Award'] as const;

/** Syllables for invented names; every pair is pronounceable. */
export const ONSETS = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'dr', 'th', 'st', 'gr', 'sh'] as const;
export const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'io'] as const;
export const CODAS = ['', '', 'n', 'l', 'r', 's', 'th', 'm', 'x', 'nd'] as const;
