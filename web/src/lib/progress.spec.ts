import { describe, expect, it } from 'vitest';
import { mergeBars, toProgressBars, unlearningBars, unlearningOverall } from './progress.js';

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

describe('unlearningBars', () => {
  const view = (bars: ReturnType<typeof unlearningBars>) => bars.map((b) => [b.label, b.fraction, b.note]);

  it('fills the phases before the current one and shows training steps', () => {
    expect(view(unlearningBars({ phase: 'training', step: 3, total: 12, loss: 2.5, etaSeconds: 4.2 }, 'training'))).toEqual([
      ['relabel', 1, undefined],
      ['training', 0.25, '3 / 12 steps · loss 2.500 · about 5 s left'],
      ['calibrating', 0, undefined],
      ['evaluating', 0, undefined],
    ]);
  });

  it('is empty while queued, indeterminate in a phase without steps, full when done', () => {
    expect(unlearningBars({}, 'queued').map((b) => b.fraction)).toEqual([0, 0, 0, 0]);
    expect(view(unlearningBars({ phase: 'calibrating', message: 'features' }, 'calibrating'))[2]).toEqual(['calibrating', undefined, 'features']);
    expect(view(unlearningBars({ phase: 'done', step: 2, total: 2, loss: 0.5, etaSeconds: 0 }, 'active'))).toEqual([
      ['relabel', 1, undefined],
      ['training', 1, '2 / 2 steps · loss 0.5000'],
      ['calibrating', 1, undefined],
      ['evaluating', 1, undefined],
    ]);
  });

  it('shows a needs_review request (its checks failed) as a finished job', () => {
    expect(unlearningBars({ phase: 'needs_review', step: 2, total: 2, message: 'activation checks failed: forgetAnswerRate' }, 'needs_review').map((b) => b.fraction)).toEqual([1, 1, 1, 1]);
    expect(unlearningOverall({ phase: 'needs_review', step: 2, total: 2 }, 'needs_review')).toMatchObject({ label: 'needs review', fraction: 1 });
  });

  it('keeps the last numbers of a failed request in one bar', () => {
    expect(view(unlearningBars({ phase: 'failed', step: 1, total: 4, message: 'boom' }, 'failed'))).toEqual([['failed', 0.25, '1 / 4 · boom']]);
  });
});

describe('unlearningOverall', () => {
  it('averages the phases and names the current one', () => {
    expect(unlearningOverall({ phase: 'training', step: 2, total: 4 }, 'training')).toEqual({ label: 'training', fraction: (1 + 0.5) / 4, note: '2 / 4 steps' });
    expect(unlearningOverall({}, 'queued')).toEqual({ label: 'queued', fraction: 0 });
    expect(unlearningOverall({ phase: 'done', step: 2, total: 2 }, 'active')).toMatchObject({ label: 'done', fraction: 1 });
    expect(unlearningOverall({ phase: 'failed', message: 'boom' }, 'failed')).toEqual({ label: 'failed', fraction: undefined, note: 'boom' });
  });
});
