import { useState } from 'preact/hooks';
import { listUnlearning } from '../api/endpoints.js';
import { UNLEARNING_STATUSES } from '../api/types.js';
import { ChoiceFilter, draftSetter } from '../components/filter-fields.js';
import { LoadView } from '../components/load-view.js';
import { ProgressBars } from '../components/progress-bars.js';
import { formatTime } from '../lib/format.js';
import { unlearningOverall } from '../lib/progress.js';
import { href } from '../lib/router.js';
import { useLoad } from '../lib/use-load.js';

const PAGE = 20;

interface Filter {
  status: string;
  name: string;
}

/** Unlearning requests: filtered by status and name, newest first, paginated by offset. */
export function UnlearningPage() {
  const [draft, setDraft] = useState<Filter>({ status: '', name: '' });
  const [filter, setFilter] = useState<Filter>(draft);
  const [offset, setOffset] = useState(0);
  const [load, reload] = useLoad((s) => listUnlearning({ status: filter.status, name: filter.name, limit: PAGE, offset }, s), [filter, offset]);
  const set = draftSetter(draft, setDraft);

  return (
    <>
      <h1 tabIndex={-1}>Unlearning requests</h1>
      <form
        class="filters"
        aria-label="Filter unlearning requests"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({ ...draft, name: draft.name.trim() });
          setOffset(0);
        }}
      >
        <ChoiceFilter id="u-status" label="Status" value={draft.status} choices={UNLEARNING_STATUSES} onChange={set('status')} />
        <div>
          <label for="u-name">Name (exact)</label>
          <input id="u-name" value={draft.name} onInput={set('name')} />
        </div>
        <button type="submit">Apply filters</button>
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </form>
      <LoadView load={load} what="unlearning requests" missing="No unlearning requests: this server does not offer unlearning requests yet.">
        {(page) =>
          page.items.length === 0 ? (
            <p class="empty" role="status">
              {page.total === 0 && !filter.status && !filter.name ? 'No unlearning requests yet.' : 'No unlearning requests match these filters.'}
            </p>
          ) : (
            <>
              <table class="list" data-testid="unlearning-table">
                <caption>
                  Unlearning requests {page.offset + 1}–{page.offset + page.items.length} of {page.total}
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Request</th>
                    <th scope="col">Status</th>
                    <th scope="col">Progress</th>
                    <th scope="col">Items</th>
                    <th scope="col">Adapter</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((r) => (
                    <tr key={r.id} data-id={r.id}>
                      <td>
                        <a href={href('unlearning', r.id)}>{r.name || r.id}</a>
                      </td>
                      <td>
                        <span class={`badge status-${r.status}`}>{r.status}</span>
                        {r.status === 'needs_review' && r.review?.failed.length ? (
                          <div class="muted" data-testid="failed-checks">
                            failed: {r.review.failed.map((c) => c.name).join(', ')}
                          </div>
                        ) : null}
                      </td>
                      <td>
                        <ProgressBars bars={[unlearningOverall(r.progress, r.status)]} idPrefix={`p-${r.id}`} />
                      </td>
                      <td>{r.itemCount}</td>
                      <td>{r.adapterId ? <a href={href('adapters', r.adapterId)}>adapter</a> : '—'}</td>
                      <td>{formatTime(r.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <nav class="pager" aria-label="Unlearning request pages">
                <button type="button" disabled={page.offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                  Previous page
                </button>
                <button type="button" disabled={page.offset + page.items.length >= page.total} onClick={() => setOffset(offset + PAGE)}>
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
