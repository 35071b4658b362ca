import { useState } from 'preact/hooks';
import { listAdapters } from '../api/endpoints.js';
import { ADAPTER_KINDS, ADAPTER_STATUSES, type AdapterPage } from '../api/types.js';
import { ChoiceFilter, draftSetter } from '../components/filter-fields.js';
import { LoadView } from '../components/load-view.js';
import { formatTime, localInputToIso } from '../lib/format.js';
import { href } from '../lib/router.js';
import { useLoad } from '../lib/use-load.js';

const PAGE = 20;

/** Most adapters scanned for a date filter (the API filters kind, status and name only). */
const DATE_SCAN_LIMIT = 5000;

interface Filter {
  kind: string;
  status: string;
  name: string;
  from: string;
  to: string;
}

/**
 * One page of adapters. The registry API has no date filter, so with dates set the matching
 * adapters are read (newest first, bounded) and filtered and paged here.
 */
async function loadPage(f: Filter, offset: number, signal: AbortSignal): Promise<AdapterPage> {
  const q = { kind: f.kind, status: f.status, name: f.name };
  const from = localInputToIso(f.from);
  const to = localInputToIso(f.to);
  if (!from && !to) return listAdapters({ ...q, limit: PAGE, offset }, signal);
  const all: AdapterPage['items'] = [];
  for (let o = 0; o < DATE_SCAN_LIMIT; o += 500) {
    const page = await listAdapters({ ...q, limit: 500, offset: o }, signal);
    all.push(...page.items);
    if (o + 500 >= page.total) break;
  }
  const inRange = all.filter((a) => (!from || a.createdAt >= from) && (!to || a.createdAt < to));
  return { items: inRange.slice(offset, offset + PAGE), total: inRange.length, limit: PAGE, offset };
}

/** The adapter registry: filters (kind, status, name), newest first, paginated. */
export function AdaptersPage() {
  const [draft, setDraft] = useState<Filter>({ kind: '', status: '', name: '', from: '', to: '' });
  const [filter, setFilter] = useState<Filter>(draft);
  const [offset, setOffset] = useState(0);
  const [load] = useLoad((signal) => loadPage(filter, offset, signal), [filter, offset]);

  const apply = (e: Event) => {
    e.preventDefault();
    setFilter({ ...draft, name: draft.name.trim() });
    setOffset(0);
  };
  const set = draftSetter(draft, setDraft);

  return (
    <>
      <h1 tabIndex={-1}>Adapters</h1>
      <form class="filters" onSubmit={apply} aria-label="Filter adapters">
        <ChoiceFilter id="f-kind" label="Kind" value={draft.kind} choices={ADAPTER_KINDS} onChange={set('kind')} />
        <ChoiceFilter id="f-status" label="Status" value={draft.status} choices={ADAPTER_STATUSES} onChange={set('status')} />
        <div>
          <label for="f-name">Name</label>
          <input id="f-name" type="search" value={draft.name} onInput={set('name')} />
        </div>
        <div>
          <label for="f-from">Created from</label>
          <input id="f-from" type="datetime-local" step={1} value={draft.from} onInput={set('from')} />
        </div>
        <div>
          <label for="f-to">Created before</label>
          <input id="f-to" type="datetime-local" step={1} value={draft.to} onInput={set('to')} />
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
