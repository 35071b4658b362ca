import { describe, expect, it } from 'vitest';
import { mergeBars, toProgressBars } from './progress.js';

describe('toProgressBars', () => {
  it('reads fractions, percentages and job progress objects', () => {
    expect(toProgressBars(0.25)).toEqual([{ label: 'progress', fraction: 0.25 }]);
    expect(toProgressBars(40)).toEqual([{ label: 'progress', fraction: 0.4 }]);
    expect(toProgressBars({ phase: 'train', step: 30, total: 120, loss: 1.23456, state: 'active' })).toEqual([
      { label: 'train', fraction: 0.25, note: '30 / 120 · loss 1.235 · active' },
    ]);
  });

  it('reads a map of phases and a list, clamping to [0, 1]', () => {
    expect(toProgressBars({ relabel: { fraction: 1.5 }, train: { step: 1, total: 4 } })).toEqual([
      { label: 'relabel', fraction: 1 },
      { label: 'train', fraction: 0.25, note: '1 / 4' },
    ]);
    expect(toProgressBars([{ stage: 'a', percent: 50 }]).map((b) => [b.label, b.fraction])).toEqual([['a', 0.5]]);
  });

  it('gives nothing for nothing, and an indeterminate bar for a state without numbers', () => {
    expect(toProgressBars(undefined)).toEqual([]);
    expect(toProgressBars({ phase: 'queued', state: 'created' })).toEqual([{ label: 'queued', fraction: undefined, note: 'created' }]);
  });

  it('mergeBars replaces bars by label and keeps their order', () => {
    const merged = mergeBars([{ label: 'a', fraction: 0.1 }, { label: 'b', fraction: 0 }], [{ label: 'a', fraction: 0.9 }, { label: 'c', fraction: 0 }]);
    expect(merged.map((b) => [b.label, b.fraction])).toEqual([['a', 0.9], ['b', 0], ['c', 0]]);
  });
});
