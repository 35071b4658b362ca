import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

describe('npm run bench:icm -- --quick', () => {
  it('runs end to end on the demo model and writes the keys issue 15 lists', { timeout: 240_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lethe-bench-icm-'));
    const out = join(dir, 'icm.json');
    const args = ['tsx', 'src/bench/icm-bench-main.ts', '--quick', '--steps', '8', '--out', out, '--docs', join(dir, 'bench.md'), '--cache', ''];
    await promisify(execFile)('npx', args, { timeout: 230_000 });
    const sut = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
    for (const key of ['mainDesign', 'tasks', 'heldOut', 'generatorBytes', 'adapterBytesF16', 'storageRatioF16', 'heldOutMeanRatio', 'seenWorstRatio', 'wrongConditionWorstRatio', 'baseline', 'designs', 'targets']) {
      expect(sut, key).toHaveProperty(key);
    }
    const tasks = sut.tasks as Record<string, unknown>[];
    expect(tasks).toHaveLength(7);
    for (const t of tasks) {
      for (const key of ['base', 'trained', 'generated']) expect(t[key]).toBeGreaterThanOrEqual(0);
      expect(t.wrongConditionTask).toMatch(/\/(bare|answer|know)$/);
    }
    const held = sut.heldOut as { task: string; nearestSeen: { task: string } }[];
    expect(held.map((h) => h.task).sort()).toEqual(['genre-to-nation/answer', 'place-to-year/know']);
    expect(held.every((h) => !['genre-to-nation/answer', 'place-to-year/know'].includes(h.nearestSeen.task))).toBe(true);
    // The compose generator is the reported design; the basis generator stays in the designs table.
    expect(sut.mainDesign).toBe('compose');
    const designs = sut.designs as { design: string; inferredParts?: Record<string, string> }[];
    expect(designs.map((d) => d.design)).toEqual(expect.arrayContaining(['compose', 'basis']));
    expect(Object.keys(designs.find((d) => d.design === 'compose')!.inferredParts!).sort()).toEqual(['genre-to-nation/answer', 'place-to-year/know']);
    const { generatorBytes, adapterBytesF16, storageRatioF16 } = sut as Record<string, number>;
    expect(generatorBytes).toBeGreaterThan(0);
    expect(storageRatioF16).toBeCloseTo(generatorBytes / adapterBytesF16, 12);
    expect(await readFile(join(dir, 'bench.md'), 'utf8')).toContain('<!-- section:icm -->');
  });
});
