import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import { ComposeGenerator, truncatedFactors } from './compose-generator.js';
import { deserialiseComposeGenerator, serialiseComposeGenerator } from './compose-generator-io.js';
import { SeededRandom } from './random.js';
import { AdapterFactory } from './testing/adapter.factory.js';

await initBackend('cpu');

const owned: LoraAdapter[] = [];
afterAll(() => owned.forEach(AdapterFactory.dispose));
const part = (seed: number) => {
  const a = AdapterFactory.create({ rank: 1, alpha: 1, seed });
  owned.push(a);
  return a;
};
/** The adapter whose ΔW is the sum of the parts' (rank-1 factors side by side, α = rank). */
function stacked(parts: LoraAdapter[]): LoraAdapter {
  const modules = new Map(
    [...parts[0].modules.keys()].map((k) => [
      k,
      { a: tf.concat(parts.map((p) => p.modules.get(k)!.a), 0) as tf.Tensor2D, b: tf.concat(parts.map((p) => p.modules.get(k)!.b), 1) as tf.Tensor2D },
    ]),
  );
  const out = { rank: parts.length, alpha: parts.length, targetModules: [...parts[0].targetModules], modules };
  owned.push(out);
  return out;
}
const delta = (a: LoraAdapter, module: string, strength = 1): Float32Array => {
  const m = a.modules.get(module)!;
  return tf.tidy(() => tf.mul(tf.matMul(m.b, m.a), (strength * a.alpha) / a.rank).dataSync() as Float32Array);
};
const relError = (got: Float32Array, want: Float32Array) => Math.sqrt(got.reduce((s, v, i) => s + (v - want[i]) ** 2, 0) / want.reduce((s, v) => s + v * v, 0));

describe('truncatedFactors', () => {
  it('reproduces a matrix of rank ≤ k and keeps the largest singular direction first', () => {
    const rng = new SeededRandom(5);
    const [rows, cols] = [20, 12];
    const u = [0, 1, 2].map(() => rng.normals(rows));
    const v = [0, 1, 2].map(() => rng.normals(cols));
    const m = new Float64Array(rows * cols);
    [3, 1, 0.2].forEach((s, k) => {
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m[i * cols + j] += s * u[k][i] * v[k][j];
    });
    const { a, b } = truncatedFactors(m, rows, cols, 4);
    const back = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let k = 0; k < 4; k++) back[i * cols + j] += b[i * 4 + k] * a[k * cols + j];
    expect(relError(back, Float32Array.from(m))).toBeLessThan(1e-5);
    const norm = (k: number) => Math.hypot(...Array.from(a.subarray(k * cols, (k + 1) * cols)));
    expect(norm(0)).toBeGreaterThan(norm(1));
    expect(norm(1)).toBeGreaterThan(norm(2));
  });
});

