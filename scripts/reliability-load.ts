/**
 * bench:reliability section `load`: autocannon against the service booted as a child process
 * (demo model, embedded PGlite, default settings), 32 connections for 60 s (`--seconds`):
 * completions with automatic routing, a fifth of them about the author an active unlearning
 * request forgets (the router should apply its adapter) and the rest utility questions, while a
 * few unlearning requests are submitted alongside (one every quarter of the run, each a new
 * training job). Reports p50/p99 latency, the error rate (non-2xx except 429, plus socket errors
 * and timeouts) with 429s counted apart, how many completions applied the unlearning adapter, and
 * whether the audit chain verifies afterwards. Met: error rate 0 and a valid chain.
 */
import { createRequire } from 'node:module';
import { call, demoAuthorItems, demoUtilityPrompts, FINAL_STATUSES, round, serviceHome, sleep, waitForRequest } from './reliability-support.js';

/** The part of autocannon's API used here (the package ships no types). */
interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  onResponse?: (status: number, body: string) => void;
}
interface AutocannonResult {
  requests: { total: number };
  latency: { p50: number; p99: number; p97_5: number; mean: number; max: number };
  statusCodeStats: Record<string, { count: number }>;
  errors: number;
  timeouts: number;
  duration: number;
}
type Autocannon = (opts: { url: string; connections: number; duration: number; timeout: number; requests: AutocannonRequest[] }) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadResult {
  seconds: number;
  connections: number;
  completions: {
    requests: number;
    p50Ms: number;
    p97_5Ms: number;
    p99Ms: number;
    maxMs: number;
    requestsPerSecond: number;
    byStatus: Record<string, number>;
    errors: number;
    timeouts: number;
    throttled429: number;
    errorRate: number;
    forgetPromptShare: number;
    unlearningAdapterApplied: number;
  };
  submissions: { sent: number; accepted: number; latencyMs: number[]; statuses: Record<string, number> };
  audit: { valid: boolean; events: number };
  met: boolean;
}

