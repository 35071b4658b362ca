/**
 * Compose generator (issue 15): adapters for tasks the generator never saw, built from the parts of
 * the seen tasks. The task family is compositional (a task = mapping × template), and so, roughly,
 * are the seen adapters' weight updates:
 *
 *   ΔW(m, t) ≈ ΔW_centre + ΔW_mapping(m) + ΔW_template(t)
 *
 * - training (seen tasks only), two stores: `parts` = each module's ΔW = (α/r)·B·A of every seen
 *   task's adapter; the part pieces are the least-squares fit of that additive model over the seen
 *   tasks (a small ridge fixes the gauge: a constant can move between centre, mappings and templates),
 *   each re-factored to rank `rank` (truncated SVD by orthogonal iteration) and stored quantised (4-bit
 *   by default, one scale per factor), optionally with residual pieces; `tasks` (the default of the
 *   service and bench:icm) = every seen task's own ΔW stored (truncated SVD factors, one scale per
 *   rank component, NF4 in the service; ranks cut only to fit a given byte budget), and a part
 *   combination is the same least-squares combination of the stored tasks, computed at generation
 *   without truncating the pieces;
 * - generation, from a new task's in-context examples only (no name, no parts): every combination of
 *   a seen mapping and a seen template is composed and the one whose adapter gives the examples'
 *   completions the lowest loss is chosen (the parts are *inferred*, never given); when those parts
 *   make a seen task, its own stored combination replaces the composition; then per-layer
 *   coefficients of every piece are refined on the same examples (Adam on the completion loss, an L2
 *   pull towards the chosen combination), as LoraHub composes LoRA modules from a few examples;
 *   the composed ΔW is re-factored to rank `outputRank`.
 * Why the refinement: the plain additive composition retrieves the right fact on held-out tasks
 * (about as often as an adapter trained on them) but writes the template wrongly ("X the answer.",
 * "X know I know"); a few coefficients fitted on the examples fix the template.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter, LoraModuleWeights } from '../engine/lora-types.js';
import { ensureGradients } from '../engine/gradients.js';
import { stackLora } from '../engine/lora.js';
import { buildLmBatch, maskedCrossEntropy } from '../engine/trainer-loss.js';
import type { TransformerModel } from '../engine/transformer.js';
import { flatLayoutOf, flattenAdapter, sortedModuleNames, unflattenAdapter, type FlatLayout } from './flatten.js';
import { symmetricEigen } from './pca.js';
import { codeBytes, dequantise, quantise, type QuantBits, type QuantisedVector } from './quantize.js';
import { SeededRandom } from './random.js';
import { segmentsOf } from './basis-generator.js';
import type { TaskExample } from './task-suite.js';
import { encodeTaskExamples, type TaskTokenizer } from './task-training.js';
import { solveColumns } from './linear-solve.js';

/** One seen task: its parts and its trained adapter. */
export interface ComposeTrainingSet {
  task: string;
  mapping: string;
  template: string;
  adapter: LoraAdapter;
}

export interface ComposeGeneratorOptions {
  /** Rank of every stored piece (default 4). */
  rank?: number;
  /** Storage of the pieces (default 4). */
  bits?: QuantBits;
  /** Ridge on the part coefficients of the least-squares fit (default 1e-3). */
  ridge?: number;
  /**
   * Residual pieces (default 0): principal directions (Frobenius, over all modules) of what the
   * additive model leaves of the seen tasks' ΔW, each stored like a part piece; every seen task keeps
   * its coefficients on them (a few floats), so a seen task's examples can pick its own combination.
   */
  residualRank?: number;
  /**
   * What is stored (default `parts`): `parts` = the additive model's part pieces (+ residual pieces);
   * `tasks` = every seen task's own ΔW, each module's rank cut where it loses least energy until the
   * codes fit `budgetRatio`; the parts are then computed at generation as the same least-squares
   * combinations of the stored tasks (untruncated), and a seen task's examples can take its own adapter back.
   */
  store?: 'parts' | 'tasks';
  /** `tasks` store: cut ranks until code and scale bytes ≤ this × the seen adapters' float16 tensor bytes (default: no cut). */
  budgetRatio?: number;
}

