/**
 * Load modes of bench:serving (issue 13), driven from a worker thread over HTTP: closed loop (N
 * clients, each sends its next request when the last one ended) and open loop (Poisson arrivals
 * at a fixed rate, whatever the service is doing). Also the seeded draws the workloads use
 * (exponential gaps, Zipf ranks) and the per-series summary (TTFT and end-to-end quantiles,
 * tokens/s, 429s).
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { LoadRecord, LoadRequest } from './serving-http-client.js';

/** Closed loop: blocks run one after the other; within a block `clients` clients share its requests. */
export interface ClosedPlan {
  kind: 'closed';
  blocks: Array<{ clients: number; requests: LoadRequest[] }>;
}

/** Open loop: request i is sent at arrivalsMs[i] after the start. */
export interface OpenPlan {
  kind: 'open';
  requests: LoadRequest[];
  arrivalsMs: number[];
}

export type LoadPlan = ClosedPlan | OpenPlan;

export interface LoadResult {
  records: LoadRecord[];
  /** Wall time of each block (closed) or of the whole run (open). */
  blockWallMs: number[];
  error?: string;
}

/** One series' numbers. Quantiles over answered requests (status 200); NaN when none. */
export interface LoadStats {
  requests: number;
  ok: number;
  /** 429 answers (queue full). */
  rejected: number;
  /** Other failures (status ≠ 200/429, broken connections, mid-stream errors). */
  errors: number;
  p50TtftMs: number;
  p99TtftMs: number;
  p50E2eMs: number;
  p99E2eMs: number;
  tokensPerSec: number;
  /** Answered requests per second of wall time. */
  requestsPerSec: number;
}

/** The load generator: one worker thread, one plan at a time. */
export class LoadGenerator {
  private constructor(private readonly worker: Worker) {}

  static start(): LoadGenerator {
    const entry = new URL('./serving-load-worker.ts', import.meta.url);
    const boot = fileURLToPath(new URL('../serving/worker-boot.mjs', import.meta.url));
    return new LoadGenerator(new Worker(boot, { workerData: { entry: entry.href } }));
  }

  run(plan: LoadPlan): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onMessage = (r: LoadResult) => {
        cleanup();
        if (r.error) reject(new Error(`load worker: ${r.error}`));
        else resolve(r);
      };
      const onError = (e: Error) => {
        cleanup();
        reject(e);
      };
      const cleanup = () => {
        this.worker.off('message', onMessage);
        this.worker.off('error', onError);
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', onError);
      this.worker.postMessage(plan);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

export const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

export const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

/** Summary of `records` (one series) over `wallMs` of wall time. */
export function loadStats(records: LoadRecord[], wallMs: number): LoadStats {
  const ok = records.filter((r) => r.status === 200 && !r.error);
  const tokens = ok.reduce((s, r) => s + r.completionTokens, 0);
  const ttft = ok.map((r) => r.ttftMs).filter((x) => !Number.isNaN(x));
  return {
    requests: records.length,
    ok: ok.length,
    rejected: records.filter((r) => r.status === 429).length,
    errors: records.filter((r) => r.status !== 429 && (r.status !== 200 || r.error)).length,
    p50TtftMs: round(quantile(ttft, 0.5), 2),
    p99TtftMs: round(quantile(ttft, 0.99), 2),
    p50E2eMs: round(quantile(ok.map((r) => r.e2eMs), 0.5), 2),
    p99E2eMs: round(quantile(ok.map((r) => r.e2eMs), 0.99), 2),
    tokensPerSec: round((tokens / wallMs) * 1000, 1),
    requestsPerSec: round((ok.length / wallMs) * 1000, 2),
  };
}

/** Per-tag stats of a closed-loop result: each block is one tag's; wall time summed per tag. */
export function closedStats(plan: ClosedPlan, result: LoadResult): Record<string, LoadStats> {
  const wall = new Map<string, number>();
  plan.blocks.forEach((b, i) => {
    const tag = b.requests[0]?.tag;
    if (tag !== undefined) wall.set(tag, (wall.get(tag) ?? 0) + result.blockWallMs[i]);
  });
  return Object.fromEntries(
    [...wall.entries()].map(([tag, ms]) => [
      tag,
      loadStats(
        result.records.filter((r) => r.tag === tag),
        ms,
      ),
    ]),
  );
}

/** Mulberry32: a small seeded uniform generator in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Arrival times (ms) of a Poisson process at `ratePerSec` until `durationMs`. */
export function poissonArrivals(ratePerSec: number, durationMs: number, random: () => number): number[] {
  const out: number[] = [];
  for (let t = 0; ; ) {
    t += (-Math.log(1 - random()) / ratePerSec) * 1000;
    if (t >= durationMs) return out;
    out.push(t);
  }
}

/** A sampler of ranks 0..n-1 with P(k) ∝ 1 / (k + 1)^alpha (Zipf; alpha 1 is S-LoRA's skew). */
export function zipfSampler(n: number, alpha: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / (k + 1) ** alpha;
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
