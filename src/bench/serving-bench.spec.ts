import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBenchWorld, requestMix } from './serving-bench-setup.js';
import { writeDocsSection } from './serving-bench.js';

describe('serving bench helpers', () => {
  it('mixes forget, retained and task prompts in equal thirds, deterministically', () => {
    const world = loadBenchWorld('models/demo');
    expect(world.forgetGroups).toHaveLength(5);
    const flat = world.forgetGroups.flat();
    expect(new Set(flat).size).toBe(flat.length); // disjoint groups
    const sut = requestMix(world, 30);
    expect(sut.filter((r) => r.kind === 'forget')).toHaveLength(10);
    expect(sut.filter((r) => r.kind === 'task')).toHaveLength(10);
    expect(sut.filter((r) => r.kind === 'forget').every((r) => flat.includes(r.prompt))).toBe(true);
    expect(sut.filter((r) => r.kind === 'retained').some((r) => flat.includes(r.prompt))).toBe(false);
    expect(requestMix(world, 30)).toEqual(sut);
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
