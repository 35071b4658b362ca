import { useState } from 'preact/hooks';
import { listAdapters } from '../api/endpoints.js';
import { ADAPTER_KINDS, ADAPTER_STATUSES } from '../api/types.js';
import { LoadView } from '../components/load-view.js';
import { formatTime } from '../lib/format.js';
import { href } from '../lib/router.js';
import { useLoad } from '../lib/use-load.js';

const PAGE = 20;

interface Filter {
  kind: string;
  status: string;
  name: string;
}

/** The adapter registry: filters (kind, status, name), newest first, paginated. */
export function AdaptersPage() {
  const [draft, setDraft] = useState<Filter>({ kind: '', status: '', name: '' });
  const [filter, setFilter] = useState<Filter>(draft);
  const [offset, setOffset] = useState(0);
  const [load] = useLoad((signal) => listAdapters({ ...filter, limit: PAGE, offset }, signal), [filter, offset]);

  const apply = (e: Event) => {
    e.preventDefault();
    setFilter({ ...draft, name: draft.name.trim() });
    setOffset(0);
  };
  const set = (k: keyof Filter) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });

  return (
    <>
      <h1 tabIndex={-1}>Adapters</h1>
      <form class="filters" onSubmit={apply} aria-label="Filter adapters">
        <div>
          <label for="f-kind">Kind</label>
          <select id="f-kind" value={draft.kind} onChange={set('kind')}>
            <option value="">any</option>
            {ADAPTER_KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="f-status">Status</label>
          <select id="f-status" value={draft.status} onChange={set('status')}>
            <option value="">any</option>
            {ADAPTER_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="f-name">Name</label>
          <input id="f-name" type="search" value={draft.name} onInput={set('name')} />
        </div>
        <button type="submit">Apply filters</button>
      </form>
      <LoadView load={load} what="adapters">
        {(page) =>
          page.items.length === 0 ? (
            <p class="empty" role="status">
              No adapters match these filters.
            </p>
          ) : (
            <>
              <table class="list" data-testid="adapters-table">
                <caption>
                  Adapters {page.offset + 1}–{page.offset + page.items.length} of {page.total}, newest first
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Status</th>
                    <th scope="col">Version</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((a) => (
                    <tr key={a.id}>
                      <td>
                        <a href={href('adapters', a.id)}>{a.name}</a>
                      </td>
                      <td>{a.kind}</td>
                      <td>
                        <span class={`badge status-${a.status}`}>{a.status}</span>
                      </td>
                      <td>{a.version}</td>
                      <td>
                        <time dateTime={a.createdAt}>{formatTime(a.createdAt)}</time>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <nav class="pager" aria-label="Adapter pages">
                <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                  Previous page
                </button>
                <span>
                  Page {Math.floor(offset / PAGE) + 1} of {Math.max(1, Math.ceil(page.total / PAGE))}
                </span>
                <button type="button" disabled={offset + PAGE >= page.total} onClick={() => setOffset(offset + PAGE)}>
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
