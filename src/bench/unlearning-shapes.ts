/**
 * Request-shape suite of bench:unlearning (issue 11, DESIGN §9): the requests people actually send —
 * one fact, one author's facts once each, one author in 3 phrasings, two authors, part of an author,
 * statements instead of questions, overlapping requests on one author, and one author typed in lower case — each run as 5 sequential
 * requests with every method side by side. Metrics after the last request count only items the base
 * model answers right. Near-negatives take their names and templates from reference prompts about
 * authors the evaluation never asks about, so `retained` measures authors the pipeline never saw.
 */
import type { TextTokenizer } from '../engine/generate.js';
import { disposeAdapter } from '../engine/lora-trainable.js';
import type { LoraAdapter, PlanEntry } from '../engine/lora-types.js';
import { importPeftAdapter } from '../engine/peft.js';
import type { TransformerModel } from '../engine/transformer.js';
import { applyGatePolicy, auroc, deserializeDetector, promptEntityIndex, scoreDetector, type ForgetItem, type OodDetector } from '../ood/index.js';
import { answerWithPlans, baseFeatures, gatePlan, planEntries, type GatedAdapter } from '../unlearning/gated-answer.js';
import { runUnlearning } from '../unlearning/pipeline.js';
import { evenlySpaced } from '../unlearning/reference-prompts.js';
import { EXTRA_REFUSALS } from '../unlearning/refusals.js';
import type { UnlearningMetrics, UnlearningOptions } from '../unlearning/unlearning-types.js';
import { REFUSALS as OOD_REFUSALS } from '../ood/relabel.js';
import { normaliseAnswer, scoreAnswer } from './scoring.js';
import { FACT_TYPES, NEW_TEMPLATES, STATEMENTS, type FactType } from '../world/phrasings.js';
import { formatPrompt, utilityItems, type Author, type World, type WorldItem } from './world.js';

export const SHAPES = ['one-fact', 'one-author-once', 'one-author', 'two-authors', 'part-of-author', 'texts', 'overlapping', 'lowercase', 'bare'] as const;
export type Shape = (typeof SHAPES)[number];
export const SHAPE_METHODS = ['lethe', 'always-on', 'lambda-0', 'o3-shared', 'no-near-negatives'] as const;
export type ShapeMethod = (typeof SHAPE_METHODS)[number];

export interface ShapeSuiteConfig {
  shapes: readonly Shape[];
  methods: readonly ShapeMethod[];
  requests: number;
  /** Pipeline options for every trained method (epochs, maxSteps...). */
  pipeline: Partial<UnlearningOptions>;
  /** Other authors' questions evaluated (evenly spaced sample). */
  retainedItems: number;
  utilityItems: number;
  /** Reference prompts given to the pipeline (about authors outside the evaluation). */
  referenceItems: number;
  maxTokens: number;
  seed: number;
}

export const SHAPES_FULL: ShapeSuiteConfig = {
  shapes: SHAPES,
  methods: SHAPE_METHODS,
  requests: 5,
  pipeline: {},
  retainedItems: 240,
  utilityItems: 120,
  referenceItems: 600,
  maxTokens: 12,
  seed: 0,
};

export const SHAPES_QUICK: ShapeSuiteConfig = {
  ...SHAPES_FULL,
  methods: ['lethe', 'always-on'],
  requests: 1,
  pipeline: { maxSteps: 6, checkItems: 4 },
  retainedItems: 24,
  utilityItems: 12,
  referenceItems: 120,
  maxTokens: 8,
};

/** The metrics of one method on one shape after the last request (issue 11's keys). */
export interface ShapeMetrics {
  leakRequest: number | null;
  leakParaphrase: number | null;
  leakNewTemplates: number | null;
  retained: number | null;
  sameAuthorRetained?: number | null;
  utility: number | null;
  degenerate: number | null;
  aurocOtherAuthors: number | null;
  falseFireOtherAuthors: number | null;
  seconds: number;
  /** Requests whose checks passed (the service would have activated them). */
  activated?: number;
}

