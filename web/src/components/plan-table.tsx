import type { RoutingPlan } from '../api/types.js';
import { formatNumber } from '../lib/format.js';
import { href } from '../lib/router.js';

/** A routing plan: one row per entry with strength, reason and the detector scores. */
export function PlanTable({ plan, caption }: { plan: RoutingPlan; caption: string }) {
  const entries = plan.entries;
  return (
    <table class="list plan" data-testid="plan-table">
      <caption>
        {caption}
        {` (mode ${plan.mode})`}
      </caption>
      <thead>
        <tr>
          <th scope="col">Adapter</th>
          <th scope="col">Kind</th>
          <th scope="col">Strength</th>
          <th scope="col">Applied</th>
          <th scope="col">Reason</th>
          <th scope="col">Detector scores</th>
        </tr>
      </thead>
      <tbody>
        {entries.length === 0 ? (
          <tr>
            <td colSpan={6}>Base model alone: no adapter entries.</td>
          </tr>
        ) : (
          entries.map((e) => (
            <tr key={e.adapterId} data-adapter={e.adapterId}>
              <td>
                <a href={href('adapters', e.adapterId)}>{`${e.name} v${e.version}`}</a>
              </td>
              <td>{e.kind}</td>
              <td>{formatNumber(e.strength)}</td>
              <td>{e.applied ? 'yes' : 'no'}</td>
              <td>{e.reason}</td>
              <td>
                {Object.keys(e.scores).length > 0
                  ? Object.entries(e.scores)
                      .map(([k, v]) => `${k} ${formatNumber(v)}`)
                      .join(', ')
                  : '—'}
              </td>
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}
