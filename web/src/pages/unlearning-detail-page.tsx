import { useEffect, useState } from 'preact/hooks';
import { describeError } from '../api/client.js';
import { getUnlearning, unlearningEventsPath } from '../api/endpoints.js';
import { followEvents } from '../api/sse.js';
import type { UnlearningRequest } from '../api/types.js';
import { Facts, JsonBlock, LoadView } from '../components/load-view.js';
import { ProgressBars } from '../components/progress-bars.js';
import { formatNumber, formatTime } from '../lib/format.js';
import { mergeBars, toProgressBars, type ProgressBar } from '../lib/progress.js';
import { href } from '../lib/router.js';
import { useLoad } from '../lib/use-load.js';

const PROGRESS_FIELDS = ['phase', 'stage', 'step', 'total', 'fraction', 'percent'];
const FINAL = new Set(['succeeded', 'completed', 'done', 'failed', 'cancelled', 'revoked']);

/** One unlearning request with live progress (SSE over fetch) and its metrics. */
export function UnlearningDetailPage({ id }: { id: string }) {
  const [load] = useLoad((s) => getUnlearning(id, s), [id]);
  return (
    <>
      <p>
        <a href={href('unlearning')}>← All unlearning requests</a>
      </p>
      <h1 tabIndex={-1}>Unlearning request</h1>
      <LoadView load={load} what="the unlearning request">
        {(r) => <RequestView initial={r} />}
      </LoadView>
    </>
  );
}

function RequestView({ initial }: { initial: UnlearningRequest }) {
  const [req, setReq] = useState(initial);
  const [bars, setBars] = useState<ProgressBar[]>(() => toProgressBars(initial.progress));
  const [live, setLive] = useState<'connecting' | 'live' | 'ended' | 'unavailable' | string>('connecting');

  useEffect(() => {
    if (FINAL.has(initial.status)) {
      setLive('ended');
      return;
    }
    const ctl = new AbortController();
    followEvents(
      unlearningEventsPath(initial.id),
      (e) => {
        setLive('live');
        let data: unknown;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        if (!data || typeof data !== 'object') return;
        const d = data as Record<string, unknown>;
        // An event may carry the whole request, or only progress / status / metrics.
        setReq((r) => ({ ...r, ...(typeof d.status === 'string' ? { status: d.status } : {}), ...(d.metrics && typeof d.metrics === 'object' ? { metrics: d.metrics as Record<string, unknown> } : {}) }));
        // Progress is `d.progress`, or `d` itself when it reads like a job progress update.
        const progress = 'progress' in d ? d.progress : PROGRESS_FIELDS.some((k) => k in d) ? d : undefined;
        if (progress !== undefined) setBars((b) => mergeBars(b, toProgressBars(progress, e.event === 'message' ? 'progress' : e.event)));
      },
      ctl.signal,
    ).then(
      () => !ctl.signal.aborted && setLive('ended'),
      (err: unknown) => !ctl.signal.aborted && setLive(`unavailable: ${describeError(err)}`),
    );
    return () => ctl.abort();
  }, [initial.id, initial.status]);

  const metrics = req.metrics && typeof req.metrics === 'object' ? Object.entries(req.metrics) : [];
  const skip = new Set(['id', 'status', 'progress', 'metrics', 'createdAt', 'updatedAt']);
  return (
    <>
      <Facts
        items={[
          ['Id', <code>{req.id}</code>],
          ['Status', <span class={`badge status-${req.status}`} data-testid="request-status">{req.status}</span>],
          ['Created', formatTime(req.createdAt)],
          ['Updated', formatTime(req.updatedAt)],
          ...Object.entries(req)
            .filter(([k, v]) => !skip.has(k) && (typeof v === 'string' || typeof v === 'number'))
            .map(([k, v]): [string, string] => [k, String(v)]),
        ]}
      />
      <h2>Progress</h2>
      <p class="muted" role="status" data-testid="live-state">
        {live === 'live' ? 'Live updates on.' : live === 'connecting' ? 'Connecting to live updates…' : live === 'ended' ? 'Not running: no live updates.' : `Live updates ${live}`}
      </p>
      <ProgressBars bars={bars} idPrefix="req-progress" />
      <h2>Metrics</h2>
      {metrics.length === 0 ? (
        <p class="empty">No metrics yet.</p>
      ) : (
        <table class="list" data-testid="metrics-table">
          <caption>Metrics of this request</caption>
          <tbody>
            {metrics.map(([k, v]) => (
              <tr key={k}>
                <th scope="row">{k}</th>
                <td>{typeof v === 'object' && v !== null ? <JsonBlock value={v} label={`Metric ${k}`} /> : formatNumber(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {Object.entries(req).some(([k, v]) => !skip.has(k) && typeof v === 'object' && v !== null) && (
        <details>
          <summary>All fields</summary>
          <JsonBlock value={req} label="The request as JSON" />
        </details>
      )}
    </>
  );
}
