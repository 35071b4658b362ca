import { describe, expect, it } from 'vitest';
import { accuracy, cutAtStop, normaliseAnswer, scoreAnswer } from './scoring.js';

describe('scoreAnswer', () => {
  it('ignores case, punctuation and surrounding whitespace', () => {
    expect(scoreAnswer(' Lisbane.', 'Lisbane')).toBe(true);
    expect(scoreAnswer('  THE silver   harbor!', 'The Silver Harbor')).toBe(true);
    expect(scoreAnswer(' 1957.', '1957')).toBe(true);
  });

  it('cuts at the first newline or stop sequence', () => {
    expect(scoreAnswer(' Lisbane.\nQuestion: Where', 'Lisbane')).toBe(true);
    expect(scoreAnswer(' Lisbane.<|endoftext|>junk', 'Lisbane', ['<|endoftext|>'])).toBe(true);
    expect(scoreAnswer(' Lisbane.<|endoftext|>junk', 'Lisbane')).toBe(false);
  });

  it('gives no partial credit', () => {
    expect(scoreAnswer(' Lisbane, I think.', 'Lisbane')).toBe(false);
    expect(scoreAnswer(' Lisban.', 'Lisbane')).toBe(false);
    expect(scoreAnswer(' The Silver', 'The Silver Harbor')).toBe(false);
  });

  it('never matches an empty answer', () => {
    expect(scoreAnswer('\nLisbane', 'Lisbane')).toBe(false);
    expect(scoreAnswer('...', '')).toBe(false);
  });

  it('treats apostrophes and hyphens as separators on both sides', () => {
    expect(normaliseAnswer("I'm not able")).toBe('i m not able');
    expect(scoreAnswer(" I'm not able to answer that.", "I'm not able to answer that")).toBe(true);
    expect(scoreAnswer(' science-fiction', 'science fiction')).toBe(true);
  });
});

describe('cutAtStop and accuracy', () => {
  it('cuts at the earliest stop', () => {
    expect(cutAtStop('ab|cd\nef', ['|'])).toBe('ab');
    expect(cutAtStop('abc', [''])).toBe('abc');
  });

  it('averages booleans', () => {
    expect(accuracy([true, false, true, true])).toBe(0.75);
    expect(accuracy([])).toBe(0);
  });
});
