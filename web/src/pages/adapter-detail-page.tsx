import type { ComponentChildren } from 'preact';
import { adapterHistory, getAdapter, listRoutingDecisions } from '../api/endpoints.js';
import type { Adapter, RoutingDecision } from '../api/types.js';
import { Facts, JsonBlock, LoadView } from '../components/load-view.js';
import { RoutingChart } from '../components/routing-chart.js';
import { formatBytes, formatTime } from '../lib/format.js';
import { href } from '../lib/router.js';
import { bucketRouting } from '../lib/routing-stats.js';
import { useLoad } from '../lib/use-load.js';

/** One adapter: facts, lineage, timeline from the audit log, routing chart. */
export function AdapterDetailPage({ id }: { id: string }) {
  const [adapter] = useLoad((s) => getAdapter(id, s), [id]);
  const [history] = useLoad((s) => adapterHistory(id, s), [id]);
  const [routing] = useLoad((s) => listRoutingDecisions({ adapterId: id, limit: 1000 }, s), [id]);
  const name = adapter.state === 'ok' ? adapter.data.name : id;

  return (
    <>
      <p>
        <a href={href('adapters')}>← All adapters</a>
      </p>
      <h1 tabIndex={-1}>Adapter {name}</h1>
      <LoadView load={adapter} what="the adapter">
        {(a) => (
          <>
            <Facts
              items={[
                ['Id', <code>{a.id}</code>],
                ['Kind', a.kind],
                ['Status', <span class={`badge status-${a.status}`}>{a.status}</span>],
                ['Version', String(a.version)],
                ['Base model', a.baseModel],
                ['Rank / alpha', `${a.rank} / ${a.alpha}`],
                ['Target modules', a.targetModules.join(', ') || '—'],
                ['Size', formatBytes(a.sizeBytes)],
                ['sha256', a.blobSha256 ? <code class="hash" data-testid="adapter-sha256">{a.blobSha256}</code> : 'no weights yet'],
                ['Created', formatTime(a.createdAt)],
                ['Updated', formatTime(a.updatedAt)],
              ]}
            />
            <h2>Lineage</h2>
            <Lineage adapter={a} />
          </>
        )}
      </LoadView>
      <h2>Timeline</h2>
      <LoadView load={history} what="the history">
        {(h) =>
          h.items.length === 0 ? (
            <p class="empty">No recorded events.</p>
          ) : (
            <ol class="timeline" data-testid="timeline">
              {h.items.map((e) => (
                <li key={e.seq}>
                  <time dateTime={e.at}>{formatTime(e.at)}</time> <strong class="action">{e.action}</strong> by <span class="actor">{e.actor}</span>{' '}
                  <span class="muted">(audit #{e.seq})</span>
                  {Object.keys(e.details).length > 0 && (
                    <details>
                      <summary>Details</summary>
                      <JsonBlock value={e.details} label={`Details of audit event ${e.seq}`} />
                    </details>
                  )}
                </li>
              ))}
            </ol>
          )
        }
      </LoadView>
      <h2>Routing over time</h2>
      <LoadView load={routing} what="routing decisions" missing="No routing decisions recorded yet: this server does not store them.">
        {(page) => <RoutingSection decisions={page.items} adapterId={id} name={name} />}
      </LoadView>
    </>
  );
}

function RoutingSection({ decisions, adapterId, name }: { decisions: RoutingDecision[]; adapterId: string; name: string }) {
  const buckets = bucketRouting(decisions, adapterId);
  if (buckets.length === 0) return <p class="empty">This adapter has not been routed yet.</p>;
  return <RoutingChart buckets={buckets} adapterName={name} />;
}

const REQUEST_KEYS = new Set(['unlearningRequestId', 'requestId', 'unlearning_request_id']);
const ADAPTER_KEYS = new Set(['parentAdapterId', 'parentId', 'previousAdapterId', 'sourceAdapterId']);

/** Lineage fields; ids of requests and adapters become links, everything else text. */
function Lineage({ adapter }: { adapter: Adapter }) {
  const entries = Object.entries(adapter.lineage ?? {});
  if (entries.length === 0) return <p class="empty">No lineage recorded.</p>;
  const render = (k: string, v: unknown): ComponentChildren => {
    if (typeof v === 'string' && REQUEST_KEYS.has(k)) return <a href={href('unlearning', v)}>{`unlearning request ${v}`}</a>;
    if (typeof v === 'string' && ADAPTER_KEYS.has(k)) return <a href={href('adapters', v)}>{`adapter ${v}`}</a>;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
    return <JsonBlock value={v} label={`Lineage ${k}`} />;
  };
  return <Facts items={entries.map(([k, v]) => [k, render(k, v)])} />;
}
