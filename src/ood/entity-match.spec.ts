import { describe, expect, it } from 'vitest';
import { entityHash, namesEntity, normaliseWords, promptEntityIndex } from './entity-match.js';

describe('entity matching', () => {
  it('normalises case, punctuation, width and spacing', () => {
    expect(normaliseWords("  Where was LIKER   sheseal's\tfather born?")).toEqual(['where', 'was', 'liker', 'sheseal', 's', 'father', 'born']);
    expect(entityHash('Liker Sheseal')).toBe(entityHash('liker  SHESEAL'));
    expect(entityHash('Liker Sheseal')).not.toBe(entityHash('Liker Shesealo'));
  });

  it('finds a hashed entity in any phrasing, statement or case, and nowhere else', () => {
    const hashes = [entityHash('Liker Sheseal')];
    for (const p of ['Question: Where was Liker Sheseal born?\nAnswer:', 'Tell me the city where liker sheseal was born.', "What is LIKER SHESEAL's home country?", 'Liker Sheseal was born in Zeazeas.']) {
      expect(namesEntity(promptEntityIndex(p), hashes)).toBe(true);
    }
    for (const p of ['Question: Where was Liker Thusain born?\nAnswer:', 'Sheseal Liker wrote a book.', 'Where was Likersheseal born?']) {
      expect(namesEntity(promptEntityIndex(p), hashes)).toBe(false);
    }
  });

  it('stores no text: the hash is a sha256 hex digest', () => {
    expect(entityHash('Liker Sheseal')).toMatch(/^[0-9a-f]{64}$/);
  });
});
