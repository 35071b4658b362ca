import type { ProgressBar } from '../lib/progress.js';

/** Native <progress> bars (announced by screen readers), labelled by phase. */
export function ProgressBars({ bars, idPrefix }: { bars: ProgressBar[]; idPrefix: string }) {
  if (bars.length === 0) return <p class="muted">No progress reported.</p>;
  return (
    <ul class="progress-list">
      {bars.map((b, i) => {
        const id = `${idPrefix}-${i}`;
        return (
          <li key={b.label}>
            <label for={id}>{b.label}</label>
            <progress id={id} max={1} value={b.fraction} data-testid="progress-bar">
              {b.fraction === undefined ? 'in progress' : `${Math.round(b.fraction * 100)}%`}
            </progress>
            <span class="muted">
              {b.fraction === undefined ? '' : `${Math.round(b.fraction * 100)}%`}
              {b.note ? ` ${b.note}` : ''}
            </span>
          </li>
        );
      })}
    </ul>
  );
}
