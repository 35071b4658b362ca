import { useState } from 'preact/hooks';
import { listRoutingDecisions } from '../api/endpoints.js';
import type { InferenceEndpoint, RoutingDecision } from '../api/types.js';
import { ChoiceFilter, draftSetter } from '../components/filter-fields.js';
import { Facts, LoadView } from '../components/load-view.js';
import { PlanTable } from '../components/plan-table.js';
import { formatTime, localInputToIso } from '../lib/format.js';
import { useLoad } from '../lib/use-load.js';

const PAGE = 50;
const ENDPOINTS: readonly InferenceEndpoint[] = ['chat.completions', 'completions'];
/** How a decision names its endpoint: the request's path under /v1. */
export const endpointLabel = (e: InferenceEndpoint | undefined): string => (e === 'chat.completions' ? 'chat/completions' : 'completions');

interface Search {
  adapterId: string;
  keyId: string;
  endpoint: string;
  from: string;
  to: string;
}

/** Routing decisions searched by adapter, API key and time; each shows its plan and scores. */
export function RoutingPage() {
  const empty: Search = { adapterId: '', keyId: '', endpoint: '', from: '', to: '' };
  const [draft, setDraft] = useState<Search>(empty);
  const [search, setSearch] = useState<Search>(empty);
  const [cursors, setCursors] = useState<(number | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const [load] = useLoad(
    (s) =>
      listRoutingDecisions(
        { adapterId: search.adapterId.trim(), keyId: search.keyId.trim(), endpoint: search.endpoint, from: localInputToIso(search.from), to: localInputToIso(search.to), limit: PAGE, after: cursor },
        s,
      ),
    [search, cursor],
  );
  const set = draftSetter(draft, setDraft);

  return (
    <>
      <h1 tabIndex={-1}>Routing decisions</h1>
      <form
        class="filters"
        aria-label="Search routing decisions"
        onSubmit={(e) => {
          e.preventDefault();
          setSearch(draft);
          setCursors([undefined]);
        }}
      >
        <div>
          <label for="r-adapter">Adapter id</label>
          <input id="r-adapter" value={draft.adapterId} onInput={set('adapterId')} />
        </div>
        <div>
          <label for="r-key">API key id</label>
          <input id="r-key" value={draft.keyId} onInput={set('keyId')} />
        </div>
        <ChoiceFilter id="r-endpoint" label="Endpoint" value={draft.endpoint} choices={ENDPOINTS} onChange={set('endpoint')} />
        <div>
          <label for="r-from">From</label>
          <input id="r-from" type="datetime-local" step={1} value={draft.from} onInput={set('from')} />
        </div>
        <div>
          <label for="r-to">To</label>
          <input id="r-to" type="datetime-local" step={1} value={draft.to} onInput={set('to')} />
        </div>
        <button type="submit">Search</button>
      </form>
      <LoadView load={load} what="routing decisions" missing="No routing decisions: this server does not record routing decisions yet.">
        {(page) =>
          page.items.length === 0 ? (
            <p class="empty" role="status">
              No routing decisions match.
            </p>
          ) : (
            <>
              <p role="status" data-testid="decisions-count">
                {page.total} decision{page.total === 1 ? '' : 's'} match; showing {page.offset + 1}–{page.offset + page.items.length}.
              </p>
              <ul class="decisions" data-testid="decisions">
                {page.items.map((d) => (
                  <Decision key={d.id} d={d} />
                ))}
              </ul>
              <nav class="pager" aria-label="Routing decision pages">
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

function Decision({ d }: { d: RoutingDecision }) {
  const applied = d.plan.entries.filter((e) => e.applied).length;
  return (
    <li data-id={d.id}>
      <details>
        <summary>
          {formatTime(d.createdAt)} · {endpointLabel(d.endpoint)} · key {d.keyId ?? '—'} · {d.model} · {applied} adapter{applied === 1 ? '' : 's'} applied · {d.mode}
        </summary>
        <Facts
          items={[
            ['Decision', <code>{d.id}</code>],
            ['Request', `${d.requestId} (prompt ${d.promptIndex})`],
            ['Endpoint', `/v1/${endpointLabel(d.endpoint)}`],
            ['Gate policy', d.policy],
            ['Registry version', String(d.registryVersion)],
            ['Tokens', `${d.promptTokens} prompt, ${d.completionTokens} completion`],
            ['Latency', `${d.latencyMs.toFixed(1)} ms`],
          ]}
        />
        <PlanTable plan={d.plan} caption={`Plan of decision ${d.id}`} />
      </details>
    </li>
  );
}
