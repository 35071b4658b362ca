import { describe, expect, it } from 'vitest';
import { readWorld } from '../world/world.js';
import { formatCompletion } from '../world/world.js';
import { allFamilyTasks, HELD_OUT_COMBINATIONS, splitFamily, TASK_MAPPINGS, TASK_TEMPLATES } from './task-family.js';
import { buildTaskData, scoreTaskAnswer } from './task-suite.js';

const world = readWorld('models/demo/world.json');

describe('compositional task family', () => {
  it('has ≥ 24 seen and ≥ 6 held-out tasks, every held-out part seen, never the combination', () => {
    const sut = splitFamily(allFamilyTasks());
    expect(sut.seen.length).toBeGreaterThanOrEqual(24);
    expect(sut.heldOut.map((t) => t.name).sort()).toEqual([...HELD_OUT_COMBINATIONS].sort());
    expect(sut.heldOut.length).toBeGreaterThanOrEqual(6);
    for (const h of sut.heldOut) {
      expect(sut.seen.some((s) => s.mapping === h.mapping), h.name).toBe(true);
      expect(sut.seen.some((s) => s.template === h.template), h.name).toBe(true);
      expect(sut.seen.some((s) => s.name === h.name)).toBe(false);
    }
    expect(allFamilyTasks()).toHaveLength(TASK_MAPPINGS.length * TASK_TEMPLATES.length);
  });

  it('drops a held-out task whose part lost its last seen task', () => {
    const tasks = allFamilyTasks().filter((t) => !(t.mapping === 'place-to-year' && t.template !== 'know'));
    expect(splitFamily(tasks).dropped).toEqual(['place-to-year/know']);
  });

  it('wants answers the base format does not give, written by the template', () => {
    const [task] = allFamilyTasks().filter((t) => t.name === 'place-to-year/know');
    const author = world.authors[0];
    expect(task.answer(author)).toBe(`${author.facts.birthYear}, I know.`);
    for (const t of allFamilyTasks()) for (const a of world.authors.slice(0, 20)) expect(scoreTaskAnswer(formatCompletion(a.facts[t.question]), t.answer(a)), t.name).toBe(false);
    const data = buildTaskData(world, task, { trainAuthors: 10, evalAuthors: 5 });
    expect(data.examples[0].completion).toMatch(/^ \d{4}, I know\.$/);
    expect(data.examples.map((e) => e.prompt).join()).not.toContain(task.name); // no task identity in the examples
  });
});
