import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TASK_SUITE, HELD_OUT_TASK } from '../icm/task-suite.js';

describe('npm run bench:icm -- --quick', () => {
  it('runs end to end on the demo model and writes exactly the shape issue 6 lists', { timeout: 240_000 }, async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'lethe-bench-icm-')), 'icm.json');
    // Fewer task-training steps and generator epochs than --quick's defaults: this checks the shape only.
    const args = ['tsx', 'src/bench/icm-bench-main.ts', '--quick', '--steps', '16', '--epochs', '4', '--out', out, '--docs', ''];
    await promisify(execFile)('npx', args, { timeout: 230_000 });
    const sut = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(sut).sort()).toEqual(['checkpointBytes', 'generatorBytes', 'heldOut', 'storageRatio', 'tasks']);
    const tasks = sut.tasks as Record<string, unknown>[];
    expect(tasks.map((t) => t.task)).toEqual(TASK_SUITE.map((t) => t.name));
    for (const t of tasks) {
      expect(Object.keys(t).sort()).toEqual(['base', 'checkpointAverage', 'generated', 'task', 'trained', 'wrongCondition']);
      for (const key of ['base', 'trained', 'generated', 'checkpointAverage', 'wrongCondition']) {
        expect(t[key]).toBeGreaterThanOrEqual(0);
        expect(t[key]).toBeLessThanOrEqual(1);
      }
    }
    const held = sut.heldOut as Record<string, unknown>;
    expect(Object.keys(held).sort()).toEqual(['base', 'generated', 'task']);
    expect(held.task).toBe(HELD_OUT_TASK.name);
    const { generatorBytes, checkpointBytes, storageRatio } = sut as Record<string, number>;
    expect(generatorBytes).toBeGreaterThan(0);
    expect(checkpointBytes).toBeGreaterThan(generatorBytes);
    expect(storageRatio).toBeCloseTo(generatorBytes / checkpointBytes, 12);
  });
});
