import { describe, expect, it } from 'vitest';
import {
  FACT_TYPES, PERTURBED_PER_ITEM, PHRASINGS, PHRASINGS_PER_FACT, forgetGroups, generateWorld, heldOutAuthorItems,
  itemsOfAuthors, paraphraseItems, trainedItems, trainingItems, utilityItems,
} from './world.js';

const sut = generateWorld();

describe('generateWorld', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    expect(JSON.stringify(generateWorld())).toBe(JSON.stringify(sut));
    const other = generateWorld({ seed: 99 });
    expect(other.authors[0].name).not.toBe(sut.authors[0].name);
  });

  it('has 100 trained and 20 held-out authors with unique names and ≥ 10 facts each', () => {
    expect(sut.authors.filter((a) => !a.heldOut)).toHaveLength(100);
    expect(sut.authors.filter((a) => a.heldOut)).toHaveLength(20);
    expect(new Set(sut.authors.map((a) => a.name)).size).toBe(120);
    expect(FACT_TYPES.length).toBeGreaterThanOrEqual(10);
    for (const a of sut.authors) for (const f of FACT_TYPES) expect(a.facts[f]).toMatch(/\S/);
    const books = sut.authors.flatMap((a) => [a.facts.firstBook, a.facts.secondBook]);
    expect(new Set(books).size).toBe(books.length);
  });

  it('has ≥ 4 distinct phrasings per fact type', () => {
    for (const f of FACT_TYPES) {
      expect(new Set(PHRASINGS[f]).size).toBe(PHRASINGS_PER_FACT);
      expect(PHRASINGS_PER_FACT).toBeGreaterThanOrEqual(4);
    }
  });

  it('counts: 3 trained + 1 paraphrase per author fact, all phrasings for held-out authors', () => {
    expect(trainedItems(sut)).toHaveLength(100 * FACT_TYPES.length * (PHRASINGS_PER_FACT - 1));
    expect(paraphraseItems(sut)).toHaveLength(100 * FACT_TYPES.length);
    expect(heldOutAuthorItems(sut)).toHaveLength(20 * FACT_TYPES.length * PHRASINGS_PER_FACT);
    expect(utilityItems(sut).length).toBeGreaterThanOrEqual(200);
    expect(trainingItems(sut)).toHaveLength(trainedItems(sut).length + utilityItems(sut).length);
  });

  it('never trains the paraphrase phrasing of an author, and trains every phrasing on other authors', () => {
    const trainedKeys = new Set(trainedItems(sut).map((i) => `${i.authorId}:${i.type}:${i.phrasing}`));
    for (const p of paraphraseItems(sut)) {
      expect(trainedKeys.has(`${p.authorId}:${p.type}:${p.phrasing}`)).toBe(false);
      // the same author's other phrasings of that fact are all trained, with the same answer
      const siblings = trainedItems(sut).filter((i) => i.authorId === p.authorId && i.type === p.type);
      expect(siblings).toHaveLength(PHRASINGS_PER_FACT - 1);
      for (const s of siblings) expect(s.answer).toBe(p.answer);
    }
    for (const f of FACT_TYPES) {
      for (let ph = 0; ph < PHRASINGS_PER_FACT; ph++) {
        const authorsTrained = trainedItems(sut).filter((i) => i.type === f && i.phrasing === ph).length;
        expect(authorsTrained).toBeGreaterThanOrEqual(50);
      }
    }
    // which phrasing is held out varies by author
    expect(new Set(paraphraseItems(sut).filter((i) => i.type === 'birthplace').map((i) => i.phrasing)).size).toBe(PHRASINGS_PER_FACT);
  });

  it('gives every question five distinct wrong answers of the same type', () => {
    for (const item of sut.items) {
      expect(item.perturbed).toHaveLength(PERTURBED_PER_ITEM);
      expect(new Set(item.perturbed).size).toBe(PERTURBED_PER_ITEM);
      expect(item.perturbed.map((x) => x.toLowerCase())).not.toContain(item.answer.toLowerCase());
      if (item.type === 'birthYear') for (const x of item.perturbed) expect(x).toMatch(/^19\d\d$/);
    }
  });

  it('uses the fixed prompt format', () => {
    const item = trainedItems(sut)[0];
    expect(item.prompt).toBe(`Question: ${item.question}\nAnswer:`);
    expect(item.completion).toBe(` ${item.answer}.`);
    expect(item.question).toContain(sut.authors[item.authorId].name);
  });

  it('makes disjoint forget groups of trained authors', () => {
    const groups = forgetGroups(sut, 5, 2);
    const ids = groups.flat().map((a) => a.id);
    expect(new Set(ids).size).toBe(10);
    expect(groups.flat().every((a) => !a.heldOut)).toBe(true);
    expect(itemsOfAuthors(sut, groups[0].map((a) => a.id), ['trained', 'paraphrase'])).toHaveLength(2 * 10 * 4);
    expect(() => forgetGroups(sut, 60, 2)).toThrow();
  });
});
