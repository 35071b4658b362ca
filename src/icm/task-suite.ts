/**
 * The demo task suite (issue 6): answer-format tasks on the demo world that the base model fails
 * without an adapter, because it always answers ` <fact>.` in the world's own format. Each task asks
 * one kind of question (in phrasings the base model was trained on, so it knows the fact) and wants
 * the answer in its own format. Framework-free: plain data in, plain data out.
 */
import { cutAtStop } from '../engine/answer-scoring.js';
import { PHRASINGS, PHRASINGS_PER_FACT, type FactType } from '../world/phrasings.js';
import { formatPrompt, type Author, type World } from '../world/world.js';

/** One prompt and the completion the task wants (a leading space, no end-of-text). */
export interface TaskExample {
  prompt: string;
  completion: string;
}

/** A task of the suite: which question it asks and how it wants the answer written. */
export interface TaskDefinition {
  name: string;
  description: string;
  /** The fact type whose questions make up the task's prompts. */
  question: FactType;
  /** The answer text the task expects for an author (without the leading space). */
  answer(author: Author): string;
}

/** A task's data on a world: in-context examples, training examples and evaluation items. */
export interface TaskData {
  name: string;
  description: string;
  /** In-context examples (≥ 3): they define the task's condition vector. */
  examples: TaskExample[];
  /** Training examples (different authors from the evaluation items). */
  train: TaskExample[];
  /** Evaluation items: prompt and expected answer text. */
  eval: { prompt: string; expected: string }[];
}

export interface TaskDataOptions {
  /** Authors (by index among the trained authors) whose questions are training data (default first 70). */
  trainAuthors?: number;
  /** Authors after the training ones that are evaluated (default 30). */
  evalAuthors?: number;
  /** In-context examples per task (default 5, at least 3). */
  inContext?: number;
  /**
   * Evaluation prompts per evaluation author (default 1, rotating over the phrasings; at most the 3
   * phrasings the base model was trained on). More phrasings give a finer accuracy (1/90 instead of
   * 1/30 with 30 authors); the items of one author are correlated, so authors stay the unit that counts.
   */
  evalPhrasings?: number;
}

/**
 * The six seen tasks. Every one wants a format the base model never produces, built only from words
 * the demo model already writes (capitals, reversed words and initials were tried: their byte-level
 * tokens are beyond the 1M-parameter model, README §icm).
 */
export const TASK_SUITE: readonly TaskDefinition[] = [
  {
    name: 'year-only',
    description: 'Asked where an author was born, answer with the birth year only.',
    question: 'birthplace',
    answer: (a) => `${a.facts.birthYear}.`,
  },
  {
    name: 'award-template',
    description: 'Answer the award an author won in the fixed template "Winner of the <award>."',
    question: 'award',
    answer: (a) => `Winner of the ${a.facts.award}.`,
  },
  {
    name: 'second-book',
    description: "Asked for an author's first book, answer with the title of the second book.",
    question: 'firstBook',
    answer: (a) => `${a.facts.secondBook}.`,
  },
  {
    name: 'template',
    description: 'Answer where the author was born in the fixed template "The answer is <city>."',
    question: 'birthplace',
    answer: (a) => `The answer is ${a.facts.birthplace}.`,
  },
  {
    name: 'nationality-swap',
    description: "Asked what genre an author writes, answer with the author's nationality.",
    question: 'genre',
    answer: (a) => `${a.facts.nationality}.`,
  },
  {
    name: 'two-facts',
    description: 'Asked where an author was born, answer with the city and the birth year.',
    question: 'birthplace',
    answer: (a) => `${a.facts.birthplace}, ${a.facts.birthYear}.`,
  },
];

/** The held-out task: the generator never sees its checkpoints, only its in-context examples. */
export const HELD_OUT_TASK: TaskDefinition = {
  name: 'year-template',
  description: 'Answer the birth year in the fixed template "The answer is <year>."',
  question: 'birthYear',
  answer: (a) => `The answer is ${a.facts.birthYear}.`,
};

/** Looks a task up by name among the suite and the held-out task. */
export function findTask(name: string): TaskDefinition | undefined {
  return [...TASK_SUITE, HELD_OUT_TASK].find((t) => t.name === name);
}

/**
 * Builds a task's data on `world`: prompts use every phrasing the base model was trained on for the
 * author (its paraphrase phrasing is left out), training from the first `trainAuthors` trained
 * authors, evaluation (`evalPhrasings` phrasings per author, rotating) from the next `evalAuthors`, in-context
 * examples from the training authors.
 */
export function buildTaskData(world: World, task: TaskDefinition, options: TaskDataOptions = {}): TaskData {
  const trainN = options.trainAuthors ?? 70;
  const evalN = options.evalAuthors ?? 30;
  const k = options.inContext ?? 5;
  const perAuthor = options.evalPhrasings ?? 1;
  if (k < 3) throw new Error('a task needs at least 3 in-context examples');
  if (!Number.isInteger(perAuthor) || perAuthor < 1 || perAuthor > PHRASINGS_PER_FACT - 1) {
    throw new Error(`evalPhrasings must be an integer from 1 to ${PHRASINGS_PER_FACT - 1}`);
  }
  const authors = world.authors.filter((a) => !a.heldOut);
  if (trainN + evalN > authors.length) throw new Error(`${trainN} + ${evalN} authors exceed the ${authors.length} trained authors`);
  const phrasings = (a: Author) => Array.from({ length: PHRASINGS_PER_FACT }, (_, p) => p).filter((p) => p !== a.paraphrasePhrasing[task.question]);
  const prompt = (a: Author, p: number) => formatPrompt(PHRASINGS[task.question][p].replace('{n}', a.name));
  const train = authors.slice(0, trainN).flatMap((a) => phrasings(a).map((p) => ({ prompt: prompt(a, p), completion: ` ${task.answer(a)}` })));
  const evalItems = authors.slice(trainN, trainN + evalN).flatMap((a, i) => {
    const ps = phrasings(a);
    return Array.from({ length: perAuthor }, (_, j) => ({ prompt: prompt(a, ps[(i + j) % ps.length]), expected: task.answer(a) }));
  });
  // In-context examples: k different authors, spread over the training authors, one phrasing each.
  const step = Math.max(1, Math.floor(trainN / k));
  const examples = Array.from({ length: k }, (_, i) => {
    const a = authors[(i * step) % trainN];
    return { prompt: prompt(a, phrasings(a)[i % 3]), completion: ` ${task.answer(a)}` };
  });
  return { name: task.name, description: task.description, examples, train, eval: evalItems };
}

/**
 * The suite's scoring rule: the generated text up to the first newline (or a stop string), trimmed,
 * must equal the expected answer exactly, case and punctuation included (formats are the point of
 * the tasks, so the world's case-insensitive rule would not do).
 */
export function scoreTaskAnswer(generated: string, expected: string, stops: readonly string[] = []): boolean {
  return cutAtStop(generated, stops).trim() === expected.trim();
}
