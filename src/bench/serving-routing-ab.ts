/**
 * A/B of routing's cost at saturation, bench:serving's `routingOverheadC16` (issue 13; development
 * tool, writes nothing but the routed state cache under scratch/):
 *
 *   npx tsx src/bench/serving-routing-ab.ts <rounds> <label>=<ENV:VALUE,ENV:VALUE> [<label>=...]
 *   e.g. npx tsx src/bench/serving-routing-ab.ts 4 now= other=LETHE_BATCH_WINDOW_MS:0
 *
 * `AB_ROUTED:entity-only` in a variant deactivates the routed state's auto task adapter first, so
 * its requests route on the unlearning adapters' entity gates alone (no condition vector).
 *
 * One trio of services (base, static, routed: bench:serving's startTrio) per variant, all in this
 * process, each booted with its variables set in process.env and in its config. Each round runs,
 * for every variant and way in turn (orders rotated per round), a block of AB_BLOCK (default 96)
 * requests at 16 clients; the overhead (routed − static) / base on p50 end to end is computed per
 * variant from the pooled records, so variants are compared minutes apart at most.
 */
import { resolve } from 'node:path';
import { AdapterRegistryService } from '../modules/adapters/adapter-registry.service.js';
import { AdapterStore } from '../modules/inference/adapter-store.service.js';
import { ModelHost } from '../modules/inference/model-host.service.js';
import { FULL_SIZES, startTrio, WAYS, type Trio, type Way } from './serving-bench-run.js';
import { parseAbArgs, withEnv } from './ab-variants.js';
import type { LoadRecord } from './serving-http-client.js';
import { LoadGenerator, loadStats, round } from './serving-load.js';
import { routedState, type BenchService } from './serving-services.js';
import { loadServingWorld } from './serving-workload.js';

const modelDir = resolve('models/demo');
const { rounds, variants } = parseAbArgs(process.argv.slice(2), 'serving-routing-ab.ts');
const block = Number(process.env.AB_BLOCK ?? 96);
const clients = Number(process.env.AB_CLIENTS ?? 16);

const world = loadServingWorld(modelDir);
const state = await routedState({ modelDir, forget: world.forget, taskPrompts: world.task.slice(0, 32), quick: false, log: console.log });
const loader = LoadGenerator.start();
const trios: Array<{ label: string; trio: Trio }> = [];
/** AB_ROUTED:entity-only: the routed state without its auto task adapter (entity gates alone route). */
const entityOnly = async (routed: BenchService) => {
  const task = routed.app.get(AdapterStore).routingSnapshot().adapters.find((a) => a.kind === 'task' && a.active);
  if (!task) throw new Error('the routed state has no active task adapter');
  await routed.app.get(AdapterRegistryService).deactivate(task.id, 'bench');
  await routed.app.get(AdapterStore).refresh();
};
for (const v of variants) {
  const prepare = v.env.AB_ROUTED === 'entity-only' ? entityOnly : undefined;
  trios.push({ label: v.label, trio: await withEnv(v.env, () => startTrio(modelDir, state, world, FULL_SIZES, v.env, console.log, prepare)) });
}
const requests = (trio: Trio, way: Way, from: number) =>
  Array.from({ length: block }, (_, i) => {
    const s = trio.services[way];
    const bodies = trio.bodies[way];
    return { url: s.url, key: s.clientKey, body: bodies[(from + i) % bodies.length], tag: way };
  });
for (const { trio } of trios) for (const way of WAYS) await loader.run({ kind: 'closed', blocks: [{ clients, requests: requests(trio, way, 0).slice(0, clients * 2) }] });

const acc = new Map<string, { records: LoadRecord[]; wallMs: number }>();
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? trios : [...trios].reverse();
  for (const { label, trio } of order) {
    for (let k = 0; k < WAYS.length; k++) {
      const way = WAYS[(r + k) % WAYS.length];
      const res = await loader.run({ kind: 'closed', blocks: [{ clients, requests: requests(trio, way, r * block) }] });
      const a = acc.get(`${label}/${way}`) ?? { records: [], wallMs: 0 };
      acc.set(`${label}/${way}`, a);
      a.records.push(...res.records);
      a.wallMs += res.blockWallMs[0];
    }
  }
  console.log(`round ${r + 1}/${rounds} done`);
}
for (const { label, trio } of trios) {
  const st = Object.fromEntries(WAYS.map((w) => [w, loadStats(acc.get(`${label}/${w}`)!.records, acc.get(`${label}/${w}`)!.wallMs)])) as Record<Way, ReturnType<typeof loadStats>>;
  const kept = trio.services.routed.app.get(ModelHost).keptPrefillRows;
  console.log(
    `${label} (${clients} clients): ` +
      WAYS.map((w) => `${w} p50 ${st[w].p50E2eMs} ms ttft ${st[w].p50TtftMs} ms ${st[w].tokensPerSec} tok/s`).join(' | ') +
      ` | overhead (routed - static) / base ${round((st.routed.p50E2eMs - st.static.p50E2eMs) / st.base.p50E2eMs)}` +
      ` | kept prefills ${kept.onHoldingEngine}/${kept.kept} on their engine`,
  );
}
await loader.close();
for (const { trio } of trios) await trio.close();
process.exit(0);
