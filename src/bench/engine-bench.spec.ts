import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseModelConfig, toHfConfig } from '../engine/model-config.js';
import { forwardFlops, linearFlopsPerToken, median } from './engine-bench.js';

describe('engine benchmark FLOP counts', () => {
  it('count a LLaMA forward by hand', () => {
    const c = parseModelConfig(
      toHfConfig({
        family: 'llama', vocabSize: 100, dModel: 8, nLayers: 2, nHeads: 2, nKvHeads: 1, headDim: 4, dFf: 12,
        maxPositions: 16, normEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: false,
      }),
    );
    // Per layer: q 8·8, k 8·4, v 8·4, o 8·8, gate/up 8·12 each, down 12·8 → 2·(64+32+32+64+96+96+96).
    const perLayer = 2 * (64 + 32 + 32 + 64 + 96 + 96 + 96);
    expect(linearFlopsPerToken(c)).toBe(2 * perLayer);
    // 3 rows × 5 tokens, scores and weighted sums 2·(2·5·5·4) per layer and row, head on 3 positions.
    expect(forwardFlops(c, 3, 5, 3)).toBe(3 * (5 * 2 * perLayer + 2 * 4 * 5 * 5 * 2 * 4) + 3 * 2 * 8 * 100);
    expect(median([5, 1, 3, 2])).toBe(2.5);
  });
});

describe('npm run bench:engine -- --quick', () => {
  it('runs end to end and writes exactly the keys issue 3 lists', { timeout: 240_000 }, async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'lethe-bench-')), 'engine.json');
    await promisify(execFile)('npx', ['tsx', 'scripts/bench-engine.ts', '--quick', '--out', out], { timeout: 230_000 });
    const sut = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(sut).sort()).toEqual(
      [
        'backend', 'matmulGflops', 'prefillGflops', 'prefillRatio', 'decodeTokensPerSec', 'loraTrainTokensPerSec',
        'loraTrainGflops', 'adapterOverhead', 'adapterFlopRatio', 'mergedOverhead', 'mergeMs', 'memory',
      ].sort(),
    );
    for (const key of ['adapterOverhead', 'adapterFlopRatio']) expect(Object.keys(sut[key] as object).sort()).toEqual(['1', '16', '4']);
    const memory = sut.memory as Record<string, number>;
    expect(Object.keys(memory).sort()).toEqual(['rssAfterMb', 'rssBeforeMb', 'tensorsAfter', 'tensorsBefore']);
    expect(memory.tensorsAfter).toBe(memory.tensorsBefore);
    for (const key of ['matmulGflops', 'prefillGflops', 'decodeTokensPerSec', 'loraTrainTokensPerSec', 'mergeMs']) {
      expect(sut[key]).toBeGreaterThan(0);
    }
    expect((sut.adapterFlopRatio as Record<string, number>)['16']).toBeCloseTo(16 * (sut.adapterFlopRatio as Record<string, number>)['1'], 9);
  });
});
