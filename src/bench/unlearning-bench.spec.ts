import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BENCH_METHODS, QUICK_CONFIG } from './unlearning-bench.js';
import { SHAPES, SHAPES_QUICK } from './unlearning-shapes.js';
import { LONG_QUICK } from './unlearning-long.js';

const SHAPE_KEYS = ['leakRequest', 'leakParaphrase', 'leakNewTemplates', 'retained', 'utility', 'degenerate', 'aurocOtherAuthors', 'falseFireOtherAuthors', 'seconds'];
const KEYS = ['step', 'method', 'su', 'du', 'rd', 'utility', 'rdRatio', 'utilityRatio', 'auroc', 'gateRecall', 'falseFireRate', 'seconds', 'bytes'];

describe('npm run bench:unlearning -- --quick', () => {
  it('runs end to end on the demo model and writes exactly the shape issue 4 lists', { timeout: 600_000 }, async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'lethe-bench-')), 'unlearning.json');
    await promisify(execFile)('npx', ['tsx', 'src/bench/unlearning-bench-main.ts', '--quick', '--out', out], { timeout: 590_000 });
    const sut = JSON.parse(await readFile(out, 'utf8')) as { steps: Record<string, unknown>[]; shapes: Record<string, { methods: Record<string, Record<string, unknown>> }> };
    expect(Object.keys(sut)).toEqual(['steps', 'shapes']);
    // The request-shape suite (issue 11): every shape, lethe and always-on, the keys.
    expect(Object.keys(sut.shapes)).toEqual([...SHAPES]);
    for (const [shape, r] of Object.entries(sut.shapes)) {
      expect(Object.keys(r.methods)).toEqual([...SHAPES_QUICK.methods]);
      for (const m of Object.values(r.methods)) {
        for (const k of SHAPE_KEYS) expect(m).toHaveProperty(k);
        expect(m.retained as number).toBeGreaterThanOrEqual(0);
        expect(m.retained as number).toBeLessThanOrEqual(1);
      }
      expect('sameAuthorRetained' in r.methods.lethe).toBe(shape === 'one-fact' || shape === 'part-of-author' || shape === 'overlapping');
    }
    expect(sut.steps).toHaveLength(QUICK_CONFIG.requests * BENCH_METHODS.length);
    for (const row of sut.steps) {
      expect(Object.keys(row).sort()).toEqual([...KEYS].sort());
      for (const k of ['su', 'du', 'rd', 'utility']) expect(row[k]).toBeGreaterThanOrEqual(0);
      for (const k of ['su', 'du', 'rd', 'utility']) expect(row[k]).toBeLessThanOrEqual(1);
    }
    const lethe = sut.steps.filter((r) => r.method === 'lethe');
    expect(lethe.map((r) => r.step)).toEqual([1, 2]);
    expect(lethe.every((r) => typeof r.auroc === 'number' && (r.seconds as number) > 0 && (r.bytes as number) > 0)).toBe(true);
    // Even two quick epochs make the gated adapter stop the trained answers of the forget items.
    expect(lethe[1].su as number).toBeLessThan(sut.steps.find((r) => r.method === 'base' && r.step === 2)!.su as number);
  });

  it('--long writes issue 16 keys: a row per checkpoint, the bank agreeing with per-detector gates, a revoke that restores', { timeout: 600_000 }, async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'lethe-bench-')), 'unlearning-long.json');
    await promisify(execFile)('npx', ['tsx', 'src/bench/unlearning-bench-main.ts', '--long', '--quick', '--out', out], { timeout: 590_000 });
    const sut = JSON.parse(await readFile(out, 'utf8')) as { steps: Record<string, number>[]; revoke: { restored: number | null; othersChanged: number } };
    expect(sut.steps.map((s) => s.requests)).toEqual(LONG_QUICK.checkpoints);
    for (const s of sut.steps) {
      for (const k of ['leakParaphrase', 'leakNewTemplates', 'retained', 'utility', 'falseFire', 'routingCost', 'bytes', 'seconds']) expect(s).toHaveProperty(k);
      expect(s.bankMismatches).toBe(0);
      expect(s.bytes).toBeGreaterThan(0);
    }
    // Bytes grow with every request kept; revoking the first brings its facts back and leaves the rest.
    expect(sut.steps[1].bytes).toBeGreaterThan(sut.steps[0].bytes);
    expect(sut.revoke.restored).toBeGreaterThan(0.5);
    expect(sut.revoke.othersChanged).toBe(0);
  });
});