export interface ComposeGenerateOptions {
  /** Refinement steps on the examples (default 60; 0: the inferred combination as is). */
  steps?: number;
  /** Adam learning rate of the refinement (default 0.05). */
  learningRate?: number;
  /** Pull of the coefficients towards the inferred combination (default 0.3). */
  l2?: number;
  /** Rank of the generated adapter (default 8). */
  outputRank?: number;
  /**
   * How the combination is chosen (default `parts`): `parts` = the seen mapping × seen template that
   * explains the examples best, then, when those parts make a seen task, that task's own stored
   * combination; `all` = seen tasks' own combinations and part combinations compete on the examples'
   * loss (a seen task can then take a new task's examples).
   */
  select?: 'parts' | 'all';
}

export interface ComposeGeneratorState {
  config: { rank: number; bits: QuantBits; ridge: number; store?: 'parts' | 'tasks' };
  /** Layout of a piece (rank `rank`, α = rank). */
  layout: FlatLayout;
  /**
   * `parts` store: `centre`, `mapping:<name>`, `template:<name>`, `residual:<k>`; `tasks` store:
   * `task:<name>` in the order of `seen`, each with its kept rank per module (layout order; the rest zero).
   */
  pieces: { name: string; values: QuantisedVector; ranks?: number[] }[];
  tasks: string[];
  /** Seen tasks as candidates: parts and coefficients on the residual pieces (empty without them). */
  seen: { task: string; mapping: string; template: string; residual: number[] }[];
}

export interface ComposeResult {
  adapter: LoraAdapter;
  mapping: string;
  template: string;
  /** The seen task whose stored combination (parts + residual) was taken, if one was. */
  seenTask?: string;
  /** Completion loss of the examples: the inferred combination, and after refinement. */
  inferredLoss: number;
  loss: number;
  /** Per layer × piece coefficients. */
  coefficients: number[][];
}

export class ComposeGenerator {
  private pieceAdapters: LoraAdapter[] | undefined;

  constructor(readonly state: ComposeGeneratorState) {}

  get mappings(): string[] {
    if (this.storesTasks) return [...new Set(this.state.seen.map((x) => x.mapping))];
    return this.state.pieces.filter((p) => p.name.startsWith('mapping:')).map((p) => p.name.slice('mapping:'.length));
  }

  get templates(): string[] {
    if (this.storesTasks) return [...new Set(this.state.seen.map((x) => x.template))];
    return this.state.pieces.filter((p) => p.name.startsWith('template:')).map((p) => p.name.slice('template:'.length));
  }

  private get storesTasks(): boolean {
    return this.state.config.store === 'tasks';
  }

  static train(sets: readonly ComposeTrainingSet[], options: ComposeGeneratorOptions = {}): ComposeGenerator {
    if (sets.length < 2) throw new Error(`a compose generator needs at least 2 tasks, got ${sets.length}`);
    const rank = options.rank ?? 4;
    const bits = options.bits ?? 4;
    const ridge = options.ridge ?? 1e-3;
    if (!(rank >= 1) || !Number.isInteger(rank)) throw new Error(`rank must be a positive integer, got ${rank}`);
    if (options.store === 'tasks') return trainTaskStore(sets, rank, bits, ridge, options.budgetRatio ?? Infinity);
    const { names, x, h } = additiveMap(sets, ridge);
    const first = sets[0].adapter;
    const moduleNames = [...first.modules.keys()].sort(compareModules);
    const factors = names.map(() => new Map<string, { a: Float32Array; b: Float32Array; dIn: number; dOut: number }>());
    for (const module of moduleNames) {
      const deltas = sets.map((s) => moduleDelta(s.adapter, module));
      const [dOut, dIn] = deltas[0].shape;
      const d = deltas.map((t) => t.values);
      names.forEach((_, j) => {
        const piece = new Float64Array(dOut * dIn);
        d.forEach((v, i) => {
          const w = h[j][i];
          if (w !== 0) for (let k = 0; k < v.length; k++) piece[k] += w * v[k];
        });
        const { a, b } = truncatedFactors(piece, dOut, dIn, rank, 7 + j);
        factors[j].set(module, { a, b, dIn, dOut });
      });
    }
    const pieceAdapters = factors.map((f) => adapterOf(f, rank, first.targetModules));
    try {
      const layout = flatLayoutOf(pieceAdapters[0]);
      const segs = segmentsOf(layout);
      const pieces = pieceAdapters.map((a, j) => ({ name: names[j], values: quantise(flattenAdapter(a, { normalise: false }).values, segs, bits) }));
      const residualRank = Math.min(options.residualRank ?? 0, sets.length - 1);
      const residual = residualRank > 0 ? residualPieces(sets, moduleNames, x, h, residualRank, rank) : undefined;
      if (residual) residual.pieces.forEach((a, c) => pieces.push({ name: `residual:${c}`, values: quantise(flattenAdapter(a, { normalise: false }).values, segs, bits) }));
      residual?.pieces.forEach(disposeFactors);
      const seen = sets.map((s, i) => ({ task: s.task, mapping: s.mapping, template: s.template, residual: residual ? residual.coefficients[i] : [] }));
      return new ComposeGenerator({ config: { rank, bits, ridge }, layout, pieces, tasks: sets.map((s) => s.task), seen });
    } finally {
      pieceAdapters.forEach(disposeFactors);
    }
  }