export interface ShapeResult {
  requests: { items: number; authors: string[]; facts: number }[];
  methods: Partial<Record<ShapeMethod, ShapeMetrics>>;
  /** `overlapping`: revoking the first request's adapter (lethe, lambda-0): leak on its facts and on the others'. */
  revokeFirst?: Partial<Record<ShapeMethod, { leakRevokedFacts: number | null; leakOtherFacts: number | null }>>;
  pipeline: { method: ShapeMethod; request: number; metrics: UnlearningMetrics }[];
}

/** One evaluation set: items with base answers, correctness and features. */
interface EvalSet {
  items: { prompt: string; answer: string }[];
  baseCorrect: boolean[];
  features: Float32Array[][];
  /** Entity indexes of the prompts (entity gates). */
  entities: Set<string>[];
}

/** A fact of an author (what a request forgets). */
interface Fact {
  author: Author;
  type: FactType;
}

/** The requests of a shape: for each, its forget items and the facts they forget. */
export function shapeRequests(world: World, shape: Shape, requests: number): { items: ForgetItem[]; facts: Fact[] }[] {
  const authors = world.authors.filter((a) => !a.heldOut);
  const trainedPhrasings = (a: Author, f: FactType) => [0, 1, 2, 3].filter((p) => p !== a.paraphrasePhrasing[f]);
  const question = (a: Author, f: FactType, p: number): ForgetItem => {
    const item = world.items.find((i) => i.authorId === a.id && i.type === f && i.phrasing === p)!;
    return { prompt: item.prompt, answer: item.answer };
  };
  const once = (a: Author, facts: readonly FactType[]) => ({ items: facts.map((f) => question(a, f, trainedPhrasings(a, f)[0])), facts: facts.map((type) => ({ author: a, type })) });
  const all = (as: readonly Author[]) => ({
    items: as.flatMap((a) => FACT_TYPES.flatMap((f) => trainedPhrasings(a, f).map((p) => question(a, f, p)))),
    facts: as.flatMap((a) => FACT_TYPES.map((type) => ({ author: a, type }))),
  });
  return Array.from({ length: requests }, (_, t) => {
    switch (shape) {
      case 'one-fact':
        return once(authors[t], [FACT_TYPES[t % FACT_TYPES.length]]);
      case 'one-author-once':
        return once(authors[t], FACT_TYPES);
      case 'one-author':
        return all([authors[t]]);
      case 'two-authors':
        return all([authors[2 * t], authors[2 * t + 1]]);
      case 'part-of-author':
        return once(authors[t], [0, 1, 2].map((k) => FACT_TYPES[(3 * t + k) % FACT_TYPES.length]));
      case 'texts': {
        const a = authors[t];
        return { items: FACT_TYPES.map((f) => ({ prompt: STATEMENTS[f].replace('{n}', a.name).replace('{a}', a.facts[f]) })), facts: FACT_TYPES.map((type) => ({ author: a, type })) };
      }
      case 'lowercase': {
        // Typed in a hurry: one author's facts once each, all in lower case (the users who ask keep theirs capitalised).
        const r = once(authors[t], FACT_TYPES);
        return { items: r.items.map((i) => ({ ...i, prompt: formatPrompt(world.items.find((w) => w.prompt === i.prompt)!.question.toLowerCase()) })), facts: r.facts };
      }
      case 'bare': {
        // Pasted from a chat: one author's facts once each as bare questions, without the model's prompt format.
        const r = once(authors[t], FACT_TYPES);
        return { items: r.items.map((i) => ({ ...i, prompt: world.items.find((w) => w.prompt === i.prompt)!.question })), facts: r.facts };
      }
      case 'overlapping':
        // Every request forgets another fact of the same author: the gates co-fire on that author.
        return once(authors[0], [FACT_TYPES[(2 * t) % FACT_TYPES.length]]);
    }
  });
}

