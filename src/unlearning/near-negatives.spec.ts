import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { STATEMENTS } from '../world/phrasings.js';
import { formatPrompt, itemsOfAuthors, readWorld } from '../world/world.js';
import { normaliseAnswer } from '../engine/answer-scoring.js';
import { mentions } from './entities.js';
import { loadModel } from './load-model.js';
import { buildNearNegatives } from './near-negatives.js';
import { balancedExamples } from './pipeline.js';

await initBackend('wasm');
const { model, tokenizer } = await loadModel('models/demo');
const world = readWorld('models/demo/world.json');
const [author, other] = world.authors;
// Reference prompts about other authors, as a model folder's reference data would give them.
const references = world.items.filter((i) => i.authorId >= 50 && i.authorId < 60 && i.split === 'trained').map((i) => i.prompt);
const birthplace = itemsOfAuthors(world, [author.id], ['trained']).find((i) => i.type === 'birthplace')!;

describe('buildNearNegatives on the demo model', () => {
  afterAll(() => model.dispose());

  it('a one-fact request finds the fact’s other phrasings, keeps the entity’s other facts and asks the question about other authors', async () => {
    const sut = await buildNearNegatives(model, tokenizer, [{ prompt: birthplace.prompt, answer: birthplace.answer }], references);
    expect(sut.entities).toEqual([author.name]);
    expect(sut.forgetPrompts.length).toBeGreaterThan(0);
    for (const f of sut.forgetPrompts) {
      expect(mentions(f.prompt, author.name)).toBe(true);
      expect(normaliseAnswer(f.answer)).toBe(normaliseAnswer(author.facts.birthplace));
    }
    expect(sut.sameEntity.length).toBeGreaterThan(5);
    for (const s of sut.sameEntity) expect(normaliseAnswer(s.answer)).not.toBe(normaliseAnswer(author.facts.birthplace));
    expect(sut.otherEntity.length).toBeGreaterThan(0);
    for (const o of [...sut.otherEntity, ...sut.reference]) expect(mentions(o.prompt, author.name)).toBe(false);
  });

  it('statements become questions: every found phrasing of a texts request asks for a fact the statements hold', async () => {
    const texts = Object.entries(STATEMENTS).map(([f, s]) => ({ prompt: s.replace('{n}', author.name).replace('{a}', author.facts[f as keyof typeof author.facts]) }));
    const sut = await buildNearNegatives(model, tokenizer, texts, references);
    expect(sut.entities).toEqual([author.name]);
    expect(sut.forgetPrompts.length).toBeGreaterThanOrEqual(10);
    const facts = Object.values(author.facts).map(normaliseAnswer);
    for (const f of sut.forgetPrompts) expect(facts).toContain(normaliseAnswer(f.answer));
    // Questions about other authors, in the forget questions' templates.
    expect(sut.otherEntity.some((o) => mentions(o.prompt, other.name) || /\?\nAnswer:$/.test(o.prompt))).toBe(true);
  });

  it('a request typed in lower case finds its entity against the reference templates and asks other authors in lower case', async () => {
    const typed = formatPrompt(birthplace.question.toLowerCase());
    const sut = await buildNearNegatives(model, tokenizer, [{ prompt: typed, answer: birthplace.answer }], references);
    expect(sut.entities.map((e) => e.toLowerCase())).toEqual([author.name.toLowerCase()]);
    expect(sut.forgetPrompts.length).toBeGreaterThan(0);
    expect(sut.sameEntity.length).toBeGreaterThan(5);
    expect(sut.otherEntity.length).toBeGreaterThan(0);
    for (const o of sut.otherEntity) expect(mentions(o.prompt, author.name)).toBe(false);
    // The typed question asked about other authors keeps its style (found phrasings keep theirs).
    const asTyped = (p: string) => p === `Question: ${p.slice('Question: '.length, -'\nAnswer:'.length).toLowerCase()}\nAnswer:`;
    expect(sut.otherEntity.some((o) => asTyped(o.prompt) && o.prompt.startsWith(typed.slice(0, 20)))).toBe(true);
  });

  it('without reference prompts (a model with no reference data) there is nothing to swap', async () => {
    const sut = await buildNearNegatives(model, tokenizer, [{ prompt: birthplace.prompt, answer: birthplace.answer }], []);
    expect(sut).toMatchObject({ entities: [author.name], forgetPrompts: [], otherEntity: [], sameEntity: [], reference: [] });
  });
});

describe('balancedExamples', () => {
  const ex = (n: number) => Array.from({ length: n }, (_, i) => ({ prompt: [i], completion: [i] }));
  it('repeats the forget examples until they are at least as many as the kept ones', () => {
    expect(balancedExamples(ex(2), ex(7))).toHaveLength(8 + 7);
    expect(balancedExamples(ex(10), ex(3))).toHaveLength(13);
    expect(balancedExamples(ex(3), [])).toHaveLength(3);
  });
});
