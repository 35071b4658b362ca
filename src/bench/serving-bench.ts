/**
 * `npm run bench:serving` (issue 5): the same requests served three ways (base model alone; the
 * router's plans given statically; full routing with 5 gated unlearning adapters and 1 task
 * adapter), throughput with 1/10/100/1,000 registered adapters, cold and warm adapter loads, memory
 * over many requests, /healthz p99 while an unlearning job trains. Runs the real service in this
 * process (embedded Postgres in a temp folder, one inference worker thread) and writes
 * bench-results/serving.json in exactly the issue's shape. `--quick` shrinks every loop for CI.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.js';
import { importPeftAdapter } from '../engine/peft.js';
import { bootstrap } from '../main.js';
import { generateApiKey } from '../modules/auth/api-key-secret.js';
import type { AuthPrincipal } from '../modules/auth/auth.decorators.js';
import { AdapterStore } from '../modules/inference/adapter-store.service.js';
import { CompletionsService } from '../modules/inference/completions.service.js';
import { ModelHost, type HostJob } from '../modules/inference/model-host.service.js';
import { adapterShapeFromTargets, planFlopRatio } from '../routing/flops.js';
import type { RoutingPlan } from '../routing/routing-types.js';
import { loadBenchWorld, registerManyAdapters, registerRoutedAdapters, requestMix, type BenchRequest } from './serving-bench-setup.js';
import { disposeAdapter } from '../engine/lora-trainable.js';

export interface ServingBenchResult {
  overhead: number;
  routingOverhead: number;
  planFlopRatio: number;
  p50Ms: number;
  p99Ms: number;
  tokensPerSec: number;
  throughputByAdapters: { '1': number; '10': number; '100': number; '1000': number };
  coldLoadMs: number;
  warmLoadMs: number;
  memory: { tensorsStart: number; tensorsEnd: number; rssStartMb: number; rssEndMb: number };
  healthzP99MsDuringTraining: number;
}

/** Per-way numbers for the docs table (not in the JSON, whose shape the issue fixes). */
export interface WayStats {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  tokensPerSec: number;
}

export interface ServingBenchOptions {
  quick: boolean;
  modelDir: string;
  log?: (line: string) => void;
  /** Run only these parts (profiling; numbers of skipped parts are NaN). Default: all. */
  only?: ReadonlyArray<BenchPart>;
  /** LETHE_BATCH_WINDOW_MS of the service under test (default: the service's own default). */
  batchWindowMs?: number;
  /** LETHE_MERGE_HOT_PLANS of the service under test (default: the service's own default, off). */
  mergeHotPlans?: boolean;
}

export type BenchPart = 'ways' | 'loads' | 'throughput' | 'memory' | 'healthz';

/** LETHE_BATCH_WINDOW_MS when the environment does not set it. */
const DEFAULT_WINDOW_MS = loadConfig({}).inference.batchWindowMs;

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const mb = (b: number) => round(b / 2 ** 20, 1);

