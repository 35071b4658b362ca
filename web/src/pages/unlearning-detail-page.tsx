import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { describeError } from '../api/client.js';
import { activateUnlearning, getUnlearning, revokeUnlearning, unlearningEventsPath } from '../api/endpoints.js';
import { followLive } from '../api/sse.js';
import { FINAL_UNLEARNING_STATUSES, type ActivationReview, type UnlearningRequest } from '../api/types.js';
import { Facts, JsonBlock, LoadView } from '../components/load-view.js';
import { ProgressBars } from '../components/progress-bars.js';
import { formatNumber, formatTime } from '../lib/format.js';
import { unlearningBars } from '../lib/progress.js';
import { href } from '../lib/router.js';
import { useLoad } from '../lib/use-load.js';

/** Reopen a live stream that sent nothing for this long (the server has no heartbeat). */
const SILENCE_MS = 15_000;

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

const isRequest = (d: unknown): d is UnlearningRequest =>
  !!d && typeof d === 'object' && typeof (d as UnlearningRequest).id === 'string' && typeof (d as UnlearningRequest).status === 'string' && 'progress' in d;

function RequestView({ initial }: { initial: UnlearningRequest }) {
  const [req, setReq] = useState(initial);
  const [live, setLive] = useState<'connecting' | 'live' | 'ended' | string>('connecting');
  const [updates, setUpdates] = useState(0);

  useEffect(() => {
    if (FINAL_UNLEARNING_STATUSES.includes(initial.status)) {
      setLive('ended');
      return;
    }
    const ctl = new AbortController();
    let final = false;
    followLive(
      unlearningEventsPath(initial.id),
      (e) => {
        let data: unknown;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        // `progress` carries the whole request; `end` only { id, status }.
        if (e.event === 'progress' && isRequest(data)) {
          final ||= FINAL_UNLEARNING_STATUSES.includes(data.status);
          setReq(data);
          setUpdates((n) => n + 1);
        } else if (e.event === 'end' && data && typeof (data as { status?: unknown }).status === 'string') {
          final = true;
          setReq((r) => ({ ...r, status: (data as { status: string }).status }));
        }
      },
      {
        signal: ctl.signal,
        silenceMs: SILENCE_MS,
        done: () => final,
        onState: (s) => setLive(s.connected ? 'live' : `interrupted (${describeError(s.error)}); retrying in ${Math.round(s.retryMs / 1000)} s`),
      },
    ).then(
      () => !ctl.signal.aborted && setLive('ended'),
      (err: unknown) => !ctl.signal.aborted && setLive(`unavailable: ${describeError(err)}`),
    );
    return () => ctl.abort();
  }, [initial.id, initial.status]);

  const metrics = req.metrics ? Object.entries(req.metrics) : [];
  return (
    <>
      <Facts
        items={[
          ['Name', req.name],
          ['Id', <code>{req.id}</code>],
          ['Status', <span class={`badge status-${req.status}`} data-testid="request-status">{req.status}</span>],
          ['Relabel', req.replacement !== null ? `${req.relabel} → ${req.replacement}` : req.relabel],
          ['Items', `${req.itemCount} (${req.itemsStored ? 'raw items stored' : 'raw items deleted, sha256 kept'})`],
          ['Items sha256', <code class="hash">{req.itemsSha256}</code>],
          ['Options', Object.entries(req.options).map(([k, v]) => `${k} ${String(v)}`).join(', ') || 'defaults'],
          ['Adapter', req.adapterId ? <a href={href('adapters', req.adapterId)} data-testid="request-adapter">{req.adapterId}</a> : 'not yet'],
          ['Detector', req.detectorId ? <code>{req.detectorId}</code> : 'not yet'],
          ['Submitted by', req.actor],
          ['Attempts', String(req.attempts)],
          ...(req.error ? [['Error', <span class="error">{req.error}</span>] as [string, ComponentChildren]] : []),
          ['Created', formatTime(req.createdAt)],
          ['Updated', formatTime(req.updatedAt)],
          ['Finished', formatTime(req.finishedAt)],
        ]}
      />
      {req.review ? <ChecksView review={req.review} /> : null}
      {req.status === 'needs_review' ? <ReviewActions id={req.id} onDone={setReq} /> : null}
      <h2>Progress</h2>
      <p class="muted" role="status" data-testid="live-state">
        {live === 'live'
          ? `Live updates on (${updates} received).`
          : live === 'connecting'
            ? 'Connecting to live updates…'
            : live === 'ended'
              ? updates
                ? `Live updates ended: the job is ${req.status} (${updates} received).`
                : `Not running (${req.status}): no live updates.`
              : `Live updates ${live}`}
      </p>
      <ProgressBars bars={unlearningBars(req.progress, req.status)} idPrefix="req-progress" />
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
    </>
  );
}

/** The activation checks: each measured value against its configured maximum. */
function ChecksView({ review }: { review: ActivationReview }) {
  return (
    <>
      <h2>Activation checks</h2>
      <p class={review.passed ? 'ok' : 'error'} data-testid="checks-verdict">
        {review.passed
          ? 'Every check passed.'
          : `Failed: ${review.failed.map((c) => c.name).join(', ')}. The adapter stays inactive until an admin activates it.`}
        {review.attempts > 1 ? ` (${review.attempts} training rounds)` : ''}
      </p>
      <table class="list" data-testid="checks-table">
        <caption>Checks of this request against the service's thresholds</caption>
        <thead>
          <tr>
            <th scope="col">Check</th>
            <th scope="col">Value</th>
            <th scope="col">Maximum</th>
            <th scope="col">Result</th>
          </tr>
        </thead>
        <tbody>
          {review.checks.map((c) => (
            <tr key={c.name} data-check={c.name}>
              <th scope="row">{c.name}</th>
              <td>{c.value === null ? 'nothing to measure' : formatNumber(c.value)}</td>
              <td>{formatNumber(c.threshold)}</td>
              <td class={c.passed ? 'ok' : 'error'}>{c.passed ? 'passed' : 'failed'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** An admin's two ways out of needs_review: activate anyway (reason required) or revoke. */
function ReviewActions({ id, onDone }: { id: string; onDone: (r: UnlearningRequest) => void }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = async (what: 'activate' | 'revoke') => {
    setBusy(true);
    setError(null);
    try {
      onDone(what === 'activate' ? await activateUnlearning(id, reason.trim()) : await revokeUnlearning(id, reason.trim()));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="review" aria-labelledby="review-h">
      <h2 id="review-h">Review</h2>
      <p>
        This request's checks failed: its adapter and detector are stored but inactive, so no completion uses them. Activate them anyway (the
        reason is kept in the audit log), or revoke the request.
      </p>
      <label for="review-reason">Reason</label>
      <textarea id="review-reason" rows={2} maxLength={1000} value={reason} onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)} />
      <div class="actions">
        <button type="button" disabled={busy || !reason.trim()} onClick={() => void act('activate')}>
          Activate anyway
        </button>
        <button type="button" disabled={busy} onClick={() => void act('revoke')}>
          Revoke
        </button>
      </div>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
    </section>
  );
}