  /** The stored pieces as adapters (dequantised once). */
  pieces(): LoraAdapter[] {
    if (!this.pieceAdapters) {
      const segs = segmentsOf(this.state.layout);
      this.pieceAdapters = this.state.pieces.map((p) =>
        p.ranks ? unpackRanks(dequantise(p.values, rankSegments(this.state.layout, p.ranks)), this.state.layout, p.ranks) : unflattenAdapter(dequantise(p.values, segs), this.state.layout),
      );
    }
    return this.pieceAdapters;
  }

  /** Frees the dequantised pieces (they are rebuilt on the next use). */
  dispose(): void {
    this.pieceAdapters?.forEach(disposeFactors);
    this.pieceAdapters = undefined;
  }

  /** Bytes of the stored pieces (codes and scales). */
  pieceBytes(): number {
    return this.state.pieces.reduce((a, p) => a + codeBytes(p.values.length, p.values.bits) + 4 * p.values.scales.length, 0);
  }

  /**
   * The combinations generation chooses from, as piece coefficients: each seen task's own stored
   * combination (parts store with residual pieces: its parts + residual coefficients; tasks store:
   * its own adapter), then every seen mapping × seen template (parts store: centre + mapping +
   * template pieces; tasks store: the least-squares weights of the seen tasks that make those pieces).
   */
  private candidates(names: string[]): { mapping: string; template: string; init: number[]; seenTask?: string }[] {
    const out: { mapping: string; template: string; init: number[]; seenTask?: string }[] = [];
    if (this.storesTasks) {
      const seen = this.state.seen;
      seen.forEach((st, i) => out.push({ mapping: st.mapping, template: st.template, seenTask: st.task, init: seen.map((_, j) => (j === i ? 1 : 0)) }));
      const { names: parts, h } = additiveMap(seen, this.state.config.ridge);
      for (const m of this.mappings) {
        for (const t of this.templates) {
          const rows = ['centre', `mapping:${m}`, `template:${t}`].map((n) => h[parts.indexOf(n)]);
          out.push({ mapping: m, template: t, init: seen.map((_, i) => rows.reduce((a, row) => a + row[i], 0)) });
        }
      }
      return out;
    }
    for (const st of this.state.seen.filter((x) => x.residual.length > 0)) {
      const init = names.map((x) =>
        x === 'centre' || x === `mapping:${st.mapping}` || x === `template:${st.template}` ? 1 : x.startsWith('residual:') ? st.residual[Number(x.slice(9))] : 0,
      );
      out.push({ mapping: st.mapping, template: st.template, init, seenTask: st.task });
    }
    for (const m of this.mappings) {
      for (const t of this.templates) out.push({ mapping: m, template: t, init: names.map((x) => (x === 'centre' || x === `mapping:${m}` || x === `template:${t}` ? 1 : 0)) });
    }
    return out;
  }

