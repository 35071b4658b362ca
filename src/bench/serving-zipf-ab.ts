/**
 * A/B of the many-adapter (Zipf) workload of bench:serving, issue 13 (development tool; writes
 * nothing but its template state under scratch/):
 *
 *   npx tsx src/bench/serving-zipf-ab.ts <rounds> <label>=<ENV:VALUE,ENV:VALUE> [<label>=...]
 *   e.g. npx tsx src/bench/serving-zipf-ab.ts 8 off=LETHE_ADAPTER_PREFETCH:false on=LETHE_ADAPTER_PREFETCH:true
 *
 * One service per variant, all in this process, each booted with its variables set in
 * process.env and in its config (switches read when a service is made: LETHE_ADAPTER_PREFETCH in ModelHost,
 * LETHE_ROW_LORA in the engines' workers), on copies of one state with 1,000 registered task
 * adapters and the bench's 16 MB adapter cache. Each round runs, for every variant in turn (the
 * order reversed every other round), a block of AB_BLOCK (default 128) requests at 16 clients
 * naming one adapter (n = 1) and a block drawing Zipf(1) over 1,000 (n = 1000): the ratio of the
 * two is measured minutes apart at most, so the machine's load drifts less between them than
 * between separate runs.
 */
import { cpSync, existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AdapterStore } from '../modules/inference/adapter-store.service.js';
import { ModelHost } from '../modules/inference/model-host.service.js';
import { parseAbArgs, withEnv } from './ab-variants.js';
import type { LoadRecord, LoadRequest } from './serving-http-client.js';
import { LoadGenerator, loadStats, quantile, round } from './serving-load.js';
import { copyState, registerTaskAdapters, routedState, startService, type BenchService } from './serving-services.js';
import { loadServingWorld, zipfWorkload } from './serving-workload.js';

const N = 1000;
const modelDir = resolve('models/demo');
const { rounds, variants } = parseAbArgs(process.argv.slice(2), 'serving-zipf-ab.ts');
const block = Number(process.env.AB_BLOCK ?? 128);

const world = loadServingWorld(modelDir);
const state = await routedState({ modelDir, forget: world.forget, taskPrompts: world.task.slice(0, 32), quick: false, log: console.log });
// The routed state plus 1,000 task adapters, registered once (about a minute) and kept.
const template = resolve('scratch/zipf-ab-state');
if (!existsSync(template)) {
  const dir = copyState(state.dir);
  const svc = await startService({ modelDir, dataDir: dir, adminKey: state.adminKey });
  await registerTaskAdapters(
    svc.app,
    Array.from({ length: N }, (_, k) => `zipf-${k}`),
    1000,
  );
  await svc.close();
  cpSync(dir, template, { recursive: true });
  rmSync(dir, { recursive: true, force: true });
}

const loader = LoadGenerator.start();
const services: Array<{ label: string; svc: BenchService; dir: string }> = [];
for (const v of variants) {
  const dir = copyState(template);
  services.push({ label: v.label, svc: await withEnv(v.env, () => startService({ modelDir, dataDir: dir, adminKey: state.adminKey, env: { LETHE_ADAPTER_CACHE_MB: '16', ...v.env } })), dir });
}
const model = services[0].svc.app.get(ModelHost).modelId;
const requests = (svc: BenchService, n: number, seed: number, len: number) =>
  zipfWorkload(world, len, n, seed).map(
    (w): LoadRequest => ({ url: svc.url, key: svc.clientKey, tag: String(n), body: { model: `${model}:zipf-${w.adapter}`, prompt: w.prompt, max_tokens: w.maxTokens, temperature: 0 } }),
  );
for (const { svc } of services) {
  await svc.app.get(AdapterStore).refresh();
  await loader.run({ kind: 'closed', blocks: [{ clients: 16, requests: requests(svc, 1, 1, 32) }] }); // warm-up
}

interface Acc {
  records: LoadRecord[];
  wallMs: number;
  cold: number[];
  hits: number;
  misses: number;
  perRound: number[];
  /** Main-thread event-loop utilisation per block (0-1): how busy the thread serving HTTP was. */
  elu: number[];
}
const acc = new Map<string, Acc>();
for (let r = 0; r < rounds; r++) {
  for (const { label, svc } of r % 2 === 0 ? services : [...services].reverse()) {
    const store = svc.app.get(AdapterStore);
    const tps: Record<number, number> = {};
    for (const n of r % 2 === 0 ? [1, N] : [N, 1]) {
      const s0 = store.cache.stats();
      const elu0 = performance.eventLoopUtilization();
      const res = await loader.run({ kind: 'closed', blocks: [{ clients: 16, requests: requests(svc, n, 7 + r, block) }] });
      const s1 = store.cache.stats();
      const elu = performance.eventLoopUtilization(elu0).utilization;
      const a = acc.get(`${label}/${n}`) ?? { records: [], wallMs: 0, cold: [], hits: 0, misses: 0, perRound: [], elu: [] };
      acc.set(`${label}/${n}`, a);
      a.records.push(...res.records);
      a.wallMs += res.blockWallMs[0];
      a.hits += s1.hits - s0.hits;
      a.misses += s1.misses - s0.misses;
      const loads = s1.loads - s0.loads;
      if (loads > 0) a.cold.push(...store.loadTimesMs.slice(-Math.min(loads, store.loadTimesMs.length)));
      tps[n] = loadStats(res.records, res.blockWallMs[0]).tokensPerSec;
      a.perRound.push(tps[n]);
      a.elu.push(elu);
    }
    console.log(`round ${r} ${label}: 1 → ${tps[1]}, ${N} → ${tps[N]} tokens/s, ratio ${round(tps[N] / tps[1])}`);
  }
}
for (const { label } of services) {
  const one = acc.get(`${label}/1`)!;
  const many = acc.get(`${label}/${N}`)!;
  const t1 = loadStats(one.records, one.wallMs).tokensPerSec;
  const tN = loadStats(many.records, many.wallMs).tokensPerSec;
  const ratios = one.perRound.map((x, i) => many.perRound[i] / x);
  console.log(
    `${label}: 1 → ${t1}, ${N} → ${tN} tokens/s, ratio ${round(tN / t1)} (per-round median ${round(quantile(ratios, 0.5))}); ` +
      `cold load p50 ${round(quantile(many.cold, 0.5), 1)} p99 ${round(quantile(many.cold, 0.99), 1)} ms (${many.cold.length}); hit rate ${round(many.hits / Math.max(1, many.hits + many.misses))}; ` +
      `main-thread busy (median per block) ${round(quantile(one.elu, 0.5))} at 1 adapter, ${round(quantile(many.elu, 0.5))} at ${N}`,
  );
}
await loader.close();
for (const { svc, dir } of services) {
  await svc.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
