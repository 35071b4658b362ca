import { useState } from 'preact/hooks';
import { listUnlearning } from '../api/endpoints.js';
import { LoadView } from '../components/load-view.js';
import { ProgressBars } from '../components/progress-bars.js';
import { formatTime } from '../lib/format.js';
import { toProgressBars } from '../lib/progress.js';
import { href } from '../lib/router.js';
import { useLoad } from '../lib/use-load.js';

const PAGE = 20;

/** Unlearning requests: status, progress, newest first. */
export function UnlearningPage() {
  const [cursors, setCursors] = useState<(string | number | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const [load, reload] = useLoad((s) => listUnlearning({ limit: PAGE, after: cursor }, s), [cursor]);

  return (
    <>
      <h1 tabIndex={-1}>Unlearning requests</h1>
      <p>
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </p>
      <LoadView load={load} what="unlearning requests" missing="No unlearning requests: this server does not offer unlearning requests yet.">
        {(page) =>
          page.items.length === 0 ? (
            <p class="empty" role="status">
              No unlearning requests yet.
            </p>
          ) : (
            <>
              <table class="list" data-testid="unlearning-table">
                <caption>Unlearning requests</caption>
                <thead>
                  <tr>
                    <th scope="col">Request</th>
                    <th scope="col">Status</th>
                    <th scope="col">Progress</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((r) => (
                    <tr key={r.id}>
                      <td>
                        <a href={href('unlearning', r.id)}>{typeof r.name === 'string' && r.name ? r.name : r.id}</a>
                      </td>
                      <td>
                        <span class={`badge status-${r.status}`}>{r.status}</span>
                      </td>
                      <td>
                        <ProgressBars bars={toProgressBars(r.progress)} idPrefix={`p-${r.id}`} />
                      </td>
                      <td>{formatTime(r.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <nav class="pager" aria-label="Unlearning request pages">
                <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
                  Previous page
                </button>
                <button type="button" disabled={page.nextCursor === null || page.nextCursor === undefined} onClick={() => setCursors([...cursors, page.nextCursor ?? undefined])}>
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