export async function loadSection(seconds: number, log: (line: string) => void = console.log): Promise<{ result: LoadResult; met: boolean }> {
  const connections = 32;
  const home = serviceHome({ LETHE_JOBS_POLL_SECONDS: '0.5' });
  const svc = await home.start();
  try {
    const mk = async (role: string) => (await call(svc.url, home.adminKey, 'POST', '/v1/admin/api-keys', { name: `load-${role}`, role })).body.key as string;
    const operator = await mk('operator');
    const client = await mk('client');
    const model = ((await call(svc.url, client, 'GET', '/v1/models')).body.data?.[0]?.id as string | undefined) ?? 'demo';

    // One active unlearning request first, so auto routing has an adapter to apply.
    const forget = demoAuthorItems(0);
    const first = await call(svc.url, operator, 'POST', '/v1/unlearning-requests', { name: 'load-forget', items: forget, relabel: 'refusal' });
    let req = await waitForRequest(svc.url, operator, first.body.id, (r) => FINAL_STATUSES.has(r.status), 300_000, 250);
    if (req.status === 'needs_review') {
      req = (await call(svc.url, home.adminKey, 'POST', `/v1/unlearning-requests/${req.id}/activate`, { reason: 'bench:reliability load needs an active adapter' })).body;
    }
    if (req.status !== 'active') throw new Error(`the load's unlearning request ended ${req.status}: ${req.error ?? ''}`);
    const adapterId = req.adapterId as string;
    log(`load: unlearning adapter ${adapterId} active; ${connections} connections for ${seconds} s`);

    // 1 in 5 requests asks about the forgotten author (all three phrasings), the rest are utility questions.
    const hits = demoAuthorItems(0, false).map((i) => i.prompt);
    const misses = demoUtilityPrompts(hits.length * 4);
    const prompts = misses.flatMap((p, k) => (k % 4 === 3 ? [p, hits[Math.floor(k / 4) % hits.length]] : [p]));
    let applied = 0;
    const requests: AutocannonRequest[] = prompts.map((prompt) => ({
      method: 'POST',
      path: '/v1/completions',
      headers: { authorization: `Bearer ${client}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt, max_tokens: 8, temperature: 0, lethe: { routing: 'auto' } }),
      onResponse: (status, body) => {
        if (status !== 200) return;
        try {
          const entries = (JSON.parse(body) as { lethe?: { routing?: { entries?: { adapterId: string; applied: boolean }[] } } }).lethe?.routing?.entries ?? [];
          if (entries.some((e) => e.adapterId === adapterId && e.applied)) applied++;
        } catch {
          /* counted by status */
        }
      },
    }));

    // A few unlearning submissions alongside: one every quarter of the run, other authors each.
    const submissions: LoadResult['submissions'] = { sent: 0, accepted: 0, latencyMs: [], statuses: {} };
    const submitting = (async () => {
      for (let k = 1; k <= 4; k++) {
        await sleep((seconds * 1000) / 5);
        const t0 = performance.now();
        const r = await call(svc.url, operator, 'POST', '/v1/unlearning-requests', { name: `load-${k}`, items: demoAuthorItems(k), relabel: 'refusal' });
        submissions.latencyMs.push(round(performance.now() - t0));
        submissions.sent++;
        submissions.statuses[r.status] = (submissions.statuses[r.status] ?? 0) + 1;
        if (r.status === 202) submissions.accepted++;
      }
    })();
    const out = await autocannon({ url: svc.url, connections, duration: seconds, timeout: 60, requests });
    await submitting;

    const byStatus = Object.fromEntries(Object.entries(out.statusCodeStats).map(([code, s]) => [code, s.count]));
    const total = out.requests.total;
    const throttled429 = byStatus['429'] ?? 0;
    const bad = Object.entries(byStatus).reduce((n, [code, c]) => n + (code.startsWith('2') || code === '429' ? 0 : c), 0) + out.errors + out.timeouts;
    const errorRate = total + out.errors + out.timeouts > 0 ? bad / (total + out.errors + out.timeouts) : 0;
    const verify = (await call(svc.url, home.adminKey, 'GET', '/v1/admin/audit/verify')).body as { valid: boolean; events: number };
    const met = errorRate === 0 && verify.valid === true && total > 0;
    const result: LoadResult = {
      seconds,
      connections,
      completions: {
        requests: total,
        p50Ms: out.latency.p50,
        p97_5Ms: out.latency.p97_5,
        p99Ms: out.latency.p99,
        maxMs: out.latency.max,
        requestsPerSecond: round(total / out.duration, 1),
        byStatus,
        errors: out.errors,
        timeouts: out.timeouts,
        throttled429,
        errorRate: round(errorRate, 5),
        forgetPromptShare: round(prompts.filter((p) => hits.includes(p)).length / prompts.length, 3),
        unlearningAdapterApplied: applied,
      },
      submissions,
      audit: { valid: verify.valid, events: verify.events },
      met,
    };
    const c = result.completions;
    log(`\n## load (${connections} connections, ${seconds} s, completions with auto routing + ${submissions.sent} unlearning submissions)\n`);
    log('| requests | req/s | p50 | p97.5 | p99 | max | error rate | 429 | adapter applied | audit chain |');
    log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    log(
      `| ${c.requests} | ${c.requestsPerSecond} | ${c.p50Ms} ms | ${c.p97_5Ms} ms | ${c.p99Ms} ms | ${c.maxMs} ms | ${(c.errorRate * 100).toFixed(2)} % | ${c.throttled429} | ${c.unlearningAdapterApplied} | ${verify.valid ? 'valid' : 'BROKEN'} (${verify.events} events) |`,
    );
    log(`\nsubmissions: ${submissions.accepted}/${submissions.sent} accepted, latency ${submissions.latencyMs.join(', ')} ms`);
    log(`load: ${met ? 'met' : 'NOT met'} (error rate 0, audit chain valid)`);
    return { result, met };
  } finally {
    await svc.stop().catch(() => undefined);
    home.dispose();
  }
}