  /**
   * An adapter for the task the examples show: parts inferred by the examples' completion loss,
   * per-layer coefficients refined on them, re-factored to `outputRank`. Deterministic.
   */
  async generate(model: TransformerModel, tokenizer: TaskTokenizer, examples: readonly TaskExample[], options: ComposeGenerateOptions = {}): Promise<ComposeResult> {
    if (examples.length === 0) throw new Error('the compose generator needs at least one example');
    await ensureGradients();
    const steps = options.steps ?? 60;
    const lr = options.learningRate ?? 0.05;
    const l2 = options.l2 ?? 0.3;
    const outputRank = options.outputRank ?? 8;
    const pieces = this.pieces();
    const names = this.state.pieces.map((p) => p.name);
    const layers = model.config.nLayers;
    const n = pieces.length;
    const r = this.state.config.rank;
    const app = stackLora(model, pieces.map((adapter) => ({ adapter, strength: 1 })));
    const base = new Map([...app.modules].map(([k, v]) => [k, v.scale]));
    const data = encodeTaskExamples(tokenizer, examples);
    const batch = buildLmBatch(data, model.config.padTokenId ?? 0, model.config.maxPositions);
    const ids = tf.tensor2d(batch.inputIds, [batch.batch, batch.seq], 'int32');
    const targets = tf.tensor2d(batch.targets, [batch.batch, batch.seq], 'int32');
    const mask = tf.tensor2d(batch.mask, [batch.batch, batch.seq]);
    // Sets every module's rank-slot scales from coefficients c [layers, pieces] (a tensor, so the loss is differentiable in c).
    const setScales = (c: tf.Tensor2D) => {
      for (const [k, sc] of base) {
        const row = tf.reshape(tf.tile(tf.reshape(tf.slice(c, [layerOf(k), 0], [1, n]), [n, 1]), [1, r]), [1, n * r]);
        app.modules.get(k)!.scale = tf.mul(sc, row) as tf.Tensor2D;
      }
    };
    const lossOf = (c: tf.Tensor2D): tf.Scalar => {
      setScales(c);
      const { logits } = model.forward({ tokenIds: ids }, { lora: app, logits: 'all' });
      return maskedCrossEntropy(logits!, targets, mask);
    };
    const created: tf.Tensor[] = [ids, targets, mask];
    try {
      // 1. Parts: the combination of a seen mapping and a seen template that explains the examples best
      // (select 'all': seen tasks' own stored combinations compete too).
      let best = { mapping: '', template: '', loss: Infinity, init: [] as number[], seenTask: undefined as string | undefined };
      const candidates = this.candidates(names);
      const byParts = (options.select ?? 'parts') === 'parts';
      for (const cand of candidates) {
        if (byParts && cand.seenTask !== undefined) continue;
        const loss = tf.tidy(() => lossOf(tf.tensor2d(Array.from({ length: layers }, () => cand.init))).dataSync()[0]);
        if (loss < best.loss) best = { ...cand, seenTask: cand.seenTask, loss };
      }
      // Parts that make a seen task: start from that task's own stored combination (its adapter, or parts + residual).
      const own = byParts ? candidates.find((c) => c.seenTask !== undefined && c.mapping === best.mapping && c.template === best.template) : undefined;
      if (own) best = { ...own, seenTask: own.seenTask, loss: tf.tidy(() => lossOf(tf.tensor2d(Array.from({ length: layers }, () => own.init))).dataSync()[0]) };
      // 2. Refinement of per-layer coefficients on the examples.
      const c0 = tf.tensor2d(Array.from({ length: layers }, () => best.init));
      const c = tf.variable(c0.clone());
      created.push(c0, c);
      let loss = best.loss;
      if (steps > 0) {
        const opt = tf.train.adam(lr);
        for (let s = 0; s < steps; s++) {
          const cost = opt.minimize(() => tf.add(lossOf(c), tf.mul(l2, tf.sum(tf.square(tf.sub(c, c0))))) as tf.Scalar, true, [c]);
          cost?.dispose();
        }
        opt.dispose();
        loss = tf.tidy(() => lossOf(c).dataSync()[0]);
      }
      const coefficients = c.arraySync() as number[][];
      // 3. The composed ΔW per module, re-factored to the output rank.
      const modules = new Map<string, { a: Float32Array; b: Float32Array; dIn: number; dOut: number }>();
      for (const module of [...pieces[0].modules.keys()].sort(compareModules)) {
        const l = layerOf(module);
        let sum: { values: Float64Array; shape: [number, number] } | undefined;
        pieces.forEach((piece, j) => {
          const w = coefficients[l][j];
          if (w === 0) return;
          const d = moduleDelta(piece, module);
          sum ??= { values: new Float64Array(d.values.length), shape: d.shape };
          for (let k = 0; k < d.values.length; k++) sum.values[k] += w * d.values[k];
        });
        const [dOut, dIn] = sum!.shape;
        modules.set(module, { ...truncatedFactors(sum!.values, dOut, dIn, outputRank, 11), dIn, dOut });
      }
      return {
        adapter: adapterOf(modules, outputRank, pieces[0].targetModules),
        mapping: best.mapping,
        template: best.template,
        seenTask: best.seenTask,
        inferredLoss: best.loss,
        loss,
        coefficients,
      };
    } finally {
      for (const [k, sc] of base) {
        const cur = app.modules.get(k)!.scale;
        if (cur !== sc) cur.dispose();
        app.modules.get(k)!.scale = sc;
      }
      app.dispose();
      created.forEach((t) => t.dispose());
    }
  }
}