export async function runServingBench(o: ServingBenchOptions): Promise<{ result: ServingBenchResult; ways: Record<'base' | 'static' | 'routed', WayStats>; notes: string[] }> {
  const log = o.log ?? (() => undefined);
  const runs = (part: BenchPart) => !o.only || o.only.includes(part);
  const sizes = o.quick
    ? { requests: 12, maxTokens: 8, throughputRequests: 24, throughputRounds: 1, memoryRequests: 200, coldLoads: 5, trainSeconds: 20 }
    : { requests: 90, maxTokens: 16, throughputRequests: 320, throughputRounds: 7, memoryRequests: 10_000, coldLoads: 20, trainSeconds: 90 };
  const dataDir = mkdtempSync(join(tmpdir(), 'lethe-bench-serving-'));
  const adminKey = generateApiKey().secret;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LETHE_DATA_DIR: dataDir,
    LETHE_ADMIN_KEY: adminKey,
    LETHE_LOG_LEVEL: 'error',
    LETHE_MODEL_DIR: o.modelDir,
    LETHE_INFERENCE_WORKERS: '1',
    LETHE_QUEUE_MAX: '100000',
    LETHE_REQUEST_TIMEOUT_MS: '0',
    LETHE_ROUTING_SAMPLE_RATE: '0',
    LETHE_MAX_TOKENS_LIMIT: '64',
    ...(o.batchWindowMs !== undefined ? { LETHE_BATCH_WINDOW_MS: String(o.batchWindowMs) } : {}),
    ...(o.mergeHotPlans !== undefined ? { LETHE_MERGE_HOT_PLANS: String(o.mergeHotPlans) } : {}),
  });
  const started = await bootstrap(config);
  const notes: string[] = [];
  try {
    const app = started.app;
    const host = app.get(ModelHost);
    await host.whenReady();
    const store = app.get(AdapterStore);
    const completions = app.get(CompletionsService);
    const model = host.modelConfig!;
    log(`model ${host.status().detail}`);
    const keyRes = await fetch(`${started.url}/v1/admin/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench client', role: 'client' }),
    });
    const clientKey = (await keyRes.json()) as { id: string };
    const principal: AuthPrincipal = { keyId: clientKey.id, name: 'bench client', role: 'client' };

    // --- three ways on the same requests -------------------------------------------------------
    const world = loadBenchWorld(o.modelDir);
    const { task } = await registerRoutedAdapters(app, world);
    await store.refresh();
    const requests = requestMix(world, sizes.requests);
    const route = async (r: BenchRequest) => {
      const p = await completions.prepare({ model: host.modelId, prompt: r.prompt, max_tokens: sizes.maxTokens, temperature: 0 }, principal, undefined);
      const out = await completions.run(p, new AbortController().signal);
      return { plan: out.lethe.routing, tokens: out.usage.completion_tokens, promptTokens: out.usage.prompt_tokens };
    };
    const options = { maxTokens: sizes.maxTokens, temperature: 0, topP: 1, stop: [] as string[] };
    const submit = async (job: HostJob) => (await host.submit(job)).completionTokens;
    const staticPlan = (plan: RoutingPlan) => plan.entries.filter((e) => e.applied).map((e) => ({ id: e.adapterId, version: e.version, strength: e.strength }));
    // Warm-up: every request once (plans, caches, JIT).
    const warm = [];
    for (const r of requests) warm.push(await route(r));
    const tokensOf = requests.map((r) => host.tokenizer!.encode(r.prompt));
    const lat = { base: [] as number[], static: [] as number[], routed: [] as number[] };
    const tok = { base: 0, static: 0, routed: 0 };
    // Interleaved, so drift in machine load hits the three ways alike.
    for (const [i, r] of (runs('ways') ? requests : []).entries()) {
      let t = performance.now();
      const nBase = await submit({ prompt: tokensOf[i], plan: [], options });
      tok.base += nBase;
      lat.base.push(performance.now() - t);
      t = performance.now();
      const nStatic = await submit({ prompt: tokensOf[i], plan: staticPlan(warm[i].plan), options });
      tok.static += nStatic;
      lat.static.push(performance.now() - t);
      t = performance.now();
      const nRouted = (await route(r)).tokens;
      tok.routed += nRouted;
      lat.routed.push(performance.now() - t);
    }
    const way = (k: 'base' | 'static' | 'routed'): WayStats => ({
      p50Ms: round(quantile(lat[k], 0.5)),
      p99Ms: round(quantile(lat[k], 0.99)),
      meanMs: round(lat[k].reduce((s, x) => s + x, 0) / lat[k].length),
      tokensPerSec: round((tok[k] / lat[k].reduce((s, x) => s + x, 0)) * 1000, 1),
    });
    const ways = { base: way('base'), static: way('static'), routed: way('routed') };
    const flopRatios = warm.map((w) =>
      planFlopRatio(
        model,
        w.plan.entries.filter((e) => e.applied).map((e) => adapterShapeFromTargets(model, store.adapter(e.adapterId)?.rank ?? 8, store.adapter(e.adapterId)?.targetModules ?? [])),
        w.promptTokens,
        w.tokens,
      ),
    );
    const applied = warm.map((w) => w.plan.entries.filter((e) => e.applied).length);
    notes.push(`applied adapters per request: mean ${round(applied.reduce((s, x) => s + x, 0) / applied.length, 2)}, max ${Math.max(...applied)}`);
    notes.push(`task adapter chosen by auto routing on ${warm.filter((w) => w.plan.entries.some((e) => e.adapterId === task.id && e.applied)).length}/${warm.length} requests`);
    log(`three ways: ${JSON.stringify(ways)}`);

    // --- cold and warm loads ------------------------------------------------------------------
    const fresh = await registerManyAdapters(app, 0, sizes.coldLoads);
    await store.refresh();
    const cold: number[] = [];
    const warmLoads: number[] = [];
    for (const a of runs('loads') ? fresh : []) {
      let t = performance.now();
      const lease = await store.cache.acquire(a.id, a.version); // Postgres read + sha256 check
      const lora = importPeftAdapter({ peft_type: 'LORA', r: a.rank, lora_alpha: a.alpha, target_modules: a.targetModules }, lease.value.weights, model);
      cold.push(performance.now() - t);
      disposeAdapter(lora);
      lease.release();
      t = performance.now();
      (await store.cache.acquire(a.id, a.version)).release();
      warmLoads.push(performance.now() - t);
    }

    // --- throughput by registered adapters ----------------------------------------------------
    const throughput: Record<string, number> = {};
    let registered = fresh;
    const round_ = (x: number) => round(x, 1);
    // JIT and kernel warm-up at batch size 8 before the first measured run.
    await Promise.all(Array.from({ length: 32 }, (_, i) => submit({ prompt: tokensOf[i % tokensOf.length], plan: [], options })));
    const counts = runs('throughput') ? [1, 10, 100, 1000] : [];
    if (counts.length > 0) {
      registered = registered.concat(await registerManyAdapters(app, registered.length, 1000));
      await store.refresh();
      // Steady state, S-LoRA's setting: every registered adapter resident (replica cache + worker tensors).
      for (const a of registered) (await store.cache.acquire(a.id, a.version)).release();
      await Promise.all(registered.map((a) => submit({ prompt: tokensOf[0], plan: [{ id: a.id, version: a.version, strength: 1 }], options: { ...options, maxTokens: 1 } })));
    }
    // Rounds over the counts, median per count: load drift on a shared machine hits every count alike.
    const perCount: Record<string, number[]> = {};
    for (let round = 0; round < sizes.throughputRounds; round++) {
      for (const n of counts) {
        const pool = registered.slice(0, n);
        const t = performance.now();
        let tokens = 0;
        await Promise.all(
          Array.from({ length: 16 }, async (_, w) => {
            for (let i = w; i < sizes.throughputRequests; i += 16) {
              const a = pool[i % n];
              // Not `tokens += await …`: that reads `tokens` before the await and loses concurrent updates.
              const got = await submit({ prompt: tokensOf[i % tokensOf.length], plan: [{ id: a.id, version: a.version, strength: 1 }], options });
              tokens += got;
            }
          }),
        );
        (perCount[String(n)] ??= []).push((tokens / (performance.now() - t)) * 1000);
        log(`throughput with ${n} adapters, round ${round + 1}: ${round_(perCount[String(n)].at(-1)!)} tokens/s`);
      }
    }
    for (const n of counts) throughput[String(n)] = round_(quantile(perCount[String(n)], 0.5));
    if (counts.length > 0) notes.push(`throughput: median of ${sizes.throughputRounds} interleaved rounds of ${sizes.throughputRequests} requests per count`);

    // --- memory over many routed requests -------------------------------------------------------
    const mem0 = (await host.memory())[0];
    const rss0 = process.memoryUsage().rss;
    let done = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; i < (runs('memory') ? sizes.memoryRequests : 0); i += 8) {
          const r = requests[i % requests.length];
          const p = await completions.prepare({ model: host.modelId, prompt: r.prompt, max_tokens: 2, temperature: 0 }, principal, undefined);
          await completions.run(p, new AbortController().signal);
          done++;
          if (done % 1000 === 0) log(`memory run: ${done}/${sizes.memoryRequests}`);
        }
      }),
    );
    const mem1 = (await host.memory())[0];
    const rss1 = process.memoryUsage().rss;

    // --- /healthz while an unlearning job trains --------------------------------------------------
    const healthz = !runs('healthz') ? NaN : await healthzDuringTraining(started.url!, adminKey, world.forgetGroups[0].slice(0, 20), sizes.trainSeconds, notes);

    const result: ServingBenchResult = {
      overhead: round((ways.routed.p50Ms - ways.base.p50Ms) / ways.base.p50Ms),
      routingOverhead: round((ways.routed.p50Ms - ways.static.p50Ms) / ways.base.p50Ms),
      planFlopRatio: round(flopRatios.reduce((s, x) => s + x, 0) / flopRatios.length),
      p50Ms: ways.routed.p50Ms,
      p99Ms: ways.routed.p99Ms,
      tokensPerSec: ways.routed.tokensPerSec,
      throughputByAdapters: { '1': throughput['1'], '10': throughput['10'], '100': throughput['100'], '1000': throughput['1000'] },
      coldLoadMs: round(quantile(cold, 0.5)),
      warmLoadMs: round(quantile(warmLoads, 0.5), 4),
      memory: { tensorsStart: mem0.tensors, tensorsEnd: mem1.tensors, rssStartMb: mb(rss0), rssEndMb: mb(rss1) },
      healthzP99MsDuringTraining: healthz,
    };
    return { result, ways, notes };
  } finally {
    await started.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Submits an unlearning request and probes /healthz every 10 ms while it trains; p99 in ms. */
async function healthzDuringTraining(url: string, adminKey: string, prompts: string[], seconds: number, notes: string[]): Promise<number> {
  const headers = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
  const res = await fetch(`${url}/v1/unlearning-requests`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'bench-forget', relabel: 'refusal', items: prompts.map((prompt) => ({ prompt, answer: 'unknown' })), options: { epochs: 2 } }),
  });
  const { id } = (await res.json()) as { id: string };
  const lat: number[] = [];
  const until = performance.now() + seconds * 1000;
  let status = 'queued';
  let lastCheck = 0;
  while (performance.now() < until) {
    const t = performance.now();
    await (await fetch(`${url}/healthz`)).arrayBuffer();
    lat.push(performance.now() - t);
    if (t - lastCheck > 500) {
      lastCheck = t;
      status = ((await (await fetch(`${url}/v1/unlearning-requests/${id}`, { headers })).json()) as { status: string }).status;
      if (['active', 'failed', 'revoked'].includes(status)) break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  notes.push(`/healthz probed ${lat.length} times while the unlearning request was ${status} at the end`);
  return round(quantile(lat, 0.99));
}

/** The serving section of docs/benchmarks.md. */
export function servingMarkdown(
  r: ServingBenchResult,
  ways: Record<string, WayStats>,
  notes: string[],
  quick: boolean,
  noWindow?: Record<string, WayStats>,
  merging?: { ways: Record<string, WayStats>; throughput: ServingBenchResult['throughputByAdapters'] },
): string {
  const ok = (b: boolean) => (b ? 'met' : '**not met**');
  const waysTable = (w: Record<string, WayStats>) => [
    '| way | p50 ms | p99 ms | mean ms | tokens/s |',
    '|---|---|---|---|---|',
    ...(['base', 'static', 'routed'] as const).map((k) => `| ${k} | ${w[k].p50Ms} | ${w[k].p99Ms} | ${w[k].meanMs} | ${w[k].tokensPerSec} |`),
  ];
  const ratios = (w: Record<string, WayStats>) =>
    `routingOverhead ${round((w.routed.p50Ms - w.static.p50Ms) / w.base.p50Ms)}, overhead ${round((w.routed.p50Ms - w.base.p50Ms) / w.base.p50Ms)}`;
  return [
    `Measured by \`npm run bench:serving${quick ? ' -- --quick' : ''}\` on this machine (2 cores, WASM backend, 1 inference worker thread).`,
    '',
    `Three ways, the service's default micro-batching window (LETHE_BATCH_WINDOW_MS ${DEFAULT_WINDOW_MS} ms):`,
    '',
    ...waysTable(ways),
    '',
    ...(noWindow
      ? [
          `The same requests on a second service with LETHE_BATCH_WINDOW_MS=0 (a request is dispatched at once, so routing cannot overlap the wait for company): ${ratios(noWindow)}.`,
          '',
          ...waysTable(noWindow),
          '',
        ]
      : []),
    '| metric | value | target |',
    '|---|---|---|',
    `| routingOverhead (routed − static) / base, p50 | ${r.routingOverhead} | ≤ 0.10: ${ok(r.routingOverhead <= 0.1)} |`,
    `| overhead (routed − base) / base, p50 | ${r.overhead} | ≤ planFlopRatio + 0.10 = ${round(r.planFlopRatio + 0.1)}: ${ok(r.overhead <= r.planFlopRatio + 0.1)} |`,
    `| planFlopRatio (mean over requests) | ${r.planFlopRatio} | |`,
    ...(['1', '10', '100', '1000'] as const).map((n) => `| throughput, ${n} registered adapters (tokens/s) | ${r.throughputByAdapters[n]} | ${n === '1000' ? `≥ 0.9 × at 1: ${ok(r.throughputByAdapters['1000'] >= 0.9 * r.throughputByAdapters['1'])}` : ''} |`),
    `| cold adapter load (Postgres + sha256 + tensors), p50 ms | ${r.coldLoadMs} | ≤ 20: ${ok(r.coldLoadMs <= 20)} |`,
    `| warm adapter load (cache hit), p50 ms | ${r.warmLoadMs} | |`,
    `| engine tensors start → end | ${r.memory.tensorsStart} → ${r.memory.tensorsEnd} | flat: ${ok(r.memory.tensorsEnd <= r.memory.tensorsStart)} |`,
    `| RSS start → end (MB) | ${r.memory.rssStartMb} → ${r.memory.rssEndMb} | flat |`,
    `| /healthz p99 during unlearning training (ms) | ${r.healthzP99MsDuringTraining} | ≤ 50: ${ok(r.healthzP99MsDuringTraining <= 50)} |`,
    '',
    ...(merging
      ? [
          `A third service with LETHE_MERGE_HOT_PLANS=true (plans shared by a whole batch merged into the weights from their second use): ` +
            `${ratios(merging.ways)}; throughput ` +
            (['1', '10', '100', '1000'] as const).map((n) => `${n}: ${merging.throughput[n]}`).join(', ') +
            ` tokens/s (1,000 / 1 = ${round(merging.throughput['1000'] / merging.throughput['1'], 2)}).`,
          '',
          ...waysTable(merging.ways),
          '',
        ]
      : []),
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
}

const isEntry = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isEntry) {
  const { values: args } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'model-dir': { type: 'string', default: 'models/demo' },
      out: { type: 'string', default: 'bench-results/serving.json' },
      docs: { type: 'string', default: 'docs/benchmarks.md' },
      only: { type: 'string' },
    },
  });
  const only = args.only?.split(',') as BenchPart[] | undefined;
  const { result, ways, notes } = await runServingBench({ quick: args.quick!, modelDir: resolve(args['model-dir']!), log: (l) => console.log(l), only });
  // The three ways again without the batching window: what routing costs when it cannot hide there.
  const noWindow = only ? undefined : (await runServingBench({ quick: args.quick!, modelDir: resolve(args['model-dir']!), log: (l) => console.log(l), only: ['ways'], batchWindowMs: 0 })).ways;
  // The three ways and throughput again with hot-plan merging (opt-in): what it changes.
  const merged = only
    ? undefined
    : await runServingBench({ quick: args.quick!, modelDir: resolve(args['model-dir']!), log: (l) => console.log(l), only: ['ways', 'throughput'], mergeHotPlans: true });
  const merging = merged && { ways: merged.ways, throughput: merged.result.throughputByAdapters };
  if (only) {
    // A partial run (profiling) prints its numbers and writes nothing.
    console.log(JSON.stringify({ result, ways, notes }, null, 2));
    process.exit(0);
  }
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(args.out!, `${JSON.stringify(result, null, 2)}\n`);
  writeDocsSection(args.docs!, 'serving', `## Serving (issue 5)\n\n${servingMarkdown(result, ways, notes, args.quick!, noWindow, merging)}\n`);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}

/** Replaces (or appends) `<!-- section:NAME -->...<!-- /section:NAME -->` in a markdown file. */
export function writeDocsSection(path: string, name: string, body: string): void {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    text = '# Benchmarks\n';
  }
  const open = `<!-- section:${name} -->`;
  const close = `<!-- /section:${name} -->`;
  const block = `${open}\n${body}${close}`;
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  text = start >= 0 && end > start ? text.slice(0, start) + block + text.slice(end + close.length) : `${text.trimEnd()}\n\n${block}\n`;
  mkdirSync(resolve(path, '..'), { recursive: true });
  writeFileSync(path, text);
}
