import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPlotSvg } from './serving-bench-report.js';
import { closedStats, loadStats, poissonArrivals, seededRandom, zipfSampler } from './serving-load.js';
import { loadServingWorld, servingMix, zipfWorkload } from './serving-workload.js';
import { writeDocsSection } from './serving-bench.js';

describe('serving bench helpers', () => {
  it('forgets 5 authors, each fact once, and mixes forget, retained and task prompts in thirds', () => {
    const world = loadServingWorld('models/demo');
    expect(world.forget).toHaveLength(5);
    for (const r of world.forget) expect(new Set(r.items.map((i) => i.prompt)).size).toBe(r.items.length);
    const sut = servingMix(world, 30);
    expect(sut.filter((r) => r.kind === 'forget')).toHaveLength(10);
    expect(sut.filter((r) => r.kind === 'forget').every((r) => world.forgetPrompts.includes(r.prompt))).toBe(true);
    expect(sut.filter((r) => r.kind === 'retained').some((r) => world.forgetPrompts.includes(r.prompt))).toBe(false);
    expect(servingMix(world, 30)).toEqual(sut);
  });

  it('draws Zipf(1) ranks with P(k) ∝ 1/(k+1) and Poisson gaps with the asked rate', () => {
    const draw = zipfSampler(1000, 1, seededRandom(3));
    const counts = new Map<number, number>();
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const k = draw();
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const h = Array.from({ length: 1000 }, (_, k) => 1 / (k + 1)).reduce((s, x) => s + x, 0);
    for (const k of [0, 1, 9, 99]) expect((counts.get(k) ?? 0) / n).toBeCloseTo(1 / (k + 1) / h, 2);
    expect(Math.max(...counts.keys())).toBeLessThan(1000);
    const arrivals = poissonArrivals(50, 200_000, seededRandom(4));
    expect(arrivals.length / 200).toBeGreaterThan(48);
    expect(arrivals.length / 200).toBeLessThan(52);
    expect(arrivals.every((t, i) => i === 0 || t >= arrivals[i - 1])).toBe(true);
  });

  it('gives every n the same prompts and lengths in a Zipf workload, adapters below n', () => {
    const world = loadServingWorld('models/demo');
    const one = zipfWorkload(world, 50, 1, 7);
    const many = zipfWorkload(world, 50, 1000, 7);
    expect(one.every((w) => w.adapter === 0)).toBe(true);
    expect(many.map((w) => [w.prompt, w.maxTokens])).toEqual(one.map((w) => [w.prompt, w.maxTokens]));
    expect(new Set(many.map((w) => w.adapter)).size).toBeGreaterThan(10);
  });

  it('summarises records per series: quantiles over answered requests, 429s and errors apart', () => {
    const rec = (tag: string, status: number, e2eMs: number, tokens = 4) => ({ tag, status, startMs: 0, ttftMs: e2eMs / 2, e2eMs, completionTokens: tokens });
    const records = [rec('a', 200, 10), rec('a', 200, 20), rec('a', 429, 1, 0), rec('a', 500, 1, 0), rec('b', 200, 30)];
    const a = loadStats(records.filter((r) => r.tag === 'a'), 1000);
    expect(a).toMatchObject({ requests: 4, ok: 2, rejected: 1, errors: 1, p50E2eMs: 10, p99E2eMs: 20, p50TtftMs: 5, tokensPerSec: 8, requestsPerSec: 2 });
    const req = (tag: string) => ({ url: 'http://x', key: 'k', body: {}, tag });
    const by = closedStats({ kind: 'closed', blocks: [{ clients: 1, requests: [req('a')] }, { clients: 1, requests: [req('b')] }, { clients: 1, requests: [req('a')] }] }, { records, blockWallMs: [400, 500, 600] });
    expect(by.a.tokensPerSec).toBe(8);
    expect(by.b.requestsPerSec).toBe(2);
  });

  it('plots one line per series in each panel', () => {
    const pt = (rate: number, p50: number) => ({ rate, requests: 1, ok: 1, rejected: 0, errors: 0, p50TtftMs: p50, p99TtftMs: 2 * p50, p50E2eMs: p50, p99E2eMs: p50, tokensPerSec: 1, requestsPerSec: 1 });
    const svg = loadPlotSvg({ base: [pt(10, 5), pt(20, 9)], routed: [pt(10, 6), pt(20, 400)] });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(4);
    expect(svg).toContain('>routed<');
  });

  it('replaces only its own section of the docs file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lethe-docs-'));
    try {
      const path = join(dir, 'benchmarks.md');
      writeFileSync(path, '# Benchmarks\n\n<!-- section:engine -->\nengine\n<!-- /section:engine -->\n');
      writeDocsSection(path, 'serving', 'one\n');
      writeDocsSection(path, 'serving', 'two\n');
      const text = readFileSync(path, 'utf8');
      expect(text).toContain('<!-- section:engine -->\nengine\n<!-- /section:engine -->');
      expect(text).toContain('<!-- section:serving -->\ntwo\n<!-- /section:serving -->');
      expect(text).not.toContain('one');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run bench:serving -- --quick (CI)', () => {
  it('drives the three ways and the Zipf run over HTTP and writes every key of issues 5 and 13', { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lethe-bench-'));
    try {
      const out = join(dir, 'serving.json');
      await promisify(execFile)('npx', ['tsx', 'src/bench/serving-bench.ts', '--quick', '--out', out], { timeout: 590_000, maxBuffer: 64 * 2 ** 20 });
      const sut = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown> & { load: { closed: Record<string, Record<string, Record<string, { ok: number; errors: number; requests: number }>>>; open: Record<string, unknown[]> } };
      for (const k of ['overhead', 'routingOverhead', 'routingOverheadWindow0', 'routingOverheadC16', 'planFlopRatio', 'p50TtftC16Ms', 'p99TtftC16Ms', 'zipfThroughputRatio', 'coldLoadMs', 'coldLoadP99Ms', 'healthzP99MsDuringTraining']) {
        expect(Number.isFinite(sut[k]), k).toBe(true);
      }
      expect(Object.keys(sut.throughputByAdapters as object)).toEqual(['1', '10', '100', '1000']);
      expect(sut.memory).toMatchObject({ tensorsStart: expect.any(Number), tensorsEnd: expect.any(Number) });
      // Every mode of every way answered every request (no 5xx, no connection error).
      for (const window of ['5', '0']) {
        for (const clients of ['1', '4', '16']) {
          for (const way of ['base', 'static', 'routed']) {
            const s = sut.load.closed[window][clients][way];
            expect(s.errors, `${window}/${clients}/${way}`).toBe(0);
            expect(s.ok, `${window}/${clients}/${way}`).toBe(s.requests);
          }
        }
      }
      expect(Object.keys(sut.load.open).sort()).toEqual(['base', 'routed', 'static', 'zipf-1', 'zipf-100']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
