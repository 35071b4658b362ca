/**
 * The compositional task family (issue 15): a task = (asked fact type, answered fact type(s),
 * answer template). A mapping (asked → answered) says which fact the adapter must retrieve for the
 * question; a template says how the answer is written. Held-out tasks are combinations the
 * generator never sees, each of whose parts (mapping, template) occurs in seen tasks.
 * Framework-free: plain data in, plain data out.
 */
import type { FactType } from '../world/phrasings.js';
import type { Author } from '../world/world.js';
import type { TaskDefinition } from './task-suite.js';

/** Asked fact type → answered fact type(s) (a pair is written `a, b`). */
export interface TaskMapping {
  name: string;
  question: FactType;
  answers: readonly FactType[];
}

/** How the answer text is written around the retrieved fact(s). */
export interface TaskTemplate {
  name: string;
  /** `{x}` is replaced by the answer fact(s). */
  pattern: string;
}

/** A task of the family: a TaskDefinition that knows its parts. */
export interface FamilyTask extends TaskDefinition {
  mapping: string;
  template: string;
  answers: readonly FactType[];
}

/**
 * Every mapping changes the answer (the base model answers the asked fact, so no task is the base
 * model's behaviour): eleven swap the fact, one answers a pair (written `a, b`). All facts are
 * ones the demo model knows.
 */
export const TASK_MAPPINGS: readonly TaskMapping[] = [
  { name: 'place-to-year', question: 'birthplace', answers: ['birthYear'] },
  { name: 'year-to-place', question: 'birthYear', answers: ['birthplace'] },
  { name: 'genre-to-nation', question: 'genre', answers: ['nationality'] },
  { name: 'nation-to-language', question: 'nationality', answers: ['language'] },
  { name: 'language-to-nation', question: 'language', answers: ['nationality'] },
  { name: 'first-to-second', question: 'firstBook', answers: ['secondBook'] },
  { name: 'second-to-first', question: 'secondBook', answers: ['firstBook'] },
  { name: 'award-to-genre', question: 'award', answers: ['genre'] },
  { name: 'genre-to-award', question: 'genre', answers: ['award'] },
  { name: 'father-to-mother', question: 'fatherJob', answers: ['motherJob'] },
  { name: 'mother-to-father', question: 'motherJob', answers: ['fatherJob'] },
  { name: 'place-to-place-year', question: 'birthplace', answers: ['birthplace', 'birthYear'] },
];

/**
 * Bare and two suffix templates, built from words the demo model already writes (its byte-level
 * tokens for other words are beyond a 1M-parameter model, docs/icm.md). A prefix template
 * ("The answer is <x>.") was tried: with a fact swap the adapter learned it on 3 % of unseen
 * authors (place-to-year, 300 steps), against 48 % bare and 64 % as a suffix.
 */
export const TASK_TEMPLATES: readonly TaskTemplate[] = [
  { name: 'bare', pattern: '{x}.' },
  { name: 'answer', pattern: '{x} is the answer.' },
  { name: 'know', pattern: '{x}, I know.' },
];

/**
 * Held-out combinations (mapping/template): one or two per template, spread over mappings, so every
 * held-out mapping is seen with the two other templates and every template with most mappings.
 */
export const HELD_OUT_COMBINATIONS: readonly string[] = [
  'place-to-year/know',
  'genre-to-nation/answer',
  'first-to-second/bare',
  'nation-to-language/know',
  'award-to-genre/answer',
  'father-to-mother/bare',
  'language-to-nation/answer',
  'second-to-first/know',
];

/** The task of one mapping and one template. */
export function familyTask(mapping: TaskMapping, template: TaskTemplate): FamilyTask {
  const [before, after] = template.pattern.split('{x}');
  return {
    name: `${mapping.name}/${template.name}`,
    description: `Asked the ${mapping.question}, answer the ${mapping.answers.join(' and ')} as "${template.pattern.replace('{x}', '<x>')}".`,
    question: mapping.question,
    answers: mapping.answers,
    mapping: mapping.name,
    template: template.name,
    answer: (a: Author) => `${before}${mapping.answers.map((f) => a.facts[f]).join(', ')}${after}`,
  };
}

/** Every task of the family (mappings × templates), mapping-major. */
export function allFamilyTasks(): FamilyTask[] {
  return TASK_MAPPINGS.flatMap((m) => TASK_TEMPLATES.map((t) => familyTask(m, t)));
}

export interface FamilySplit {
  seen: FamilyTask[];
  heldOut: FamilyTask[];
  /** Held-out tasks dropped because a part of them occurs in no seen task. */
  dropped: string[];
}

/**
 * Splits `tasks` into seen and held-out (by `heldOutNames`), keeping only held-out tasks whose
 * mapping and template both occur in some seen task (after a caller filtered tasks out, a part may
 * have lost its last seen task).
 */
export function splitFamily(tasks: readonly FamilyTask[], heldOutNames: readonly string[] = HELD_OUT_COMBINATIONS): FamilySplit {
  const held = new Set(heldOutNames);
  const seen = tasks.filter((t) => !held.has(t.name));
  const mappings = new Set(seen.map((t) => t.mapping));
  const templates = new Set(seen.map((t) => t.template));
  const candidates = tasks.filter((t) => held.has(t.name));
  const heldOut = candidates.filter((t) => mappings.has(t.mapping) && templates.has(t.template));
  return { seen, heldOut, dropped: candidates.filter((t) => !heldOut.includes(t)).map((t) => t.name) };
}
