import { describe, expect, it } from 'vitest';
import { REFUSALS, RelabelError, relabelItems, type ForgetItem, type RelabelMode } from './relabel.js';

const qa = (i: number): ForgetItem => ({ prompt: `Where was author ${i} born?`, answer: `City ${i}` });

describe('relabelItems', () => {
  it('refusal: one of ≥ 8 refusals per item, seeded, and varied across items', () => {
    expect(REFUSALS.length).toBeGreaterThanOrEqual(8);
    const items = Array.from({ length: 40 }, (_, i) => qa(i));
    const sut = relabelItems(items, { mode: 'refusal', seed: 1 });
    expect(sut.map((r) => r.prompt)).toEqual(items.map((i) => i.prompt));
    for (const r of sut) expect(REFUSALS).toContain(r.target);
    expect(new Set(sut.map((r) => r.target)).size).toBeGreaterThan(4);
    expect(relabelItems(items, { mode: 'refusal', seed: 1 })).toEqual(sut);
    expect(relabelItems(items, { mode: 'refusal', seed: 2 })).not.toEqual(sut);
  });

  it('random-option: never the correct answer (case/space-insensitive), falls back to refusal', () => {
    const mc: ForgetItem = { prompt: 'Genre?', answer: 'Fantasy', options: ['fantasy ', 'Horror', 'Poetry', 'Drama'] };
    const sut = relabelItems(Array.from({ length: 30 }, () => mc), { mode: 'random-option', seed: 3 });
    for (const r of sut) {
      expect(['Horror', 'Poetry', 'Drama']).toContain(r.target);
      expect(r.rule).toBe('random-option');
    }
    expect(new Set(sut.map((r) => r.target)).size).toBe(3);
    const [plain, onlyRight] = relabelItems([qa(1), { prompt: 'p', answer: 'a', options: ['a'] }], { mode: 'random-option' });
    expect(plain.rule).toBe('refusal');
    expect(REFUSALS).toContain(plain.target);
    expect(onlyRight.rule).toBe('refusal');
  });

  it('replacement: the operator text for every item, required and non-empty', () => {
    const sut = relabelItems([qa(1), { prompt: 'a plain forget text' }], { mode: 'replacement', replacement: 'Unknown.' });
    expect(sut).toEqual([
      { prompt: qa(1).prompt, target: 'Unknown.', rule: 'replacement' },
      { prompt: 'a plain forget text', target: 'Unknown.', rule: 'replacement' },
    ]);
    expect(() => relabelItems([qa(1)], { mode: 'replacement', replacement: '  ' })).toThrow(RelabelError);
    expect(() => relabelItems([qa(1)], { mode: 'bogus' as RelabelMode })).toThrow(/unknown relabel mode/);
  });
});
