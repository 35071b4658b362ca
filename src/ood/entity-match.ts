/**
 * The entity side of a detector (DESIGN §3.2b): a request about a named entity ("Liker Sheseal")
 * forgets facts about that entity in every phrasing, including statements and templates no one
 * trained. Hidden states of a small model mostly encode the question template at the answer
 * position (measured: 36 % of other authors' questions fired a final-token detector fitted on one
 * author), while the entity's words identify it exactly. So the detector keeps the entity, as a
 * sha256 of its normalised words (never as text: the forget data is deleted after training), and a
 * prompt that names it gets the full gate; the adapter then decides which of the entity's facts to
 * withhold. Matching is on normalised words (case, punctuation and spacing do not matter).
 */
import { createHash } from 'node:crypto';

/** Longest entity, in words, that prompts are matched against. */
export const MAX_ENTITY_WORDS = 6;

/** Lower case, letters and digits only, single spaces (NFKC first, so ligatures and widths agree). */
export function normaliseWords(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
    .split(' ')
    .filter((w) => w.length > 0);
}

/** The stored form of an entity: sha256 (hex) of its normalised words joined by one space. */
export function entityHash(entity: string): string {
  return createHash('sha256').update(normaliseWords(entity).join(' ')).digest('hex');
}

/** Hashes of every run of 1..MAX_ENTITY_WORDS normalised words of a prompt (computed once per prompt, shared by all detectors). */
export function promptEntityIndex(text: string): Set<string> {
  const words = normaliseWords(text);
  const out = new Set<string>();
  for (let i = 0; i < words.length; i++) {
    let gram = '';
    for (let n = 0; n < MAX_ENTITY_WORDS && i + n < words.length; n++) {
      gram = n === 0 ? words[i] : `${gram} ${words[i + n]}`;
      out.add(createHash('sha256').update(gram).digest('hex'));
    }
  }
  return out;
}

/** True when the prompt (its index) names any of the hashed entities. */
export function namesEntity(index: ReadonlySet<string>, hashes: readonly string[]): boolean {
  return hashes.some((h) => index.has(h));
}
