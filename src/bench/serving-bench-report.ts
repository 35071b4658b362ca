/** JSON keys, latency-vs-load SVG and docs/benchmarks.md section of bench:serving (issue 13). */
import { round, type LoadStats } from './serving-load.js';
import { WAYS, type OpenPoint, type ServingRun, type WayStats } from './serving-bench-run.js';

/** bench-results/serving.json. Issue 5's keys keep their meaning (now measured over HTTP); issue 13's added. */
export interface ServingBenchResult {
  /** (routed − base) / base, p50 end to end, 1 client, default window. */
  overhead: number;
  /** (routed − static) / base, p50 end to end, 1 client, default window. */
  routingOverhead: number;
  /** The same at 1 client with LETHE_BATCH_WINDOW_MS=0. */
  routingOverheadWindow0: number;
  /** The same at 16 clients, default window. */
  routingOverheadC16: number;
  planFlopRatio: number;
  /** Routed way, 1 client, default window: end to end. */
  p50Ms: number;
  p99Ms: number;
  tokensPerSec: number;
  /** Routed way at 16 clients, default window: time to first token. */
  p50TtftC16Ms: number;
  p99TtftC16Ms: number;
  ttftRatioC16: number;
  /** tokens/s at 16 clients, requests naming an adapter drawn Zipf(1) over n registered ones, cache below the working set. */
  throughputByAdapters: { '1': number; '10': number; '100': number; '1000': number };
  zipfThroughputRatio: number;
  /** Adapter loads from Postgres (read + sha256) during the timed Zipf requests. */
  coldLoadMs: number;
  coldLoadP99Ms: number;
  warmLoadMs: number;
  cacheHitRate: number;
  memory: { tensorsStart: number; tensorsEnd: number; rssStartMb: number; rssEndMb: number };
  healthzP99MsDuringTraining: number;
  load: {
    closed: ServingRun['closed'];
    open: ServingRun['open'];
    zipf: Omit<ServingRun['zipf'], 'stats'> & { stats: Record<string, LoadStats> };
  };
}

const ratio = (a: number, b: number, base: number) => round((a - b) / base);

export function servingResult(r: ServingRun): ServingBenchResult {
  const c1 = r.closed['5']?.['1'];
  const c16 = r.closed['5']?.['16'];
  const w0 = r.closed['0']?.['1'];
  const z = r.zipf;
  const N = String(z.adapters);
  return {
    overhead: c1 ? ratio(c1.routed.p50E2eMs, c1.base.p50E2eMs, c1.base.p50E2eMs) : NaN,
    routingOverhead: c1 ? ratio(c1.routed.p50E2eMs, c1.static.p50E2eMs, c1.base.p50E2eMs) : NaN,
    routingOverheadWindow0: w0 ? ratio(w0.routed.p50E2eMs, w0.static.p50E2eMs, w0.base.p50E2eMs) : NaN,
    routingOverheadC16: c16 ? ratio(c16.routed.p50E2eMs, c16.static.p50E2eMs, c16.base.p50E2eMs) : NaN,
    planFlopRatio: r.planFlopRatio,
    p50Ms: c1?.routed.p50E2eMs ?? NaN,
    p99Ms: c1?.routed.p99E2eMs ?? NaN,
    tokensPerSec: c1?.routed.tokensPerSec ?? NaN,
    p50TtftC16Ms: c16?.routed.p50TtftMs ?? NaN,
    p99TtftC16Ms: c16?.routed.p99TtftMs ?? NaN,
    ttftRatioC16: c16 ? round(c16.routed.p99TtftMs / c16.routed.p50TtftMs, 2) : NaN,
    throughputByAdapters: { '1': z.throughput['1'] ?? NaN, '10': z.throughput['10'] ?? NaN, '100': z.throughput['100'] ?? NaN, '1000': z.throughput[N] ?? NaN },
    zipfThroughputRatio: round((z.throughput[N] ?? NaN) / (z.throughput['1'] ?? NaN)),
    coldLoadMs: z.coldLoadP50Ms,
    coldLoadP99Ms: z.coldLoadP99Ms,
    warmLoadMs: r.warmLoadMs,
    cacheHitRate: z.cacheHitRate,
    memory: { tensorsStart: r.memory.tensorsStart, tensorsEnd: r.memory.tensorsEnd, rssStartMb: r.memory.rssStartMb, rssEndMb: r.memory.rssEndMb },
    healthzP99MsDuringTraining: r.healthzP99MsDuringTraining,
    load: { closed: r.closed, open: r.open, zipf: z },
  };
}

const COLORS: Record<string, string> = { base: '#7f7f7f', static: '#1f77b4', routed: '#d62728', 'zipf-1': '#2ca02c' };
const color = (s: string) => COLORS[s] ?? '#9467bd';

