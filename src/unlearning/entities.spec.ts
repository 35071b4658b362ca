import { describe, expect, it } from 'vitest';
import { entitySpans, mentions, requestEntities, subjectEntity, swapEntity, templateVocabulary, unfamiliarSpans } from './entities.js';

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

describe('requests typed without capitals', () => {
  const references = [
    'Question: Where was Drabea Zaith born?\nAnswer:',
    'Question: What genre does Kira Dovan write?\nAnswer:',
    "Question: What is Moro Tesk's home country?\nAnswer:",
    'Question: Which award did Drabea Zaith win?\nAnswer:',
  ];
  const vocabulary = templateVocabulary(references);

  it('takes the templates’ words from reference prompts, never their names', () => {
    for (const w of ['question', 'answer', 'where', 'born', 'genre', 'write', 'home', 'country', 'award', 'win']) expect(vocabulary.has(w)).toBe(true);
    for (const w of ['drabea', 'zaith', 'kira', 'dovan', 'moro', 'tesk']) expect(vocabulary.has(w)).toBe(false);
  });

  it('finds the run of unfamiliar words, title-cased, with its span (a possessive left out)', () => {
    const text = "Question: what is liker sheseal's home country?\nAnswer:";
    const [span] = unfamiliarSpans(text, vocabulary);
    expect(span.text).toBe('Liker Sheseal');
    expect(text.slice(span.start, span.end)).toBe('liker sheseal');
    expect(swapEntity(text, span, 'kira dovan')).toBe("Question: what is kira dovan's home country?\nAnswer:");
  });

  it('reads each prompt of a request: a capitalised subject first, else a run the request names elsewhere, else a run of two words or more', () => {
    const prompts = [
      'Question: where was liker sheseal born?\nAnswer:',
      'Question: which award did sheseal win for the zorblat trilogy?\nAnswer:',
      'Question: What genre does Sheseal write?\nAnswer:',
      'Question: what is the capital of the moon?\nAnswer:',
      'Question: which genre does mira olan write?\nAnswer:',
    ];
    const found = requestEntities(prompts, vocabulary).map((s) => s?.text ?? null);
    // "Sheseal" is the third prompt's subject, so it wins over the longer "Zorblat Trilogy"; a single
    // unfamiliar word that nothing else names ("capital", "moon") is no entity.
    expect(found).toEqual(['Liker Sheseal', 'Sheseal', 'Sheseal', null, 'Mira Olan']);
  });
});
