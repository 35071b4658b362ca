/**
 * The measurements of bench:serving (issue 13), over HTTP against running services:
 * - three ways side by side, each its own service booted with the defaults (routing decisions
 *   recorded): `base` (no adapters registered), `static` (the adapters the routed plans applied,
 *   copied as task adapters and named in each request with the plan's strengths, routing manual:
 *   the plan without any routing work), `routed` (5 pipeline-made unlearning adapters with their
 *   detectors + 1 auto task adapter, routing auto);
 * - closed loop at 1, 4 and 16 clients (1 client: the ways alternate request by request; 4 and 16:
 *   rounds of one block per way, order rotated), once with the default batching window and once
 *   with LETHE_BATCH_WINDOW_MS=0;
 * - open loop, Poisson arrivals at fractions of the measured 16-client capacity, ways alternating
 *   per rate;
 * - many adapters: Zipf(1) over 1,000 registered task adapters named per request, the adapter
 *   cache below the working set, against the same requests on 1 adapter (and 10, 100);
 * - memory over many routed requests, /healthz while an unlearning request trains.
 */
import { rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdapterStore } from '../modules/inference/adapter-store.service.js';
import { ModelHost } from '../modules/inference/model-host.service.js';
import { adapterShapeFromTargets, planFlopRatio } from '../routing/flops.js';
import type { RoutingPlan } from '../routing/routing-types.js';
import type { LoadRequest } from './serving-http-client.js';
import { closedStats, LoadGenerator, loadStats, poissonArrivals, quantile, round, seededRandom, type ClosedPlan, type LoadStats } from './serving-load.js';
import { copyAdaptersAsTasks, copyState, registerTaskAdapters, routedState, startService, type BenchService } from './serving-services.js';
import { loadServingWorld, servingMix, zipfWorkload, type ServingWorld } from './serving-workload.js';

export type Way = 'base' | 'static' | 'routed';
export const WAYS: readonly Way[] = ['base', 'static', 'routed'];
export type WayStats = Record<Way, LoadStats>;

export interface OpenPoint extends LoadStats {
  /** Offered arrival rate (requests/s). */
  rate: number;
}

export interface ServingSizes {
  mix: number;
  maxTokens: number;
  rounds: number;
  blockPerClient: number;
  openSeconds: number;
  openFractions: number[];
  zipfAdapters: number;
  zipfCacheMb: number;
  zipfRounds: number;
  zipfBlock: number;
  memoryRequests: number;
  trainSeconds: number;
}

export const FULL_SIZES: ServingSizes = {
  mix: 90,
  maxTokens: 16,
  rounds: 4,
  blockPerClient: 6,
  openSeconds: 8,
  openFractions: [0.25, 0.5, 0.75, 1, 1.5, 2],
  zipfAdapters: 1000,
  zipfCacheMb: 16,
  zipfRounds: 3,
  zipfBlock: 192,
  memoryRequests: 5_000,
  trainSeconds: 90,
};

export const QUICK_SIZES: ServingSizes = {
  mix: 12,
  maxTokens: 8,
  rounds: 1,
  blockPerClient: 2,
  openSeconds: 1.5,
  openFractions: [0.5, 1, 2],
  zipfAdapters: 100,
  zipfCacheMb: 4,
  zipfRounds: 1,
  zipfBlock: 48,
  memoryRequests: 200,
  trainSeconds: 20,
};

/** Closed-loop stats per window (`5`: the default, `0`) and clients. */
export type ClosedLoad = Record<string, Record<string, WayStats>>;

export interface ZipfResult {
  adapters: number;
  cacheMb: number;
  /** Adapters that fit the cache (its bytes / one adapter's bytes). */
  cacheAdapters: number;
  /** Distinct adapters the timed Zipf requests named (the working set). */
  workingSet: number;
  /** tokens/s at 16 clients by number of adapters drawn from (Zipf over n). */
  throughput: Record<string, number>;
  stats: Record<string, LoadStats>;
  coldLoadP50Ms: number;
  coldLoadP99Ms: number;
  coldLoads: number;
  cacheHitRate: number;
}