/** Two panels (p50 and p99 time to first token against the offered rate, log scale), one line per series. */
export function loadPlotSvg(open: Record<string, OpenPoint[]>): string {
  const series = Object.keys(open).filter((s) => open[s].length > 0);
  const all = series.flatMap((s) => open[s]);
  const W = 380;
  const H = 240;
  const pad = { l: 50, r: 12, t: 28, b: 36 };
  const xMax = Math.max(...all.map((p) => p.rate)) * 1.05;
  const values = all.flatMap((p) => [p.p50TtftMs, p.p99TtftMs]).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  const panel = (key: 'p50TtftMs' | 'p99TtftMs', title: string, x0: number): string => {
    const sx = (x: number) => x0 + pad.l + (x / xMax) * (W - pad.l - pad.r);
    const sy = (v: number) => pad.t + (1 - (Math.log10(v) - lo) / Math.max(1, hi - lo)) * (H - pad.t - pad.b);
    let grid = '';
    for (let e = lo; e <= hi; e++) {
      grid += `<line x1="${x0 + pad.l}" x2="${x0 + W - pad.r}" y1="${sy(10 ** e)}" y2="${sy(10 ** e)}" stroke="#ddd"/><text x="${x0 + pad.l - 6}" y="${sy(10 ** e) + 4}" text-anchor="end" font-size="10">${10 ** e} ms</text>`;
    }
    const ticks = [0, 0.25, 0.5, 0.75, 1]
      .map((f) => f * xMax)
      .map((x) => `<text x="${sx(x)}" y="${H - pad.b + 14}" text-anchor="middle" font-size="10">${Math.round(x)}</text>`)
      .join('');
    const lines = series
      .map((s) => {
        const pts = open[s].filter((p) => Number.isFinite(p[key]) && p[key] > 0).map((p) => `${sx(p.rate).toFixed(1)},${sy(p[key]).toFixed(1)}`);
        const dash = s.startsWith('zipf') ? ' stroke-dasharray="5 3"' : '';
        return `<polyline fill="none" stroke="${color(s)}" stroke-width="2"${dash} points="${pts.join(' ')}"/>`;
      })
      .join('');
    return `<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-size="12" font-weight="bold">${title}</text>${grid}${ticks}<text x="${x0 + W / 2}" y="${H - 4}" text-anchor="middle" font-size="10">offered load (requests/s, Poisson arrivals)</text>${lines}`;
  };
  const legend = series
    .map((s, i) => `<rect x="${10 + i * 110}" y="${H + 6}" width="12" height="4" fill="${color(s)}"/><text x="${26 + i * 110}" y="${H + 12}" font-size="10">${s}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 24}" font-family="sans-serif">${panel('p50TtftMs', 'p50 time to first token', 0)}${panel('p99TtftMs', 'p99 time to first token', W)}${legend}</svg>\n`;
}

const ok = (b: boolean) => (b ? 'met' : '**not met**');

function waysTable(w: Record<string, WayStats>): string[] {
  const rows: string[] = ['| clients | way | TTFT p50 / p99 ms | end to end p50 / p99 ms | tokens/s | 429 |', '|---|---|---|---|---|---|'];
  for (const [clients, ways] of Object.entries(w)) {
    for (const way of WAYS) {
      const s = ways[way];
      rows.push(`| ${clients} | ${way} | ${s.p50TtftMs} / ${s.p99TtftMs} | ${s.p50E2eMs} / ${s.p99E2eMs} | ${s.tokensPerSec} | ${s.rejected} |`);
    }
  }
  return rows;
}

/** The serving section of docs/benchmarks.md. */
export function servingMarkdown(r: ServingBenchResult, run: ServingRun, meta: { command: string; date: string; uptime: string; svgPath: string; defaultWindowMs: number }): string {
  const z = run.zipf;
  const N = String(z.adapters);
  const overheadAt = (w: string, c: string) => {
    const s = run.closed[w]?.[c];
    return s ? `${ratio(s.routed.p50E2eMs, s.static.p50E2eMs, s.base.p50E2eMs)}` : 'n/a';
  };
  const ttftOverheadAt = (w: string, c: string) => {
    const s = run.closed[w]?.[c];
    return s ? `${ratio(s.routed.p50TtftMs, s.static.p50TtftMs, s.base.p50TtftMs)}` : 'n/a';
  };
  const series = Object.keys(run.open);
  return [
    `Measured by \`${meta.command}\` on ${meta.date} (2 cores shared with other work; load at the start: ${meta.uptime}). Every number below comes from one run;`,
    `requests go over HTTP (keep-alive, streaming) from a load-generator thread to services booted with the defaults (${run.workers} inference worker thread(s), routing decisions recorded at the default rate, written off the request path).`,
    'The three ways are three services side by side: **base** (no adapter registered), **static** (the adapters the routed plans applied, registered as task adapters and named in each request with the plan\'s strengths: the plan without routing), **routed** (5 unlearning adapters made by the unlearning pipeline over HTTP with their detectors, 1 task adapter reached by auto routing).',
    '',
    '| metric | value | target |',
    '|---|---|---|',
    `| routingOverhead, 1 client, window ${meta.defaultWindowMs} ms: (routed − static) / base, p50 end to end | ${r.routingOverhead} | ≤ 0.10: ${ok(r.routingOverhead <= 0.1)} |`,
    `| routingOverheadWindow0, 1 client, LETHE_BATCH_WINDOW_MS=0 | ${r.routingOverheadWindow0} | ≤ 0.10: ${ok(r.routingOverheadWindow0 <= 0.1)} |`,
    `| routingOverheadC16, 16 clients, default window | ${r.routingOverheadC16} | ≤ 0.10: ${ok(r.routingOverheadC16 <= 0.1)} |`,
    `| routing overhead at 4 clients (window ${meta.defaultWindowMs} / 0), 16 clients window 0 | ${overheadAt('5', '4')} / ${overheadAt('0', '4')}, ${overheadAt('0', '16')} | |`,
    `| the same on time to first token, (routed − static) / base TTFT p50: 1 client window ${meta.defaultWindowMs} / 0, 16 clients window ${meta.defaultWindowMs} / 0 | ${ttftOverheadAt('5', '1')} / ${ttftOverheadAt('0', '1')}, ${ttftOverheadAt('5', '16')} / ${ttftOverheadAt('0', '16')} | |`,
    `| overhead (routed − base) / base, 1 client | ${r.overhead} | ≤ planFlopRatio + 0.10 = ${round(r.planFlopRatio + 0.1)}: ${ok(r.overhead <= r.planFlopRatio + 0.1)} |`,
    `| TTFT p99 / p50 at 16 clients (routed) | ${r.p99TtftC16Ms} / ${r.p50TtftC16Ms} ms = ${r.ttftRatioC16} | ≤ 3: ${ok(r.ttftRatioC16 <= 3)} |`,
    `| zipfThroughputRatio: Zipf(1) over ${N} adapters / 1 adapter, 16 clients | ${r.zipfThroughputRatio} | ≥ 0.90: ${ok(r.zipfThroughputRatio >= 0.9)} |`,
    `| throughput by adapters drawn from (tokens/s): 1 / 10 / 100 / ${N} | ${r.throughputByAdapters['1']} / ${r.throughputByAdapters['10']} / ${r.throughputByAdapters['100']} / ${r.throughputByAdapters['1000']} | |`,
    `| cold adapter load during the Zipf run (Postgres read + sha256), p50 / p99 ms | ${r.coldLoadMs} / ${r.coldLoadP99Ms} (${z.coldLoads} loads) | p99 ≤ 20: ${ok(r.coldLoadP99Ms <= 20)} |`,
    `| adapter cache: ${z.cacheMb} MiB = ${z.cacheAdapters} adapters; working set ${z.workingSet} adapters; hit rate | ${r.cacheHitRate} | cache < working set: ${ok(z.cacheAdapters < z.workingSet)} |`,
    `| warm adapter load (cache hit), ms | ${r.warmLoadMs} | |`,
    `| engine tensors over ${run.memory.requests} routed requests | ${r.memory.tensorsStart} → ${r.memory.tensorsEnd} | flat: ${ok(r.memory.tensorsEnd <= r.memory.tensorsStart)} |`,
    `| RSS of the bench process (3 services + load thread), MB | ${r.memory.rssStartMb} → ${r.memory.rssEndMb} | |`,
    `| /healthz p99 while an unlearning request trains, ms | ${r.healthzP99MsDuringTraining} | ≤ 50: ${ok(r.healthzP99MsDuringTraining <= 50)} |`,
    '',
    `![p50 and p99 time to first token against offered load](${meta.svgPath})`,
    '',
    `Closed loop, default window (${meta.defaultWindowMs} ms):`,
    '',
    ...waysTable(run.closed['5'] ?? {}),
    '',
    ...(run.closed['0'] ? ['Closed loop, LETHE_BATCH_WINDOW_MS=0:', '', ...waysTable(run.closed['0']), ''] : []),
    'Open loop (Poisson arrivals; each cell: offered rate req/s: p50 / p99 TTFT ms, 429s; the Zipf series run at fractions of their own 16-client throughput):',
    '',
    `| load | ${series.join(' | ')} |`,
    `|---|${series.map(() => '---').join('|')}|`,
    ...(run.open[series[0]] ?? []).map(
      (_, i) =>
        `| ${i + 1} | ${series
          .map((s) => run.open[s][i])
          .map((pt) => (pt ? `${pt.rate}: ${pt.p50TtftMs} / ${pt.p99TtftMs}${pt.rejected ? `, ${pt.rejected} x 429` : ''}` : ''))
          .join(' | ')} |`,
    ),
    '',
    ...run.notes.map((n) => `- ${n}`),
  ].join('\n');
}