/**
 * The additive model's least-squares map: design matrix x [tasks][parts] (centre, mapping:m,
 * template:t) and H = (XᵀX + ridge·I')⁻¹ Xᵀ [parts][tasks] (no ridge on the centre), so that part
 * piece j = Σ_i H[j][i]·ΔW_i.
 */
function additiveMap(sets: readonly { mapping: string; template: string }[], ridge: number): { names: string[]; x: number[][]; h: number[][] } {
  const mappings = [...new Set(sets.map((s) => s.mapping))];
  const templates = [...new Set(sets.map((s) => s.template))];
  const names = ['centre', ...mappings.map((m) => `mapping:${m}`), ...templates.map((t) => `template:${t}`)];
  const x = sets.map((s) => names.map((n) => (n === 'centre' || n === `mapping:${s.mapping}` || n === `template:${s.template}` ? 1 : 0)));
  const p = names.length;
  const xtx = Array.from({ length: p }, (_, i) => Array.from({ length: p }, (_, j) => x.reduce((a, r) => a + r[i] * r[j], 0) + (i === j && i > 0 ? ridge : 0)));
  return { names, x, h: solveColumns(xtx, names.map((_, i) => x.map((r) => r[i])), 'the compose generator') };
}

/**
 * `tasks` store: every seen task's ΔW per module as balanced SVD factors of rank `rank`; ranks are
 * cut, one component at a time, where the component holds the least share of its module's energy
 * per stored byte, until codes and scales fit the budget; then quantised with one scale per kept rank
 * component of each factor.
 */