export interface ServingRun {
  closed: ClosedLoad;
  open: Record<string, OpenPoint[]>;
  zipf: ZipfResult;
  /** Mean planFlopRatio of the routed plans. */
  planFlopRatio: number;
  warmLoadMs: number;
  memory: { requests: number; tensorsStart: number; tensorsEnd: number; rssStartMb: number; rssEndMb: number };
  healthzP99MsDuringTraining: number;
  notes: string[];
  workers: number;
}

export interface Trio {
  services: Record<Way, BenchService>;
  bodies: Record<Way, Array<Record<string, unknown>>>;
  plans: RoutingPlan[];
  usage: Array<{ prompt: number; completion: number }>;
  close(): Promise<void>;
}

export async function runServing(o: { modelDir: string; sizes: ServingSizes; quick: boolean; log: (l: string) => void; parts?: string[] }): Promise<ServingRun> {
  const { sizes, log } = o;
  const runs = (p: string) => !o.parts || o.parts.includes(p);
  const world = loadServingWorld(o.modelDir);
  const notes: string[] = [];
  const state = await routedState({ modelDir: o.modelDir, forget: world.forget, taskPrompts: world.task.slice(0, 32), quick: o.quick, log });
  notes.push(
    state.fromCache
      ? `routed state (5 unlearning requests through the pipeline, 1 auto task adapter) from the cache under scratch/serving-bench-cache`
      : `routed state made in this run: 5 unlearning requests through POST /v1/unlearning-requests took ${state.trainSeconds} s`,
  );
  if (state.reviewed.length > 0) notes.push(`unlearning requests that ended needs_review and were accepted by the bench's admin: ${state.reviewed.join(', ')}`);
  const loader = LoadGenerator.start();
  const closed: ClosedLoad = {};
  const open: Record<string, OpenPoint[]> = {};
  let planFlop = NaN;
  let warmLoadMs = NaN;
  let memory: ServingRun['memory'] = { requests: 0, tensorsStart: NaN, tensorsEnd: NaN, rssStartMb: NaN, rssEndMb: NaN };
  let healthz = NaN;
  let workers = 0;
  try {
    // --- default window: the three ways in closed loop, open loop, memory, /healthz ----------------
    let trio = await startTrio(o.modelDir, state, world, sizes, {}, log);
    try {
      workers = trio.services.routed.app.get(ModelHost).status().workers;
      const model = trio.services.routed.app.get(ModelHost).modelConfig!;
      const store = trio.services.routed.app.get(AdapterStore);
      const ratios = trio.plans.map((p, i) =>
        planFlopRatio(
          model,
          p.entries.filter((e) => e.applied).map((e) => adapterShapeFromTargets(model, store.adapter(e.adapterId)?.rank ?? 8, store.adapter(e.adapterId)?.targetModules ?? [])),
          trio.usage[i].prompt,
          trio.usage[i].completion,
        ),
      );
      planFlop = round(ratios.reduce((s, x) => s + x, 0) / ratios.length);
      const applied = trio.plans.map((p) => p.entries.filter((e) => e.applied));
      notes.push(
        `routed plans: ${round(applied.reduce((s, a) => s + a.length, 0) / applied.length, 2)} adapters applied per request (max ${Math.max(...applied.map((a) => a.length))}); ` +
          `an unlearning adapter on ${applied.filter((a) => a.some((e) => e.kind === 'unlearning')).length}/${applied.length}, the task adapter on ${applied.filter((a) => a.some((e) => e.kind === 'task')).length}/${applied.length}`,
      );
      closed['5'] = await closedLoop(loader, trio, sizes, log, '5');
      if (runs('open')) {
        const capacity = Math.min(...WAYS.map((w) => closed['5']['16'][w].requestsPerSec));
        notes.push(`open loop: Poisson arrivals for ${sizes.openSeconds} s per rate and way, rates = ${sizes.openFractions.join(', ')} × ${round(capacity, 1)} requests/s (the slowest way's 16-client throughput)`);
        Object.assign(open, await openLoop(loader, WAYS, (w, i) => request(trio, w as Way, i), capacity, sizes, log));
      }
      if (runs('memory')) memory = await memoryRun(loader, trio, sizes.memoryRequests, log);
      if (runs('healthz')) healthz = await healthzDuringTraining(trio.services.routed, world.forget[0].items.map((i) => i.prompt.replace('Question:', 'Question (again):')), sizes.trainSeconds, notes);
    } finally {
      await trio.close();
    }
    // --- window 0: the three ways again --------------------------------------------------------
    if (runs('window0')) {
      trio = await startTrio(o.modelDir, state, world, sizes, { LETHE_BATCH_WINDOW_MS: '0' }, log);
      try {
        closed['0'] = await closedLoop(loader, trio, sizes, log, '0');
      } finally {
        await trio.close();
      }
    }
    // --- many adapters ---------------------------------------------------------------------------
    const zipf = runs('zipf') ? await zipfRun(loader, o.modelDir, state, world, sizes, log, open) : emptyZipf(sizes);
    warmLoadMs = zipf.warmLoadMs;
    return { closed, open, zipf, planFlopRatio: planFlop, warmLoadMs, memory, healthzP99MsDuringTraining: healthz, notes, workers };
  } finally {
    await loader.close();
  }
}

