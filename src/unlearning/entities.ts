/**
 * Which named entity a prompt is about, found without a tagger: the first run of capitalised words
 * that is not merely the capitalised first word of a sentence or a line label (`Question:`). This is
 * what the near-negatives (near-negatives.ts) swap: the forget prompts about other entities, and other
 * questions about the forget entity. English-centric by design (capitalisation); a prompt without
 * such a run has no entity and is not swapped.
 */
import { normaliseWords } from '../ood/entity-match.js';

/** A subject entity and where it sits in its text. */
export interface EntitySpan {
  text: string;
  start: number;
  end: number;
}

// A capitalised word: an upper-case letter, then letters, digits, apostrophes or hyphens.
const WORD = /[\p{Lu}][\p{L}\p{N}'’-]*/u;
const RUN = new RegExp(`${WORD.source}(?:[ \\t]+${WORD.source})*`, 'gu');

/** True when position `at` of `text` starts a sentence or a line (only spaces and ".?!:\n" before it). */
function startsSentence(text: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && (text[i] === ' ' || text[i] === '\t')) i--;
  return i < 0 || /[.?!:\n"“(]/.test(text[i]);
}

/**
 * Every entity run of a text, in order. A single capitalised word that starts a sentence ("Where",
 * "Tell") or labels a line ("Question:") is not an entity; a run of two or more is, wherever it is.
 * A trailing possessive (`'s`) is not part of the entity.
 */
export function entitySpans(text: string): EntitySpan[] {
  const out: EntitySpan[] = [];
  for (const m of text.matchAll(RUN)) {
    let start = m.index;
    let words = m[0].split(/[ \t]+/);
    // Drop a sentence-initial function word in front of a run ("Did Liker Sheseal ..." → "Liker Sheseal").
    if (words.length > 1 && startsSentence(text, start) && isFunctionWord(words[0])) {
      start = m.index + m[0].indexOf(words[1], words[0].length);
      words = words.slice(1);
    }
    const value = words.join(' ').replace(/['’]s$/u, '');
    const end = start + value.length;
    if (words.length === 1 && (startsSentence(text, start) || text[end] === ':')) continue;
    if (value.length >= 2) out.push({ text: value, start, end });
  }
  return out;
}

/** The entity a text is about: its first entity run, or null. */
export function subjectEntity(text: string): EntitySpan | null {
  return entitySpans(text)[0] ?? null;
}

/** `text` with its subject entity span replaced by `entity`. */
export function swapEntity(text: string, span: EntitySpan, entity: string): string {
  return text.slice(0, span.start) + entity + text.slice(span.end);
}

/** True when `text` names `entity`: its normalised words in a row (as the entity gate matches, src/ood/entity-match.ts). */
export function mentions(text: string, entity: string): boolean {
  const t = ` ${normaliseWords(text).join(' ')} `;
  const e = normaliseWords(entity).join(' ');
  return e.length > 0 && t.includes(` ${e} `);
}

const FUNCTION_WORDS = new Set([
  'what', 'where', 'when', 'which', 'who', 'whom', 'whose', 'why', 'how', 'did', 'does', 'do', 'is', 'was', 'are', 'were',
  'has', 'have', 'had', 'can', 'could', 'will', 'would', 'should', 'tell', 'name', 'give', 'list', 'in', 'on', 'of', 'for',
  'the', 'a', 'an', 'please', 'describe', 'explain', 'and', 'but', 'so', 'if', 'then',
]);

function isFunctionWord(word: string): boolean {
  return FUNCTION_WORDS.has(word.toLowerCase());
}