function trainTaskStore(sets: readonly ComposeTrainingSet[], rank: number, bits: QuantBits, ridge: number, budgetRatio: number): ComposeGenerator {
  const first = sets[0].adapter;
  // The flat layout's module order: packing, scales and unpacking all follow it.
  const moduleNames = sortedModuleNames(first);
  const f16Bytes = sets.reduce((n, s) => n + 2 * [...s.adapter.modules.values()].reduce((k, m) => k + m.a.size + m.b.size, 0), 0);
  const perValue = codeBytes(2, bits) / 2;
  const tasks = sets.map((s) =>
    moduleNames.map((module) => {
      const d = moduleDelta(s.adapter, module);
      const [dOut, dIn] = d.shape;
      const f = truncatedFactors(d.values, dOut, dIn, rank, 5);
      let total = 0;
      for (const v of d.values) total += v * v;
      // Energy of component q: ‖b[:, q]‖²·‖a[q, :]‖² (= σ_q² for balanced factors).
      const energy = Array.from({ length: rank }, (_, q) => {
        let na = 0;
        let nb = 0;
        for (let i = 0; i < dIn; i++) na += f.a[q * dIn + i] ** 2;
        for (let o = 0; o < dOut; o++) nb += f.b[o * rank + q] ** 2;
        return total > 0 ? (na * nb) / total : 0;
      });
      return { ...f, dIn, dOut, energy, kept: rank };
    }),
  );
  // A kept component costs its codes and its two scales (float32).
  const componentBytes = (m: { dIn: number; dOut: number }) => (m.dIn + m.dOut) * perValue + 8;
  let bytes = tasks.reduce((n, t) => n + t.reduce((k, m) => k + m.kept * componentBytes(m), 0), 0);
  const budget = budgetRatio * f16Bytes;
  while (bytes > budget) {
    let pick: (typeof tasks)[number][number] | undefined;
    let cost = Infinity;
    for (const t of tasks) {
      for (const m of t) {
        if (m.kept <= 1) continue;
        const c = m.energy[m.kept - 1] / (m.dIn + m.dOut);
        if (c < cost) [pick, cost] = [m, c];
      }
    }
    if (!pick) break;
    pick.kept -= 1;
    bytes -= componentBytes(pick);
  }
  const adapter = adapterOf(new Map(moduleNames.map((m, k) => [m, tasks[0][k]])), rank, first.targetModules);
  try {
    const layout = flatLayoutOf(adapter);
    const pieces = sets.map((s, i) => {
      const ranks = tasks[i].map((m) => m.kept);
      const values = packRanks(tasks[i], rank, ranks);
      return { name: `task:${s.task}`, ranks, values: quantise(values, rankSegments(layout, ranks), bits) };
    });
    const seen = sets.map((s) => ({ task: s.task, mapping: s.mapping, template: s.template, residual: [] as number[] }));
    return new ComposeGenerator({ config: { rank, bits, ridge, store: 'tasks' }, layout, pieces, tasks: sets.map((s) => s.task), seen });
  } finally {
    disposeFactors(adapter);
  }
}

/**
 * One scale per kept rank component: per module, the kept rows of A (each dIn values), then the kept
 * columns of B (each dOut values, stored contiguously), in layout order. Balanced SVD factors carry
 * √σ in every component, so a scale per factor would give the weaker components only a few levels.
 */
export function rankSegments(layout: FlatLayout, ranks: readonly number[]): { offset: number; length: number }[] {
  const out: { offset: number; length: number }[] = [];
  let offset = 0;
  for (let k = 0; k < ranks.length; k++) {
    const dIn = layout.entries[2 * k].shape[1];
    const dOut = layout.entries[2 * k + 1].shape[0];
    for (const length of [...Array<number>(ranks[k]).fill(dIn), ...Array<number>(ranks[k]).fill(dOut)]) {
      out.push({ offset, length });
      offset += length;
    }
  }
  return out;
}

/** The kept components of each module's factors, packed in `rankSegments` order. */
function packRanks(modules: readonly { a: Float32Array; b: Float32Array; dIn: number; dOut: number }[], rank: number, ranks: readonly number[]): Float32Array {
  const out = new Float32Array(modules.reduce((n, m, k) => n + ranks[k] * (m.dIn + m.dOut), 0));
  let at = 0;
  modules.forEach((m, k) => {
    const r = ranks[k];
    out.set(m.a.subarray(0, r * m.dIn), at);
    at += r * m.dIn;
    for (let q = 0; q < r; q++) for (let o = 0; o < m.dOut; o++) out[at + q * m.dOut + o] = m.b[o * rank + q];
    at += m.dOut * r;
  });
  return out;
}

/** A rank-`layout.rank` adapter from packed kept components (the cut components zero). */
function unpackRanks(values: Float32Array, layout: FlatLayout, ranks: readonly number[]): LoraAdapter {
  const rank = layout.rank;
  const modules = new Map<string, { a: Float32Array; b: Float32Array; dIn: number; dOut: number }>();
  let at = 0;
  ranks.forEach((r, k) => {
    const entry = layout.entries[2 * k];
    const dIn = entry.shape[1];
    const dOut = layout.entries[2 * k + 1].shape[0];
    const a = new Float32Array(rank * dIn);
    a.set(values.subarray(at, at + r * dIn));
    at += r * dIn;
    const b = new Float32Array(dOut * rank);
    for (let q = 0; q < r; q++) for (let o = 0; o < dOut; o++) b[o * rank + q] = values[at + q * dOut + o];
    at += dOut * r;
    modules.set(entry.module, { a, b, dIn, dOut });
  });
  return adapterOf(modules, rank, layout.targetModules);
}