function emptyZipf(sizes: ServingSizes): ZipfResult & { warmLoadMs: number } {
  return { adapters: sizes.zipfAdapters, cacheMb: sizes.zipfCacheMb, cacheAdapters: NaN, workingSet: NaN, throughput: {}, stats: {}, coldLoadP50Ms: NaN, coldLoadP99Ms: NaN, coldLoads: 0, cacheHitRate: NaN, warmLoadMs: NaN };
}

/** Boots base, static and routed, learns the routed plans (one pass, also the warm-up) and builds each way's bodies. */
export async function startTrio(
  modelDir: string,
  state: { dir: string; adminKey: string },
  world: ServingWorld,
  sizes: ServingSizes,
  env: Record<string, string>,
  log: (l: string) => void,
  /** Changes the routed service's registry before its plans are learned (A/B tools). */
  prepareRouted?: (routed: BenchService) => Promise<void>,
): Promise<Trio> {
  const dirs: string[] = [];
  const started: BenchService[] = [];
  const boot = async (dir: string) => {
    dirs.push(dir);
    const s = await startService({ modelDir, dataDir: dir, adminKey: state.adminKey, env });
    started.push(s);
    return s;
  };
  const close = async () => {
    for (const s of started) await s.close().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    const routed = await boot(copyState(state.dir));
    await prepareRouted?.(routed);
    const base = await boot(mkdtempSync(join(tmpdir(), 'lethe-bench-serving-')));
    const stat = await boot(mkdtempSync(join(tmpdir(), 'lethe-bench-serving-')));
    const model = routed.app.get(ModelHost).modelId;
    const mix = servingMix(world, sizes.mix);
    const plain = mix.map((m) => ({ model, prompt: m.prompt, max_tokens: sizes.maxTokens, temperature: 0 }));
    const plans: RoutingPlan[] = [];
    const usage: Trio['usage'] = [];
    for (const body of plain) {
      const res = await fetch(`${routed.url}/v1/completions`, { method: 'POST', headers: { authorization: `Bearer ${routed.clientKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status !== 200) throw new Error(`routed warm-up: ${res.status} ${await res.text()}`);
      const out = (await res.json()) as { lethe: { routing: RoutingPlan }; usage: { prompt_tokens: number; completion_tokens: number } };
      plans.push(out.lethe.routing);
      usage.push({ prompt: out.usage.prompt_tokens, completion: out.usage.completion_tokens });
    }
    const ids = [...new Set(plans.flatMap((p) => p.entries.filter((e) => e.applied).map((e) => e.adapterId)))];
    const names = await copyAdaptersAsTasks(routed.app, stat.app, ids, 'static-');
    await stat.app.get(AdapterStore).refresh();
    const staticBodies = plain.map((b, i) => ({
      ...b,
      lethe: { routing: 'manual', adapters: plans[i].entries.filter((e) => e.applied).map((e) => ({ name: names.get(e.adapterId)!, strength: e.strength })) },
    }));
    log(`services up${Object.keys(env).length ? ` (${JSON.stringify(env)})` : ''}: routed ${routed.url}, base ${base.url}, static ${stat.url}`);
    return { services: { base, static: stat, routed }, bodies: { base: plain, static: staticBodies, routed: plain }, plans, usage, close };
  } catch (e) {
    await close();
    throw e;
  }
}

const request = (trio: Trio, way: Way, i: number): LoadRequest => {
  const s = trio.services[way];
  const bodies = trio.bodies[way];
  return { url: s.url, key: s.clientKey, body: bodies[i % bodies.length], tag: way };
};

/** The three ways at 1, 4 and 16 clients (one warm-up block per way and concurrency first, not counted). */
async function closedLoop(loader: LoadGenerator, trio: Trio, sizes: ServingSizes, log: (l: string) => void, window: string): Promise<Record<string, WayStats>> {
  const out: Record<string, WayStats> = {};
  const n = trio.bodies.base.length;
  for (const clients of [1, 4, 16]) {
    const warm: ClosedPlan = { kind: 'closed', blocks: WAYS.map((w) => ({ clients, requests: Array.from({ length: clients * 2 }, (_, i) => request(trio, w, i)) })) };
    await loader.run(warm);
    const plan: ClosedPlan = { kind: 'closed', blocks: [] };
    if (clients === 1) {
      // Request by request, order rotated: drift in machine load hits the three ways alike.
      for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) plan.blocks.push({ clients: 1, requests: [request(trio, WAYS[(i + k) % 3], i)] });
    } else {
      const per = clients * sizes.blockPerClient;
      for (let r = 0; r < sizes.rounds; r++) {
        for (let k = 0; k < 3; k++) plan.blocks.push({ clients, requests: Array.from({ length: per }, (_, i) => request(trio, WAYS[(r + k) % 3], r * per + i)) });
      }
    }
    const stats = closedStats(plan, await loader.run(plan)) as WayStats;
    out[String(clients)] = stats;
    log(`window ${window} ms, ${clients} client(s): ` + WAYS.map((w) => `${w} p50 ${stats[w].p50E2eMs} ms ttft ${stats[w].p50TtftMs} ms ${stats[w].tokensPerSec} tok/s`).join(' | '));
  }
  return out;
}

/** Open loop for each series at rates = fractions × capacity; series alternate per rate. */
async function openLoop(
  loader: LoadGenerator,
  series: readonly string[],
  make: (s: string, i: number) => LoadRequest,
  capacity: number,
  sizes: ServingSizes,
  log: (l: string) => void,
): Promise<Record<string, OpenPoint[]>> {
  const out: Record<string, OpenPoint[]> = Object.fromEntries(series.map((s) => [s, []]));
  for (const [k, f] of sizes.openFractions.entries()) {
    const rate = round(f * capacity, 2);
    for (const [j, s] of series.entries()) {
      const arrivalsMs = poissonArrivals(rate, sizes.openSeconds * 1000, seededRandom(1000 + k));
      const result = await loader.run({ kind: 'open', arrivalsMs, requests: arrivalsMs.map((_, i) => make(s, i + j)) });
      const st = loadStats(result.records, result.blockWallMs[0]);
      out[s].push({ rate, ...st });
      log(`open loop ${s} at ${rate} req/s: ttft p50 ${st.p50TtftMs} p99 ${st.p99TtftMs} ms, e2e p50 ${st.p50E2eMs} ms, ${st.rejected} x 429, ${st.errors} errors`);
    }
  }
  return out;
}

/** `requests` routed requests at 8 clients; engine tensors and RSS before and after. */
async function memoryRun(loader: LoadGenerator, trio: Trio, requests: number, log: (l: string) => void): Promise<ServingRun['memory']> {
  const host = trio.services.routed.app.get(ModelHost);
  const mem0 = (await host.memory())[0];
  const rss0 = process.memoryUsage().rss;
  const step = 1000;
  for (let done = 0; done < requests; done += step) {
    const n = Math.min(step, requests - done);
    await loader.run({ kind: 'closed', blocks: [{ clients: 8, requests: Array.from({ length: n }, (_, i) => request(trio, 'routed', done + i)) }] });
    if (requests > step) log(`memory run: ${done + n}/${requests}`);
  }
  const mem1 = (await host.memory())[0];
  const rss1 = process.memoryUsage().rss;
  const mb = (b: number) => round(b / 2 ** 20, 1);
  return { requests, tensorsStart: mem0.tensors, tensorsEnd: mem1.tensors, rssStartMb: mb(rss0), rssEndMb: mb(rss1) };
}

/** Submits an unlearning request and probes /healthz every 10 ms while it trains; p99 in ms. */
async function healthzDuringTraining(svc: BenchService, prompts: string[], seconds: number, notes: string[]): Promise<number> {
  const headers = { authorization: `Bearer ${svc.adminKey}`, 'content-type': 'application/json' };
  const res = await fetch(`${svc.url}/v1/unlearning-requests`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'bench-healthz', relabel: 'refusal', items: prompts.map((prompt) => ({ prompt, answer: 'unknown' })), options: { epochs: 2 } }),
  });
  const { id } = (await res.json()) as { id: string };
  const lat: number[] = [];
  const until = performance.now() + seconds * 1000;
  let status = 'queued';
  let lastCheck = 0;
  while (performance.now() < until) {
    const t = performance.now();
    await (await fetch(`${svc.url}/healthz`)).arrayBuffer();
    lat.push(performance.now() - t);
    if (t - lastCheck > 500) {
      lastCheck = t;
      status = ((await (await fetch(`${svc.url}/v1/unlearning-requests/${id}`, { headers })).json()) as { status: string }).status;
      if (['active', 'needs_review', 'failed', 'revoked'].includes(status)) break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  notes.push(`/healthz probed ${lat.length} times while an unlearning request trained (${status} at the end)`);
  return round(quantile(lat, 0.99));
}

/**
 * Many adapters: a service on the routed state plus `zipfAdapters` registered task adapters, its
 * adapter cache at `zipfCacheMb`. 16 clients; per round one block per count n ∈ {1, 10, 100, N}
 * (each request names adapter `zipf-<k>`, k drawn Zipf(1) over n; same prompts and lengths for
 * every n); cold loads and cache hits counted over the N blocks. Then the open loop for n = 1 and N.
 */
async function zipfRun(
  loader: LoadGenerator,
  modelDir: string,
  state: { dir: string; adminKey: string },
  world: ServingWorld,
  sizes: ServingSizes,
  log: (l: string) => void,
  open: Record<string, OpenPoint[]>,
): Promise<ZipfResult & { warmLoadMs: number }> {
  const dir = copyState(state.dir);
  const svc = await startService({ modelDir, dataDir: dir, adminKey: state.adminKey, env: { LETHE_ADAPTER_CACHE_MB: String(sizes.zipfCacheMb) } });
  try {
    const N = sizes.zipfAdapters;
    const t0 = performance.now();
    await registerTaskAdapters(
      svc.app,
      Array.from({ length: N }, (_, k) => `zipf-${k}`),
      1000,
    );
    const store = svc.app.get(AdapterStore);
    await store.refresh();
    log(`registered ${N} task adapters in ${Math.round((performance.now() - t0) / 1000)} s`);
    const model = svc.app.get(ModelHost).modelId;
    const counts = [...new Set([1, 10, 100, N].filter((n) => n <= N))];
    const mk = (n: number, seed: number, len: number) =>
      zipfWorkload(world, len, n, seed).map(
        (w): LoadRequest => ({ url: svc.url, key: svc.clientKey, tag: String(n), body: { model: `${model}:zipf-${w.adapter}`, prompt: w.prompt, max_tokens: w.maxTokens, temperature: 0 } }),
      );
    // Warm-up (kernels, connections) on adapter 0, not counted.
    await loader.run({ kind: 'closed', blocks: [{ clients: 16, requests: mk(1, 1, 32) }] });
    const plan: ClosedPlan = { kind: 'closed', blocks: [] };
    for (let r = 0; r < sizes.zipfRounds; r++) {
      // Same seed for every n in a round: the same prompts and lengths, only the adapters differ.
      const order = r % 2 === 0 ? counts : [...counts].reverse();
      for (const n of order) plan.blocks.push({ clients: 16, requests: mk(n, 7 + r, sizes.zipfBlock) });
    }
    // Cold loads and hits counted over the N blocks only.
    const stats: Record<string, LoadStats> = {};
    let hits = 0;
    let misses = 0;
    const cold: number[] = [];
    const named = new Set<string>();
    const allRecords: Record<string, { recs: Parameters<typeof loadStats>[0]; wall: number }> = {};
    for (const block of plan.blocks) {
      const tag = block.requests[0].tag;
      const s0 = store.cache.stats();
      const res = await loader.run({ kind: 'closed', blocks: [block] });
      if (tag === String(N)) {
        const s1 = store.cache.stats();
        hits += s1.hits - s0.hits;
        misses += s1.misses - s0.misses;
        const loads = s1.loads - s0.loads; // loadTimesMs: newest last, the last 1,000 kept
        if (loads > 0) cold.push(...store.loadTimesMs.slice(-Math.min(loads, store.loadTimesMs.length)));
        for (const r of block.requests) named.add(String(r.body.model));
      }
      const acc = (allRecords[tag] ??= { recs: [], wall: 0 });
      acc.recs.push(...res.records);
      acc.wall += res.blockWallMs[0];
    }
    for (const [tag, a] of Object.entries(allRecords)) stats[tag] = loadStats(a.recs, a.wall);
    const throughput = Object.fromEntries(counts.map((n) => [String(n), stats[String(n)].tokensPerSec]));
    log(`zipf: ${JSON.stringify(throughput)} tokens/s; ${misses} misses, ${hits} hits; cold load p50 ${round(quantile(cold, 0.5), 2)} p99 ${round(quantile(cold, 0.99), 2)} ms`);
    // Warm load: a cache hit (acquire + release) of an adapter just used.
    const a0 = store.selectable().find((a) => a.name === 'zipf-0')!;
    const lease = await store.cache.acquire(a0.id, a0.version);
    const oneAdapterBytes = lease.value.weights.byteLength;
    lease.release();
    const tw = performance.now();
    for (let i = 0; i < 100; i++) (await store.cache.acquire(a0.id, a0.version)).release();
    const warmLoadMs = round((performance.now() - tw) / 100, 4);
    // Open loop, 1 adapter vs Zipf over N, rates from the Zipf run's 16-client throughput.
    const capacity = stats[String(N)].requestsPerSec;
    const openLen = Math.ceil(capacity * 2.5 * sizes.openSeconds) + 16;
    const openRequests: Record<string, LoadRequest[]> = { 'zipf-1': mk(1, 99, openLen), [`zipf-${N}`]: mk(N, 99, openLen) };
    const z = await openLoop(
      loader,
      ['zipf-1', `zipf-${N}`],
      (s, i) => ({ ...openRequests[s][i % openRequests[s].length], tag: s }),
      capacity,
      sizes,
      log,
    );
    Object.assign(open, z);
    return {
      adapters: N,
      cacheMb: sizes.zipfCacheMb,
      cacheAdapters: Math.floor((sizes.zipfCacheMb * 2 ** 20) / oneAdapterBytes),
      workingSet: named.size,
      throughput,
      stats,
      coldLoadP50Ms: round(quantile(cold, 0.5), 3),
      coldLoadP99Ms: round(quantile(cold, 0.99), 3),
      coldLoads: cold.length,
      cacheHitRate: round(hits / Math.max(1, hits + misses), 3),
      warmLoadMs,
    };
  } finally {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
