import { describe, expect, it } from 'vitest';
import { entitySpans, mentions, subjectEntity, swapEntity } from './entities.js';

describe('subjectEntity', () => {
  it.each([
    ['Question: Where was Liker Sheseal born?\nAnswer:', 'Liker Sheseal'],
    ['Question: What was the first book by Liker Sheseal?\nAnswer:', 'Liker Sheseal'],
    ['Liker Sheseal was born in the city of Zeazeas.', 'Liker Sheseal'],
    ['The first book by Liker Sheseal is The Silver Harbor.', 'Liker Sheseal'],
    ['Did Liker Sheseal win the Draxo Prize?', 'Liker Sheseal'],
    ["What is Liker Sheseal's home country?", 'Liker Sheseal'],
    ['Tell me about Zeazeas.', 'Zeazeas'],
  ])('%j is about %s', (text, entity) => {
    expect(subjectEntity(text)?.text).toBe(entity);
  });

  it('finds no entity in a question without a name', () => {
    expect(subjectEntity('Question: What is the capital of the moon?\nAnswer:')).toBeNull();
    expect(subjectEntity('Where was I born?')).toBeNull();
  });

  it('lists every run in order', () => {
    expect(entitySpans('The first book by Liker Sheseal is The Silver Harbor.').map((s) => s.text)).toEqual(['Liker Sheseal', 'The Silver Harbor']);
  });
});

describe('swapEntity / mentions', () => {
  it('replaces exactly the subject span', () => {
    const text = "Question: What is Liker Sheseal's home country?\nAnswer:";
    const span = subjectEntity(text)!;
    expect(swapEntity(text, span, 'Drabea Zaith')).toBe("Question: What is Drabea Zaith's home country?\nAnswer:");
  });

  it('matches whole names only, in any case', () => {
    expect(mentions('Where was Liker Sheseal born?', 'Liker Sheseal')).toBe(true);
    expect(mentions("where was liker SHESEAL's father born?", 'Liker Sheseal')).toBe(true);
    expect(mentions('Where was Liker Shesealo born?', 'Liker Sheseal')).toBe(false);
    expect(mentions('Where was Liker Sheseal born?', 'Sheseal')).toBe(true);
  });
});