describe('ComposeGenerator', () => {
  // ΔW(m, t) = centre + mapping m + template t exactly; two combinations are held out.
  const centre = part(1);
  const mappings = [0, 1, 2, 3].map((i) => part(10 + i));
  const templates = [0, 1, 2].map((i) => part(20 + i));
  const heldOut = ['m0/t2', 'm1/t0'];
  const sets = mappings.flatMap((m, i) =>
    templates.map((t, j) => ({ task: `m${i}/t${j}`, mapping: `m${i}`, template: `t${j}`, adapter: stacked([centre, m, t]) })),
  );
  const seen = sets.filter((s) => !heldOut.includes(s.task));
  // Rank 8: with the gauge fixed by the ridge, a piece mixes every part's rank-1 update (8 in all).
  const gen = ComposeGenerator.train(seen, { rank: 8, bits: 16, ridge: 1e-6 });
  afterAll(() => gen.dispose());

  it('fits one piece per part and composes held-out combinations it never saw', () => {
    expect(gen.state.pieces.map((p) => p.name)).toEqual(['centre', 'mapping:m0', 'mapping:m1', 'mapping:m2', 'mapping:m3', 'template:t0', 'template:t1', 'template:t2']);
    const pieces = new Map(gen.state.pieces.map((p, k) => [p.name, gen.pieces()[k]]));
    for (const name of heldOut) {
      const want = sets.find((s) => s.task === name)!;
      for (const module of want.adapter.modules.keys()) {
        const parts = ['centre', `mapping:${want.mapping}`, `template:${want.template}`].map((n) => delta(pieces.get(n)!, module));
        const got = parts[0].map((v, i) => v + parts[1][i] + parts[2][i]);
        // float16 pieces: a few 1e-4 of relative error.
        expect(relError(got, delta(want.adapter, module)), `${name} ${module}`).toBeLessThan(2e-3);
      }
    }
  });

  it('stores 4-bit pieces in a file that reads back to the same pieces', () => {
    const g4 = ComposeGenerator.train(seen, { rank: 3, bits: 4 });
    try {
      const bytes = serialiseComposeGenerator(g4, { design: 'compose' });
      expect(bytes.byteLength).toBeLessThan(g4.pieceBytes() + 4096);
      const back = deserialiseComposeGenerator(bytes);
      expect(back.extra).toEqual({ design: 'compose' });
      expect(back.generator.mappings).toEqual(['m0', 'm1', 'm2', 'm3']);
      expect(back.generator.templates).toEqual(['t0', 't1', 't2']);
      back.generator.state.pieces.forEach((p, k) => {
        expect(Array.from(p.values.codes)).toEqual(Array.from(g4.state.pieces[k].values.codes));
        expect(Array.from(p.values.scales)).toEqual(Array.from(g4.state.pieces[k].values.scales));
      });
    } finally {
      g4.dispose();
    }
  });

  it('keeps what the additive model misses of a seen task in residual pieces and that task\'s coefficients on them', () => {
    // One seen task has an interaction term (an extra rank-1 update) the parts cannot explain.
    const extra = part(40);
    const odd = 'm2/t1';
    const withOdd = seen.map((s) => (s.task === odd ? { ...s, adapter: stacked([centre, mappings[2], templates[1], extra]) } : s));
    const g = ComposeGenerator.train(withOdd, { rank: 10, bits: 16, ridge: 1e-6, residualRank: 9 });
    const plain = ComposeGenerator.train(withOdd, { rank: 10, bits: 16, ridge: 1e-6 });
    try {
      expect(g.state.pieces.filter((p) => p.name.startsWith('residual:')).length).toBeGreaterThan(0);
      expect(plain.state.seen.every((s) => s.residual.length === 0)).toBe(true);
      const compose = (gen: ComposeGenerator, module: string) => {
        const st = gen.state.seen.find((s) => s.task === odd)!;
        const byName = new Map(gen.state.pieces.map((p, k) => [p.name, gen.pieces()[k]]));
        const terms: [string, number][] = [['centre', 1], [`mapping:${st.mapping}`, 1], [`template:${st.template}`, 1], ...st.residual.map((c, q) => [`residual:${q}`, c] as [string, number])];
        return terms.map(([n, w]) => delta(byName.get(n)!, module, w)).reduce((acc, d) => acc.map((v, i) => v + d[i]));
      };
      const want = withOdd.find((s) => s.task === odd)!.adapter;
      for (const module of want.modules.keys()) {
        const withResidual = relError(compose(g, module), delta(want, module));
        const without = relError(compose(plain, module), delta(want, module));
        expect(withResidual, module).toBeLessThan(1e-2);
        expect(without, module).toBeGreaterThan(10 * withResidual);
      }
    } finally {
      g.dispose();
      plain.dispose();
    }
  });

  describe('tasks store', () => {
    it('stores every seen task, gives a seen task its own ΔW back and composes held-out combinations from the stored tasks', () => {
      // Float16 and a budget above the full rank: nothing is cut, so the stored tasks are exact.
      const g = ComposeGenerator.train(seen, { rank: 3, bits: 16, ridge: 1e-6, store: 'tasks', budgetRatio: 2 });
      try {
        expect(g.state.pieces.map((p) => p.name)).toEqual(seen.map((s) => `task:${s.task}`));
        expect(g.mappings).toEqual(['m0', 'm1', 'm2', 'm3']);
        expect(g.templates).toEqual(['t0', 't1', 't2']);
        const pieces = g.pieces();
        const module = [...seen[0].adapter.modules.keys()][0];
        expect(relError(delta(pieces[4], module), delta(seen[4].adapter, module))).toBeLessThan(2e-3);
        // The least-squares weights of the seen tasks that make centre + m0 + t2 (a held-out combination).
        const cands = (g as unknown as { candidates(n: string[]): { mapping: string; template: string; init: number[]; seenTask?: string }[] }).candidates([]);
        expect(cands.filter((c) => c.seenTask).length).toBe(seen.length);
        const held = cands.find((c) => !c.seenTask && c.mapping === 'm0' && c.template === 't2')!;
        const want = sets.find((s) => s.task === 'm0/t2')!.adapter;
        for (const m of want.modules.keys()) {
          const got = held.init.map((w, i) => delta(pieces[i], m, w)).reduce((acc, d) => acc.map((v, k) => v + d[k]));
          expect(relError(got, delta(want, m)), m).toBeLessThan(5e-3);
        }
      } finally {
        g.dispose();
      }
    });

    it('cuts the ranks that hold the least energy until the codes fit the budget, and reads back from its file', () => {
      const full = ComposeGenerator.train(seen, { rank: 3, bits: 4, store: 'tasks', budgetRatio: 2 });
      const cut = ComposeGenerator.train(seen, { rank: 3, bits: 4, store: 'tasks', budgetRatio: 0.15 });
      try {
        const f16 = seen.reduce((n, s) => n + 2 * [...s.adapter.modules.values()].reduce((k, m) => k + m.a.size + m.b.size, 0), 0);
        const codes = (g: ComposeGenerator) => g.state.pieces.reduce((n, p) => n + p.values.codes.length, 0);
        expect(full.state.pieces.every((p) => p.ranks!.every((r) => r === 3))).toBe(true);
        expect(codes(cut)).toBeLessThanOrEqual(0.15 * f16 + seen.length);
        expect(cut.state.pieces.some((p) => p.ranks!.some((r) => r < 3))).toBe(true);
        expect(cut.state.pieces.every((p) => p.ranks!.every((r) => r >= 1))).toBe(true);
        const back = deserialiseComposeGenerator(serialiseComposeGenerator(cut, { design: 'compose' })).generator;
        back.state.pieces.forEach((p, k) => {
          expect(p.ranks).toEqual(cut.state.pieces[k].ranks);
          expect(Array.from(p.values.codes)).toEqual(Array.from(cut.state.pieces[k].values.codes));
        });
        const module = [...seen[0].adapter.modules.keys()][0];
        expect(Array.from(delta(back.pieces()[2], module))).toEqual(Array.from(delta(cut.pieces()[2], module)));
        back.dispose();
      } finally {
        full.dispose();
        cut.dispose();
      }
    });
  });

  it('needs two tasks and a whole rank', () => {
    expect(() => ComposeGenerator.train(seen.slice(0, 1))).toThrow(/at least 2 tasks/);
    expect(() => ComposeGenerator.train(seen, { rank: 1.5 })).toThrow(/rank/);
  });
});