/**
 * Residual pieces: R_i = ΔW_i − Σ_j x_ij·piece_j (untruncated pieces) for every seen task; the top
 * `count` eigenvectors e_c of the tasks' Gram matrix K_ii' = Σ_modules ⟨R_i, R_i'⟩ give unit
 * directions D_c = Σ_i e_c[i]·R_i / √λ_c (each truncated to `rank`) and task coefficients
 * ⟨R_i, D_c⟩ = √λ_c·e_c[i].
 */
function residualPieces(
  sets: readonly ComposeTrainingSet[],
  moduleNames: string[],
  x: number[][],
  h: number[][],
  count: number,
  rank: number,
): { pieces: LoraAdapter[]; coefficients: number[][] } {
  const n = sets.length;
  const residualsOf = (module: string): Float64Array[] => {
    const deltas = sets.map((s) => moduleDelta(s.adapter, module).values);
    const pieces = h.map((row) => {
      const p = new Float64Array(deltas[0].length);
      row.forEach((w, i) => {
        if (w !== 0) for (let k = 0; k < p.length; k++) p[k] += w * deltas[i][k];
      });
      return p;
    });
    return deltas.map((d, i) => {
      const r = Float64Array.from(d);
      x[i].forEach((w, j) => {
        if (w !== 0) for (let k = 0; k < r.length; k++) r[k] -= w * pieces[j][k];
      });
      return r;
    });
  };
  const gram = Array.from({ length: n }, () => new Float64Array(n));
  for (const module of moduleNames) {
    const r = residualsOf(module);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) gram[i][j] = gram[j][i] = gram[i][j] + dotF(r[i], r[j]);
  }
  const { values, vectors } = symmetricEigen(gram);
  const kept = Array.from({ length: count }, (_, c) => c).filter((c) => values[c] > 1e-12 * values[0]);
  const factors = kept.map(() => new Map<string, { a: Float32Array; b: Float32Array; dIn: number; dOut: number }>());
  for (const module of moduleNames) {
    const r = residualsOf(module);
    const shape = moduleDelta(sets[0].adapter, module).shape;
    kept.forEach((c, q) => {
      const d = new Float64Array(r[0].length);
      const norm = Math.sqrt(values[c]);
      for (let i = 0; i < n; i++) {
        const w = vectors[c][i] / norm;
        for (let k = 0; k < d.length; k++) d[k] += w * r[i][k];
      }
      factors[q].set(module, { ...truncatedFactors(d, shape[0], shape[1], rank, 31 + q), dIn: shape[1], dOut: shape[0] });
    });
  }
  return {
    pieces: factors.map((f) => adapterOf(f, rank, sets[0].adapter.targetModules)),
    coefficients: sets.map((_, i) => kept.map((c) => Math.sqrt(values[c]) * vectors[c][i])),
  };
}

/** Layer index of an HF module name (`model.layers.3.mlp.up_proj` → 3). */
function layerOf(module: string): number {
  const m = /\.(\d+)\./.exec(module);
  if (!m) throw new Error(`module ${module} has no layer index`);
  return Number(m[1]);
}

