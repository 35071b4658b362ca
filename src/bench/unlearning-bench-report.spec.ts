import { describe, expect, it } from 'vitest';
import type { StepRow } from './unlearning-bench.js';
import { markdownTable, plotSvg, replaceSection } from './unlearning-bench-report.js';

const row = (step: number, method: StepRow['method'], rd: number, du: number): StepRow => ({
  step, method, su: 0, du, rd, utility: 0.5, rdRatio: rd / 0.8, utilityRatio: 1, auroc: method === 'base' ? null : 0.99, gateRecall: null, falseFireRate: null, seconds: 12.34, bytes: 2048,
});
const rows = [row(1, 'base', 0.8, 0.5), row(1, 'lethe', 0.78, 0.05), row(2, 'base', 0.8, 0.5), row(2, 'lethe', 0.76, 0.1)];

describe('unlearning bench report', () => {
  it('tables every row, or one step, with percentages, ratios and dashes for missing values', () => {
    const all = markdownTable(rows).split('\n');
    expect(all).toHaveLength(2 + rows.length);
    expect(all[3]).toBe('| 1 | lethe | 0.0 | 5.0 | 78.0 | 50.0 | 0.975 | 1.000 | 0.990 | – | – | 12.3 | 2 |');
    expect(markdownTable(rows, 2).split('\n').slice(2).every((l) => l.startsWith('| 2 |'))).toBe(true);
  });

  it('plots one polyline per method and panel, with points in step order inside the panel', () => {
    const svg = plotSvg(rows);
    const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]+)"/g)].map((m) => m[1].split(' ').map((p) => p.split(',').map(Number)));
    expect(lines).toHaveLength(4);
    for (const pts of lines) {
      expect(pts).toHaveLength(2);
      expect(pts[0][0]).toBeLessThan(pts[1][0]);
    }
    // R.D. of lethe falls from 0.78 to 0.76: y grows downwards.
    expect(lines[1][1][1]).toBeGreaterThan(lines[1][0][1]);
  });

  it('replaces its own section only, or appends it', () => {
    const doc = '# Benchmarks\n\n<!-- section:engine -->\nE\n<!-- /section:engine -->\n\n<!-- section:unlearning -->\nold\n<!-- /section:unlearning -->\n';
    const out = replaceSection(doc, 'new');
    expect(out).toContain('<!-- section:engine -->\nE\n<!-- /section:engine -->');
    expect(out).toContain('<!-- section:unlearning -->\nnew\n<!-- /section:unlearning -->');
    expect(out).not.toContain('old');
    expect(replaceSection('# B\n', 'x')).toBe('# B\n\n<!-- section:unlearning -->\nx\n<!-- /section:unlearning -->\n');
  });
});
