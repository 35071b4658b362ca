import { useState } from 'preact/hooks';
import { describeError, type Query } from '../api/client.js';
import { allAuditEvents, listAudit, verifyAudit } from '../api/endpoints.js';
import type { ChainVerdict } from '../api/types.js';
import { draftSetter } from '../components/filter-fields.js';
import { JsonBlock, LoadView } from '../components/load-view.js';
import { auditToCsv, download } from '../lib/export.js';
import { formatTime, localInputToIso } from '../lib/format.js';
import { useLoad, type Load } from '../lib/use-load.js';

const PAGE = 50;

interface Filter {
  actor: string;
  action: string;
  subject: string;
  from: string;
  to: string;
}

const toQuery = (f: Filter): Query => ({
  actor: f.actor.trim(),
  action: f.action.trim(),
  subject: f.subject.trim(),
  from: localInputToIso(f.from),
  to: localInputToIso(f.to),
});

/** The audit log: filters, cursor pages, chain verification, JSON/CSV export. */
export function AuditPage() {
  const empty: Filter = { actor: '', action: '', subject: '', from: '', to: '' };
  const [draft, setDraft] = useState<Filter>(empty);
  const [filter, setFilter] = useState<Filter>(empty);
  const [cursors, setCursors] = useState<(number | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const [load, reloadList] = useLoad((s) => listAudit({ ...toQuery(filter), limit: PAGE, after: cursor }, s), [filter, cursor]);
  const [verdict, reverify] = useLoad((s) => verifyAudit(s), []);
  const [exportMsg, setExportMsg] = useState<string | null>(null);
  const badSeq = verdict.state === 'ok' && !verdict.data.valid ? verdict.data.firstBadSeq : undefined;
  const set = draftSetter(draft, setDraft);

  async function exportAs(kind: 'json' | 'csv') {
    setExportMsg('Exporting…');
    try {
      const events = await allAuditEvents(toQuery(filter));
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      if (kind === 'json') download(`lethe-audit-${stamp}.json`, `${JSON.stringify(events, null, 2)}\n`, 'application/json');
      else download(`lethe-audit-${stamp}.csv`, auditToCsv(events), 'text/csv');
      setExportMsg(`Exported ${events.length} events as ${kind.toUpperCase()}.`);
    } catch (e) {
      setExportMsg(`Export failed: ${describeError(e)}`);
    }
  }

  return (
    <>
      <h1 tabIndex={-1}>Audit log</h1>
      <section aria-labelledby="chain-h">
        <h2 id="chain-h">Chain verification</h2>
        <Verdict load={verdict} />
        <p class="actions">
          <button
            type="button"
            onClick={() => {
              reverify();
              reloadList();
            }}
          >
            Verify again
          </button>
          {badSeq !== undefined && (
            <button
              type="button"
              onClick={() => {
                setDraft(empty);
                setFilter(empty);
                setCursors([Math.max(0, badSeq - 1)]);
              }}
            >
              Show event #{badSeq}
            </button>
          )}
        </p>
      </section>
      <h2>Events</h2>
      <form
        class="filters"
        aria-label="Filter audit events"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter(draft);
          setCursors([undefined]);
        }}
      >
        <div>
          <label for="a-actor">Actor (key id)</label>
          <input id="a-actor" value={draft.actor} onInput={set('actor')} />
        </div>
        <div>
          <label for="a-action">Action</label>
          <input id="a-action" value={draft.action} onInput={set('action')} placeholder="adapter.activate" />
        </div>
        <div>
          <label for="a-subject">Subject</label>
          <input id="a-subject" value={draft.subject} onInput={set('subject')} placeholder="adapter:<id>" />
        </div>
        <div>
          <label for="a-from">From</label>
          <input id="a-from" type="datetime-local" step={1} value={draft.from} onInput={set('from')} />
        </div>
        <div>
          <label for="a-to">To</label>
          <input id="a-to" type="datetime-local" step={1} value={draft.to} onInput={set('to')} />
        </div>
        <button type="submit">Apply filters</button>
      </form>
      <p class="actions">
        <button type="button" onClick={() => void exportAs('json')}>
          Export JSON
        </button>
        <button type="button" onClick={() => void exportAs('csv')}>
          Export CSV
        </button>
        {exportMsg && (
          <span role="status" data-testid="export-status">
            {exportMsg}
          </span>
        )}
      </p>
      <LoadView load={load} what="audit events">
        {(page) =>
          page.items.length === 0 ? (
            <p class="empty" role="status">
              No audit events match.
            </p>
          ) : (
            <>
              <table class="list" data-testid="audit-table">
                <caption>Audit events, oldest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Seq</th>
                    <th scope="col">Time</th>
                    <th scope="col">Actor</th>
                    <th scope="col">Action</th>
                    <th scope="col">Subject</th>
                    <th scope="col">Details</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((e) => (
                    <tr key={e.seq} class={e.seq === badSeq ? 'bad-row' : undefined} data-seq={e.seq}>
                      <td>
                        {e.seq}
                        {e.seq === badSeq && <span class="bad-flag"> (first bad row)</span>}
                      </td>
                      <td>{formatTime(e.at)}</td>
                      <td>{e.actor}</td>
                      <td>{e.action}</td>
                      <td>{e.subject}</td>
                      <td>
                        <details>
                          <summary>Details</summary>
                          <JsonBlock value={e.details} label={`Details of audit event ${e.seq}`} />
                        </details>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <nav class="pager" aria-label="Audit pages">
                <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
                  Previous page
                </button>
                <button type="button" disabled={page.nextCursor === null} onClick={() => setCursors([...cursors, page.nextCursor ?? undefined])}>
                  Next page
                </button>
              </nav>
            </>
          )
        }
      </LoadView>
    </>
  );
}

function Verdict({ load }: { load: Load<ChainVerdict> }) {
  return (
    <LoadView load={load} what="the chain verification">
      {(v) =>
        v.valid ? (
          <p class="ok" role="status" data-testid="chain-verdict">
            Chain valid: all {v.events} events verified.
          </p>
        ) : (
          <p class="error" role="alert" data-testid="chain-verdict">
            Chain broken: first bad row is event #{v.firstBadSeq} ({v.reason}).
          </p>
        )
      }
    </LoadView>
  );
}