/** Authors the shapes may forget (the first 10); the evaluation asks about 10–49; the reference pool names 50–99. */
const FORGET_AUTHORS = 10;
const REFERENCE_FROM = 50;

type Log = (line: string) => void;

/**
 * What the benchmarks give the pipeline as reference prompts, standing in for a model folder's
 * reference data: trained questions about authors 50–99 (never forgotten, never evaluated as
 * retained) and some utility questions.
 */
export function benchReferencePrompts(world: World, authorItems = 600): string[] {
  // Whole authors, so that every question template appears (a spaced sample of the author-major item
  // list would keep the same few phrasings of every author).
  const pool = world.authors.filter((a) => !a.heldOut).slice(REFERENCE_FROM);
  const perAuthor = world.items.filter((i) => i.authorId === pool[0].id && i.split === 'trained').length;
  const refAuthors = new Set(evenlySpaced(pool, Math.max(1, Math.floor(authorItems / perAuthor))).map((a) => a.id));
  return [
    ...world.items.filter((i) => refAuthors.has(i.authorId) && i.split === 'trained').map((i) => i.prompt),
    ...evenlySpaced(utilityItems(world), 48).map((i) => i.prompt),
  ];
}

/** True for authors the benchmarks may evaluate as retained (not in the reference pool). */
export function evaluableAuthor(world: World, authorId: number): boolean {
  const trained = world.authors.filter((a) => !a.heldOut);
  return trained.findIndex((a) => a.id === authorId) < REFERENCE_FROM;
}

