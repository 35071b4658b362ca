/**
 * Which named entity a prompt is about, found without a tagger: the first run of capitalised words
 * that is not merely the capitalised first word of a sentence or a line label (`Question:`). This is
 * what the near-negatives (near-negatives.ts) swap: the forget prompts about other entities, and other
 * questions about the forget entity. English-centric by design (capitalisation). A request typed
 * without capitals ("where was liker sheseal born?") is read against the reference prompts instead
 * (`requestEntities`): its entity is the run of words the reference questions' templates never use.
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

// A word of a lower-case text: letters or digits, then letters, digits, apostrophes or hyphens.
const ANY_WORD = /[\p{L}\p{N}][\p{L}\p{N}'’-]*/gu;

/**
 * The words reference prompts use outside their entity runs (normalised): the vocabulary of question
 * templates ("where", "born", "genre"...). Names are never in it, because they sit in entity runs.
 */
export function templateVocabulary(texts: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const t of texts) {
    let rest = t;
    for (const span of entitySpans(t).reverse()) rest = rest.slice(0, span.start) + ' ' + rest.slice(span.end);
    for (const w of normaliseWords(rest)) out.add(w);
  }
  return out;
}

/**
 * Runs of words outside `vocabulary` (and not function words or bare numbers), in order, with the
 * entity written in title case ("liker sheseal" → "Liker Sheseal", as names are written) and the
 * span of the text it came from.
 */
export function unfamiliarSpans(text: string, vocabulary: ReadonlySet<string>): EntitySpan[] {
  const out: EntitySpan[] = [];
  let run: { start: number; end: number; words: string[] } | null = null;
  const close = () => {
    if (run) out.push({ text: run.words.map(titleCase).join(' ').replace(/['’]s$/u, ''), start: run.start, end: run.end - (/['’]s$/u.test(run.words[run.words.length - 1]) ? 2 : 0) });
    run = null;
  };
  for (const m of text.matchAll(ANY_WORD)) {
    const word = m[0];
    const norm = normaliseWords(word).join(' ');
    const familiar = vocabulary.has(norm) || isFunctionWord(norm) || /^\p{N}+$/u.test(norm) || norm.length < 2 || vocabulary.has(norm.replace(/ s$/, ''));
    const joined = run !== null && /^[ \t]+$/.test(text.slice(run.end, m.index));
    if (familiar) {
      close();
      continue;
    }
    if (run && joined) {
      run.words.push(word);
      run.end = m.index + word.length;
    } else {
      close();
      run = { start: m.index, end: m.index + word.length, words: [word] };
    }
  }
  close();
  return out;
}

/**
 * The entity of each prompt of one request: its capitalised subject when it has one; otherwise,
 * among its runs of unfamiliar words, one that the request names elsewhere (another prompt's
 * subject, or a run most prompts share: they are about one entity), else its longest run of two
 * words or more (names of people run to two words; a single unfamiliar word is as likely a rare
 * common word, and an entity gate on it would fire on unrelated prompts). Null when none is found.
 */
export function requestEntities(prompts: readonly string[], vocabulary: ReadonlySet<string>): (EntitySpan | null)[] {
  const subjects = prompts.map((p) => subjectEntity(p));
  const unfamiliar = prompts.map((p, i) => (subjects[i] ? [] : unfamiliarSpans(p, vocabulary)));
  const key = (s: EntitySpan) => normaliseWords(s.text).join(' ');
  // How many prompts name each candidate: a subject counts as named by every prompt that has it.
  const named = new Map<string, number>();
  const count = (k: string) => named.set(k, (named.get(k) ?? 0) + 1);
  for (const s of subjects) if (s) count(key(s));
  for (const spans of unfamiliar) for (const k of new Set(spans.map(key))) count(k);
  const known = (s: EntitySpan) => subjects.some((t) => t && key(t) === key(s)) || named.get(key(s))! >= 2;
  return prompts.map((_, i) => {
    if (subjects[i]) return subjects[i];
    const words = (s: EntitySpan) => s.text.split(' ').length;
    const ranked = [...unfamiliar[i]].sort((a, b) => named.get(key(b))! - named.get(key(a))! || words(b) - words(a) || a.start - b.start);
    return ranked.find(known) ?? ranked.find((s) => words(s) >= 2) ?? null;
  });
}

function titleCase(word: string): string {
  return word.charAt(0).toLocaleUpperCase() + word.slice(1);
}
