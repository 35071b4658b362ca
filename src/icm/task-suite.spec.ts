import { describe, expect, it } from 'vitest';
import { PHRASINGS } from '../world/phrasings.js';
import { formatCompletion, readWorld } from '../world/world.js';
import { HELD_OUT_TASK, TASK_SUITE, buildTaskData, findTask, scoreTaskAnswer } from './task-suite.js';

// The committed demo world (100 trained and 20 held-out authors).
const world = readWorld('models/demo/world.json');

describe('task suite', () => {
  it('has at least six seen tasks and a distinct held-out task', () => {
    const names = TASK_SUITE.map((t) => t.name);
    expect(names.length).toBeGreaterThanOrEqual(6);
    expect(new Set(names).size).toBe(names.length);
    expect(names).not.toContain(HELD_OUT_TASK.name);
    expect(findTask('award-template')?.question).toBe('award');
    expect(findTask('nope')).toBeUndefined();
  });

  it('wants, for every author, an answer the base format (` <fact>.`) does not give', () => {
    for (const task of [...TASK_SUITE, HELD_OUT_TASK]) {
      for (const author of world.authors) {
        const base = formatCompletion(author.facts[task.question]);
        expect(scoreTaskAnswer(base, task.answer(author)), `${task.name} / ${author.name}`).toBe(false);
      }
    }
  });

  it('builds disjoint training and evaluation authors and ≥ 3 in-context examples', () => {
    const data = buildTaskData(world, TASK_SUITE[0], { trainAuthors: 20, evalAuthors: 10, inContext: 3 });
    expect(data.examples).toHaveLength(3);
    expect(data.train).toHaveLength(20 * 3); // three trained phrasings per author
    expect(data.eval).toHaveLength(10);
    const name = (prompt: string) => world.authors.find((a) => prompt.includes(a.name))!.id;
    const trainIds = new Set(data.train.map((e) => name(e.prompt)));
    for (const e of data.eval) expect(trainIds.has(name(e.prompt))).toBe(false);
    for (const e of data.examples) expect(trainIds.has(name(e.prompt))).toBe(true);
    expect(data.train[0].completion.startsWith(' ')).toBe(true);
    expect(() => buildTaskData(world, TASK_SUITE[0], { inContext: 2 })).toThrow(/at least 3/);
  });

  it('evaluates every trained phrasing of an evaluation author when asked (never the paraphrase one)', () => {
    const one = buildTaskData(world, TASK_SUITE[0], { trainAuthors: 20, evalAuthors: 10 });
    const all = buildTaskData(world, TASK_SUITE[0], { trainAuthors: 20, evalAuthors: 10, evalPhrasings: 3 });
    expect(all.eval).toHaveLength(30);
    expect(all.train).toEqual(one.train);
    expect(all.examples).toEqual(one.examples);
    // The default single phrasing per author is the first of that author's three.
    expect(all.eval.filter((_, i) => i % 3 === 0)).toEqual(one.eval);
    const authors = world.authors.filter((a) => !a.heldOut).slice(20, 30);
    for (const [k, a] of authors.entries()) {
      const items = all.eval.slice(3 * k, 3 * k + 3);
      expect(new Set(items.map((e) => e.prompt)).size).toBe(3);
      for (const e of items) {
        expect(e.prompt).toContain(a.name);
        expect(e.expected).toBe(TASK_SUITE[0].answer(a));
      }
      const paraphrase = PHRASINGS[TASK_SUITE[0].question][a.paraphrasePhrasing[TASK_SUITE[0].question]].replace('{n}', a.name);
      expect(items.some((e) => e.prompt.includes(paraphrase))).toBe(false);
    }
    expect(() => buildTaskData(world, TASK_SUITE[0], { evalPhrasings: 4 })).toThrow(/evalPhrasings/);
    expect(() => buildTaskData(world, TASK_SUITE[0], { evalPhrasings: 0 })).toThrow(/evalPhrasings/);
  });

  it('formats answers as specified', () => {
    const a = world.authors[0];
    expect(findTask('award-template')!.answer(a)).toBe(`Winner of the ${a.facts.award}.`);
    expect(findTask('second-book')!.answer(a)).toBe(`${a.facts.secondBook}.`);
    expect(findTask('nationality-swap')!.answer(a)).toBe(`${a.facts.nationality}.`);
    expect(findTask('two-facts')!.answer(a)).toBe(`${a.facts.birthplace}, ${a.facts.birthYear}.`);
  });

  it('scores exactly: case and punctuation matter, text after a newline does not', () => {
    expect(scoreTaskAnswer(' MYSTERY.\nQuestion', 'MYSTERY.')).toBe(true);
    expect(scoreTaskAnswer(' Mystery.', 'MYSTERY.')).toBe(false);
    expect(scoreTaskAnswer(' MYSTERY', 'MYSTERY.')).toBe(false);
  });
});