/** Runs the suite: every shape × method, 5 sequential requests each; metrics after the last. */
export async function runShapeSuite(model: TransformerModel, tokenizer: TextTokenizer, world: World, cfg: ShapeSuiteConfig, log: Log = () => {}): Promise<Record<string, ShapeResult>> {
  const authors = world.authors.filter((a) => !a.heldOut);
  const evalAuthors = new Set(authors.slice(FORGET_AUTHORS, REFERENCE_FROM).map((a) => a.id));
  const referencePrompts = benchReferencePrompts(world, cfg.referenceItems);
  const answerPool = new Set([...world.items.map((i) => normaliseAnswer(i.answer)), ...[...OOD_REFUSALS, ...EXTRA_REFUSALS].map(normaliseAnswer)]);

  const makeSet = async (items: { prompt: string; answer: string }[]): Promise<EvalSet> => {
    const ids = items.map((i) => tokenizer.encode(i.prompt));
    const base = await answerWithPlans(model, tokenizer, ids, ids.map(() => []), { maxTokens: cfg.maxTokens });
    return { items, baseCorrect: base.map((r, i) => scoreAnswer(r.text, items[i].answer)), features: baseFeatures(model, ids), entities: items.map((i) => promptEntityIndex(i.prompt)) };
  };
  const retained = await makeSet(evenlySpaced(world.items.filter((i) => evalAuthors.has(i.authorId) && (i.split === 'trained' || i.split === 'paraphrase')), cfg.retainedItems));
  const utility = await makeSet(evenlySpaced(utilityItems(world), cfg.utilityItems));
  log(`shape suite: retained ${retained.items.length} (base ${count(retained.baseCorrect)} right), utility ${utility.items.length} (${count(utility.baseCorrect)}), ${referencePrompts.length} reference prompts`);

  const out: Record<string, ShapeResult> = {};
  for (const shape of cfg.shapes) {
    const reqs = shapeRequests(world, shape, cfg.requests);
    const facts = reqs.flatMap((r) => r.facts);
    const worldQuestion = (f: Fact, pred: (i: WorldItem) => boolean) => world.items.filter((i) => i.authorId === f.author.id && i.type === f.type && pred(i)).map((i) => ({ prompt: i.prompt, answer: i.answer }));
    const factSets = async (fs: Fact[], requestItems: ForgetItem[]) => ({
      // Statements carry no question: their "request prompts" are the facts' first trained phrasing.
      request: await makeSet(shape === 'texts' ? fs.flatMap((f) => worldQuestion(f, (i) => i.split === 'trained').slice(0, 1)) : requestItems.map((i) => ({ prompt: i.prompt, answer: i.answer! }))),
      paraphrase: await makeSet(fs.flatMap((f) => worldQuestion(f, (i) => i.split === 'paraphrase'))),
      newTemplates: await makeSet(fs.flatMap((f) => NEW_TEMPLATES[f.type].map((t) => ({ prompt: formatPrompt(t.replace('{n}', f.author.name)), answer: f.author.facts[f.type] })))),
    });
    const forgotten = await factSets(facts, reqs.flatMap((r) => r.items));
    const perRequest = await Promise.all(reqs.map((r) => factSets(r.facts, r.items)));
    const forgottenKeys = new Set(facts.map((f) => `${f.author.id}:${f.type}`));
    // Requests that name only some of an author's facts: the other facts must stay answered.
    const partial = shape === 'one-fact' || shape === 'part-of-author' || shape === 'overlapping';
    const sameAuthor = partial
      ? await makeSet(world.items.filter((i) => facts.some((f) => f.author.id === i.authorId) && !forgottenKeys.has(`${i.authorId}:${i.type}`) && (i.split === 'trained' || i.split === 'paraphrase')).map((i) => ({ prompt: i.prompt, answer: i.answer })))
      : undefined;

    const result: ShapeResult = { requests: reqs.map((r) => ({ items: r.items.length, authors: [...new Set(r.facts.map((f) => f.author.name))], facts: r.facts.length })), methods: {}, pipeline: [] };
    const trained: Partial<Record<'lethe' | 'lambda-0' | 'o3-shared' | 'no-near-negatives', { adapter: LoraAdapter; detector: OodDetector; seconds: number; passed: boolean }[]>> = {};
    const trainedMethods = (['lethe', 'lambda-0', 'o3-shared', 'no-near-negatives'] as const).filter((m) => cfg.methods.includes(m) || (m === 'lethe' && cfg.methods.includes('always-on')));
    for (let t = 0; t < reqs.length; t++) {
      for (const m of trainedMethods) {
        const list = (trained[m] ??= []);
        const r = await runUnlearning({
          model,
          tokenizer,
          items: reqs[t].items,
          relabel: 'refusal',
          // λ = 0 makes L_orth vanish; the earlier adapters and detectors still tell near-negatives what users get now.
          frozenAdapters: m === 'o3-shared' ? [] : list.map((x) => x.adapter),
          frozenDetectors: m === 'o3-shared' ? undefined : list.map((x) => x.detector),
          initAdapter: m === 'o3-shared' && t > 0 ? list[t - 1].adapter : undefined,
          referencePrompts,
          options: { ...cfg.pipeline, lambda: m === 'lambda-0' || m === 'o3-shared' ? 0 : 0.1, nearNegatives: m !== 'no-near-negatives', seed: cfg.seed + t },
        });
        result.pipeline.push({ method: m, request: t + 1, metrics: r.metrics });
        list.push({ adapter: importPeftAdapter(r.adapterConfig, r.adapterWeights, model.config), detector: deserializeDetector(r.detector), seconds: r.metrics.seconds.total, passed: r.metrics.activation.passed });
        log(`  ${shape} request ${t + 1} ${m}: ${r.metrics.steps} steps, ${r.metrics.seconds.total.toFixed(1)} s, +${r.metrics.nearNegatives.forgetPrompts} found / ${r.metrics.nearNegatives.otherEntity} other / ${r.metrics.nearNegatives.sameEntity} same, checks ${r.metrics.activation.passed ? 'passed' : `failed: ${r.metrics.activation.failures.join(', ')}`}`);
      }
    }

    const gated = (list: { adapter: LoraAdapter; detector: OodDetector }[]): GatedAdapter[] => list.map((x, k) => ({ id: `r${k + 1}`, name: `request-${k + 1}`, version: 1, adapter: x.adapter, detector: x.detector }));
    /** Per prompt: the applied plan and the largest strength any gate gives. */
    type Rows = (set: EvalSet) => { rows: PlanEntry[][]; fire: number[] };
    const viaGates = (g: GatedAdapter[]): Rows => (set) => {
      const rows: PlanEntry[][] = [];
      const fire: number[] = [];
      for (const [i, f] of set.features.entries()) {
        const gates = g.map((a) => {
          const s = scoreDetector(a.detector, f, set.entities[i]);
          return { adapterId: a.id, z: s.z, gate: s.w, strength: applyGatePolicy(s.w) };
        });
        rows.push(planEntries(gatePlan(gates, g), g));
        fire.push(Math.max(0, ...gates.map((x) => x.strength)));
      }
      return { rows, fire };
    };
    const alwaysOn = (adapters: LoraAdapter[]): Rows => (set) => ({ rows: set.features.map(() => adapters.map((adapter) => ({ adapter, strength: 1 }))), fire: set.features.map(() => 1) });
    const shared = (): Rows => (set) => {
      const list = trained['o3-shared']!;
      const adapter = list[list.length - 1].adapter;
      const fire = set.features.map((f, i) => Math.max(...list.map((x) => applyGatePolicy(scoreDetector(x.detector, f, set.entities[i]).w))));
      return { rows: fire.map((s) => (s > 0 ? [{ adapter, strength: s }] : [])), fire };
    };
    const rowsOf = (m: ShapeMethod): Rows => {
      switch (m) {
        case 'always-on':
          return alwaysOn(trained.lethe!.map((x) => x.adapter));
        case 'o3-shared':
          return shared();
        default:
          return viaGates(gated(trained[m]!));
      }
    };
    /** Answers with a method; returns per-item correctness and degenerate flags. */
    const evaluate = async (set: EvalSet, rows: Rows) => {
      const r = rows(set);
      const res = await answerWithPlans(model, tokenizer, set.items.map((i) => i.prompt), r.rows, { maxTokens: cfg.maxTokens });
      const correct = res.map((x, i) => scoreAnswer(x.text, set.items[i].answer));
      const degenerate = res.map((x, i) => !correct[i] && !answerPool.has(normaliseAnswer(x.text.split('\n')[0])));
      return { correct, degenerate, fire: r.fire };
    };
    /** Share of base-correct items still answered right (leak on forget sets, retention elsewhere). */
    const keptRate = (set: EvalSet, correct: boolean[]): number | null => {
      const idx = set.baseCorrect.map((b, i) => (b ? i : -1)).filter((i) => i >= 0);
      return idx.length === 0 ? null : idx.filter((i) => correct[i]).length / idx.length;
    };

    for (const m of cfg.methods) {
      const rows = rowsOf(m);
      const req = await evaluate(forgotten.request, rows);
      const para = await evaluate(forgotten.paraphrase, rows);
      const tpl = await evaluate(forgotten.newTemplates, rows);
      const ret = await evaluate(retained, rows);
      const ut = await evaluate(utility, rows);
      const same = sameAuthor ? await evaluate(sameAuthor, rows) : undefined;
      const evaluated: [EvalSet, { degenerate: boolean[] }][] = [[forgotten.request, req], [forgotten.paraphrase, para], [forgotten.newTemplates, tpl], [retained, ret], [utility, ut], ...(same && sameAuthor ? [[sameAuthor, same] as [EvalSet, { degenerate: boolean[] }]] : [])];
      let degenerate = 0;
      let counted = 0;
      for (const [set, e] of evaluated) {
        set.baseCorrect.forEach((b, i) => {
          if (!b) return;
          counted++;
          if (e.degenerate[i]) degenerate++;
        });
      }
      const list = m === 'always-on' ? undefined : m === 'o3-shared' ? trained['o3-shared'] : trained[m];
      const aurocs = list?.map((x, k) => {
        // The gate's own score: the peak for prompts naming a forget entity, else the features' z.
        const score = (set: EvalSet) => set.features.map((f, i) => {
          const s = scoreDetector(x.detector, f, set.entities[i]);
          return s.entity ? Number.POSITIVE_INFINITY : s.z;
        });
        const pos = [...score(perRequest[k].paraphrase), ...score(perRequest[k].newTemplates)];
        return pos.length === 0 ? Number.NaN : auroc(pos, score(retained));
      });
      const methodList = m === 'always-on' ? trained.lethe! : list!;
      const metrics: ShapeMetrics = {
        leakRequest: keptRate(forgotten.request, req.correct),
        leakParaphrase: keptRate(forgotten.paraphrase, para.correct),
        leakNewTemplates: keptRate(forgotten.newTemplates, tpl.correct),
        retained: keptRate(retained, ret.correct),
        ...(sameAuthor && same ? { sameAuthorRetained: keptRate(sameAuthor, same.correct) } : {}),
        utility: keptRate(utility, ut.correct),
        degenerate: counted === 0 ? null : degenerate / counted,
        aurocOtherAuthors: aurocs ? meanOrNull(aurocs.filter((x) => !Number.isNaN(x))) : null,
        falseFireOtherAuthors: m === 'always-on' ? null : ret.fire.filter((s) => s >= 0.5).length / Math.max(1, ret.fire.length),
        seconds: methodList.reduce((a, x) => a + x.seconds, 0) / methodList.length,
        activated: methodList.filter((x) => x.passed).length,
      };
      result.methods[m] = metrics;
      log(`  ${shape.padEnd(16)} ${m.padEnd(18)} leak req/para/new ${fmt(metrics.leakRequest)}/${fmt(metrics.leakParaphrase)}/${fmt(metrics.leakNewTemplates)} retained ${fmt(metrics.retained)}${metrics.sameAuthorRetained !== undefined ? ` same-author ${fmt(metrics.sameAuthorRetained)}` : ''} utility ${fmt(metrics.utility)} degenerate ${fmt(metrics.degenerate)} auroc ${fmt(metrics.aurocOtherAuthors)} ff ${fmt(metrics.falseFireOtherAuthors)} ${metrics.seconds.toFixed(1)} s/request`);
    }

    // Revoking the first of the overlapping requests must bring back only its facts.
    if (shape === 'overlapping' && reqs.length > 1) {
      result.revokeFirst = {};
      for (const m of ['lethe', 'lambda-0'] as const) {
        if (!trained[m]) continue;
        const rows = viaGates(gated(trained[m]!.slice(1)));
        const first = await evaluate(perRequest[0].paraphrase, rows);
        const firstReq = await evaluate(perRequest[0].request, rows);
        const rest = await Promise.all(perRequest.slice(1).map(async (p) => ({ set: p.request, e: await evaluate(p.request, rows) })));
        const restCorrect = rest.flatMap((r) => r.set.baseCorrect.map((b, i) => (b ? (r.e.correct[i] ? 1 : 0) : -1))).filter((x) => x >= 0);
        const firstCorrect = [...perRequest[0].request.baseCorrect.map((b, i) => (b ? (firstReq.correct[i] ? 1 : 0) : -1)), ...perRequest[0].paraphrase.baseCorrect.map((b, i) => (b ? (first.correct[i] ? 1 : 0) : -1))].filter((x) => x >= 0);
        result.revokeFirst[m] = { leakRevokedFacts: meanOrNull(firstCorrect), leakOtherFacts: meanOrNull(restCorrect) };
        log(`  overlapping revoke request 1 (${m}): its facts answered again ${fmt(result.revokeFirst[m]!.leakRevokedFacts)}, the others' ${fmt(result.revokeFirst[m]!.leakOtherFacts)}`);
      }
    }
    for (const list of Object.values(trained)) for (const x of list ?? []) disposeAdapter(x.adapter);
    out[shape] = result;
  }
  return out;
}

function count(xs: boolean[]): number {
  return xs.filter(Boolean).length;
}

function meanOrNull(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function fmt(x: number | null | undefined): string {
  return x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(3);
}
