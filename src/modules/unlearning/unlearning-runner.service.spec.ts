import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/config.js';
import { DEFAULT_ACTIVATION_THRESHOLDS } from '../../unlearning/activation.js';
import { GENERIC_REFERENCE_PROMPTS } from '../../unlearning/reference-prompts.js';
import { UnlearningRunner } from './unlearning-runner.service.js';

describe('UnlearningRunner reference prompts and thresholds', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const runnerFor = async (world?: unknown, env: Record<string, string> = {}) => {
    const dir = await mkdtemp(join(tmpdir(), 'lethe-runner-'));
    dirs.push(dir);
    if (world !== undefined) await writeFile(join(dir, 'world.json'), JSON.stringify(world));
    return new UnlearningRunner(loadConfig({ LETHE_MODEL_DIR: dir, ...env }));
  };

  it('always includes the bundled generic set (60 prompts in several formats), then the request own prompts', async () => {
    expect(GENERIC_REFERENCE_PROMPTS).toHaveLength(60);
    expect(new Set(GENERIC_REFERENCE_PROMPTS).size).toBe(60);
    expect(GENERIC_REFERENCE_PROMPTS.filter((p) => /^Question: .+\nAnswer:$/.test(p)).length).toBeGreaterThanOrEqual(10);
    expect(GENERIC_REFERENCE_PROMPTS.filter((p) => p.endsWith('?') && !p.startsWith('Question:')).length).toBeGreaterThanOrEqual(10);
    expect(GENERIC_REFERENCE_PROMPTS.filter((p) => p.endsWith('.')).length).toBeGreaterThanOrEqual(10);
    const sut = await runnerFor();
    const { prompts, counts } = sut.referencePrompts(['mine 1', 'mine 2']);
    expect(prompts).toEqual([...GENERIC_REFERENCE_PROMPTS, 'mine 1', 'mine 2']);
    expect(counts).toEqual({ bundled: 60, world: 0, request: 2 });
  });

  it("adds the model folder's world.json utility items (at most 48) and author questions (at most 600) between the two", async () => {
    const items = [
      ...Array.from({ length: 100 }, (_, i) => ({ split: 'utility', prompt: `utility ${i}` })),
      ...Array.from({ length: 1000 }, (_, i) => ({ split: 'trained', prompt: `Where was Author${i} Name born?` })),
      { split: 'heldOutAuthor', prompt: 'never used' },
    ];
    const sut = await runnerFor({ items });
    const { prompts, counts } = sut.referencePrompts(['mine']);
    expect(counts).toEqual({ bundled: 60, world: 648, request: 1 });
    expect(prompts.slice(60, 108).every((p) => p.startsWith('utility '))).toBe(true);
    expect(prompts.slice(108, 708).every((p) => p.startsWith('Where was Author'))).toBe(true);
    expect(prompts).not.toContain('never used');
    expect(prompts.at(-1)).toBe('mine');
  });

  it('passes the configured activation thresholds on', async () => {
    const sut = await runnerFor(undefined, { LETHE_UNLEARNING_MAX_REFERENCE_FALSE_FIRE_RATE: '0.25', LETHE_UNLEARNING_ESCALATION_SECONDS: '5' });
    expect(sut.activation).toEqual({ ...DEFAULT_ACTIVATION_THRESHOLDS, maxReferenceFalseFireRate: 0.25, escalationSeconds: 5 });
  });
});