function compareModules(a: string, b: string): number {
  return layerOf(a) - layerOf(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** (α/r)·B·A of one module, row-major [dOut, dIn], float64. */
function moduleDelta(adapter: LoraAdapter, module: string): { values: Float64Array; shape: [number, number] } {
  const m = adapter.modules.get(module);
  if (!m) throw new Error(`adapter has no module ${module}`);
  const [r, dIn] = m.a.shape;
  const dOut = m.b.shape[0];
  const a = m.a.dataSync();
  const b = m.b.dataSync();
  const s = adapter.alpha / adapter.rank;
  const out = new Float64Array(dOut * dIn);
  for (let o = 0; o < dOut; o++) {
    for (let k = 0; k < r; k++) {
      const w = s * b[o * r + k];
      if (w === 0) continue;
      const row = k * dIn;
      const at = o * dIn;
      for (let i = 0; i < dIn; i++) out[at + i] += w * a[row + i];
    }
  }
  return { values: out, shape: [dOut, dIn] };
}

/**
 * Best rank-k factors of M [rows, cols] (row-major): B = U·√Σ [rows, k], A = √Σ·Vᵀ [k, cols], by
 * orthogonal iteration on the right singular subspace (seeded start), then the k×k eigenproblem.
 */
export function truncatedFactors(m: Float64Array, rows: number, cols: number, k: number, seed = 1, iterations = 40): { a: Float32Array; b: Float32Array } {
  const rnd = new SeededRandom(seed);
  let v: Float64Array[] = Array.from({ length: k }, () => Float64Array.from({ length: cols }, () => rnd.normal()));
  orthonormalise(v);
  const mv = (x: Float64Array): Float64Array => {
    const y = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      const at = i * cols;
      for (let j = 0; j < cols; j++) s += m[at + j] * x[j];
      y[i] = s;
    }
    return y;
  };
  const mtv = (y: Float64Array): Float64Array => {
    const x = new Float64Array(cols);
    for (let i = 0; i < rows; i++) {
      const w = y[i];
      if (w === 0) continue;
      const at = i * cols;
      for (let j = 0; j < cols; j++) x[j] += w * m[at + j];
    }
    return x;
  };
  for (let it = 0; it < iterations; it++) {
    const u = v.map(mv);
    orthonormalise(u);
    v = u.map(mtv);
    orthonormalise(v);
  }
  // M V = Y [rows, k]; rotate V so that Yᵀ Y is diagonal: singular values and vectors in order.
  const y = v.map(mv);
  const g = y.map((a) => Float64Array.from(y, (b) => dotF(a, b)));
  const { values, vectors } = symmetricEigen(g);
  const a = new Float32Array(k * cols);
  const b = new Float32Array(rows * k);
  for (let c = 0; c < k; c++) {
    const sigma = Math.sqrt(Math.max(values[c], 0));
    if (sigma === 0) continue;
    const root = Math.sqrt(sigma);
    // right vector = Σ_i vectors[c][i] · v_i ; left vector = (M · right) / σ
    for (let i = 0; i < k; i++) {
      const w = vectors[c][i];
      for (let j = 0; j < cols; j++) a[c * cols + j] += root * w * v[i][j];
      for (let o = 0; o < rows; o++) b[o * k + c] += (w * y[i][o] / sigma) * root;
    }
  }
  return { a, b };
}

/**
 * Gram-Schmidt, twice per vector (one pass loses orthogonality on nearly dependent vectors); a
 * vector that keeps < 1e-9 of its length (beyond the matrix's rank) becomes zero.
 */
function orthonormalise(vs: Float64Array[]): void {
  for (let i = 0; i < vs.length; i++) {
    const before = Math.sqrt(dotF(vs[i], vs[i]));
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        const d = dotF(vs[i], vs[j]);
        for (let t = 0; t < vs[i].length; t++) vs[i][t] -= d * vs[j][t];
      }
    }
    const n = Math.sqrt(dotF(vs[i], vs[i]));
    if (n > 1e-9 * before && n > 1e-300) for (let t = 0; t < vs[i].length; t++) vs[i][t] /= n;
    else vs[i].fill(0);
  }
}

function dotF(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function adapterOf(modules: Map<string, { a: Float32Array; b: Float32Array; dIn: number; dOut: number }>, rank: number, targetModules: string[]): LoraAdapter {
  const out = new Map<string, LoraModuleWeights>();
  for (const [name, f] of modules) out.set(name, { a: tf.tensor2d(f.a, [rank, f.dIn]), b: tf.tensor2d(f.b, [f.dOut, rank]) });
  return { rank, alpha: rank, targetModules: [...targetModules], modules: out };
}

function disposeFactors(a: LoraAdapter): void {
  for (const m of a.modules.values()) {
    m.a.dispose();
    m.b.dispose();
  }
}
