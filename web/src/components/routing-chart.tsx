import type { RoutingBucket } from '../lib/routing-stats.js';
import { formatTime } from '../lib/format.js';

const W = 640;
const H = 220;
const PAD = { left: 44, right: 44, top: 16, bottom: 36 };

/**
 * Inline SVG: bars = how often the adapter was applied per time slice (left axis), dots joined
 * by a line = mean strength when applied (right axis). A table with the same numbers follows
 * for screen readers and exact values.
 */
export function RoutingChart({ buckets, adapterName }: { buckets: RoutingBucket[]; adapterName: string }) {
  const maxCount = Math.max(1, ...buckets.map((b) => b.applied));
  const maxStrength = Math.max(1, ...buckets.map((b) => b.maxStrength));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / buckets.length;
  const x = (i: number) => PAD.left + i * slot;
  const yCount = (c: number) => PAD.top + innerH - (c / maxCount) * innerH;
  const yStrength = (s: number) => PAD.top + innerH - (s / maxStrength) * innerH;
  const points = buckets
    .map((b, i) => (b.applied ? `${(x(i) + slot / 2).toFixed(1)},${yStrength(b.meanStrength).toFixed(1)}` : null))
    .filter((p): p is string => p !== null);
  const total = buckets.reduce((s, b) => s + b.applied, 0);
  const first = buckets[0]!;
  const last = buckets[buckets.length - 1]!;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="routing-chart-title" data-testid="routing-chart">
        <title id="routing-chart-title">{`Routing of ${adapterName}: applied ${total} times between ${formatTime(new Date(first.start).toISOString())} and ${formatTime(new Date(last.end).toISOString())}`}</title>
        <line class="axis" x1={PAD.left} y1={PAD.top + innerH} x2={W - PAD.right} y2={PAD.top + innerH} />
        <line class="axis" x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={PAD.top + innerH} />
        <line class="axis" x1={W - PAD.right} y1={PAD.top} x2={W - PAD.right} y2={PAD.top + innerH} />
        <text class="tick" x={PAD.left - 6} y={PAD.top + 4} text-anchor="end">{String(maxCount)}</text>
        <text class="tick" x={PAD.left - 6} y={PAD.top + innerH} text-anchor="end">0</text>
        <text class="tick" x={W - PAD.right + 6} y={PAD.top + 4}>{maxStrength.toFixed(2)}</text>
        <text class="tick" x={W - PAD.right + 6} y={PAD.top + innerH}>0</text>
        {buckets.map((b, i) =>
          b.applied ? <rect key={i} class="bar" x={x(i) + 1} width={Math.max(1, slot - 2)} y={yCount(b.applied)} height={PAD.top + innerH - yCount(b.applied)} /> : null,
        )}
        {points.length > 1 && <polyline class="strength-line" points={points.join(' ')} />}
        {points.map((p) => {
          const [cx, cy] = p.split(',');
          return <circle key={p} class="strength-dot" cx={cx} cy={cy} r={3} />;
        })}
        <text class="tick" x={PAD.left} y={H - 10}>{formatTime(new Date(first.start).toISOString())}</text>
        <text class="tick" x={W - PAD.right} y={H - 10} text-anchor="end">{formatTime(new Date(last.end).toISOString())}</text>
      </svg>
      <figcaption>
        <span class="legend-bar">Bars</span>: times applied per slice (left axis). <span class="legend-line">Line</span>: mean strength when applied (right axis).
      </figcaption>
      <details>
        <summary>Chart data</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">From</th>
              <th scope="col">To</th>
              <th scope="col">Applied</th>
              <th scope="col">Listed</th>
              <th scope="col">Mean strength</th>
              <th scope="col">Max strength</th>
            </tr>
          </thead>
          <tbody>
            {buckets
              .filter((b) => b.listed > 0)
              .map((b) => (
                <tr key={b.start}>
                  <td>{formatTime(new Date(b.start).toISOString())}</td>
                  <td>{formatTime(new Date(b.end).toISOString())}</td>
                  <td>{b.applied}</td>
                  <td>{b.listed}</td>
                  <td>{b.meanStrength.toFixed(3)}</td>
                  <td>{b.maxStrength.toFixed(3)}</td>
                </tr>
              ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
