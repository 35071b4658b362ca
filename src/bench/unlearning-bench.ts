/**
 * Unlearning benchmark (issue 4, DESIGN §8): k sequential requests on disjoint author groups of the
 * demo world; after each, S.U./D.U./R.D./utility, detector AUROC and gate rates, seconds and bytes,
 * for Lethe and the baselines, all on the same data in the same run. Answers go through the same
 * code as the service (src/unlearning/gated-answer.ts; Lethe's rows through gatePlan/planEntries).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TextTokenizer } from '../engine/generate.js';
import { ensureGradients } from '../engine/gradients.js';
import { createTrainableLora, disposeAdapter } from '../engine/lora-trainable.js';
import type { LoraAdapter, PlanEntry } from '../engine/lora-types.js';
import { importPeftAdapter } from '../engine/peft.js';
import { buildLmBatch, maskedCrossEntropy, train, type LmExample } from '../engine/trainer.js';
import type { TransformerModel } from '../engine/transformer.js';
import { applyGatePolicy, auroc, deserializeDetector, fitDetector, maskTokens, promptEntityIndex, scoreDetector, type OodDetector } from '../ood/index.js';
import { detectorFeatures } from '../unlearning/detector-features.js';
import { answerWithPlans, baseFeatures, gatePlan, planEntries, type GatedAdapter } from '../unlearning/gated-answer.js';
import { runUnlearning } from '../unlearning/pipeline.js';
import type { UnlearningMetrics } from '../unlearning/unlearning-types.js';
import { accuracy, scoreAnswer } from './scoring.js';
import { benchReferencePrompts, evaluableAuthor } from './unlearning-shapes.js';
import { forgetGroups, itemsOfAuthors, trainedItems, utilityItems, type World, type WorldItem } from './world.js';

export const BENCH_METHODS = ['base', 'lethe', 'always-on', 'lambda-0', 'o3-shared', 'gradient-ascent', 'lethe-cel'] as const;
export type BenchMethod = (typeof BENCH_METHODS)[number];

export interface UnlearningBenchConfig {
  requests: number;
  authorsPerRequest: number;
  /** Pipeline epochs per request (Lethe, λ = 0, shared). */
  epochs: number;
  /** Retained-author items and utility items evaluated (evenly spaced samples). */
  retainedItems: number;
  utilityItems: number;
  /** Gradient ascent: epochs and learning rate (its loss is −CE on the true answers). */
  gaEpochs: number;
  gaLearningRate: number;
  maxTokens: number;
  seed: number;
}

export const FULL_CONFIG: UnlearningBenchConfig = {
  requests: 5,
  authorsPerRequest: 2,
  epochs: 8,
  retainedItems: 120,
  utilityItems: 120,
  gaEpochs: 4,
  gaLearningRate: 5e-3,
  maxTokens: 12,
  seed: 0,
};

export const QUICK_CONFIG: UnlearningBenchConfig = { ...FULL_CONFIG, requests: 2, authorsPerRequest: 1, epochs: 2, retainedItems: 16, utilityItems: 16, gaEpochs: 1, maxTokens: 8 };

/** One row of bench-results/unlearning.json (the shape). */
export interface StepRow {
  step: number;
  method: BenchMethod;
  su: number;
  du: number;
  rd: number;
  utility: number;
  rdRatio: number;
  utilityRatio: number;
  auroc: number | null;
  gateRecall: number | null;
  falseFireRate: number | null;
  seconds: number;
  bytes: number;
}

/** One request's artefacts for one method. */
interface Trained {
  adapter: LoraAdapter;
  detector: OodDetector | null;
  seconds: number;
  bytes: number;
  metrics?: UnlearningMetrics;
}

interface EvalSet {
  items: WorldItem[];
  ids: number[][];
  features: Float32Array[][];
  /** Entity indexes of the prompts (entity gates, src/ood/entity-match.ts). */
  entities: Set<string>[];
}

export interface BenchDetails {
  config: UnlearningBenchConfig;
  groups: { authors: string[]; forgetItems: number; paraphrases: number }[];
  perRequest: Record<string, { step: number; su: number[]; du: number[] }[]>;
  pipeline: { method: string; request: number; metrics: UnlearningMetrics }[];
  totalSeconds: number;
}

export type BenchLog = (line: string) => void;

/** Runs the benchmark; returns the rows (every method × step) and details. */
export async function runUnlearningBench(
  model: TransformerModel,
  tokenizer: TextTokenizer,
  world: World,
  cfg: UnlearningBenchConfig,
  log: BenchLog = () => {},
): Promise<{ steps: StepRow[]; details: BenchDetails }> {
  await ensureGradients();
  const started = performance.now();
  const groups = forgetGroups(world, cfg.requests, cfg.authorsPerRequest);
  const inGroups = new Set(groups.flat().map((a) => a.id));
  const makeSet = (items: WorldItem[]): EvalSet => {
    const ids = items.map((i) => tokenizer.encode(i.prompt));
    return { items, ids, features: baseFeatures(model, ids), entities: items.map((i) => promptEntityIndex(i.prompt)) };
  };
  const spaced = <T>(xs: T[], n: number): T[] => (xs.length <= n ? xs : Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]));
  const forget = groups.map((g) => makeSet(itemsOfAuthors(world, g.map((a) => a.id), ['trained'])));
  const para = groups.map((g) => makeSet(itemsOfAuthors(world, g.map((a) => a.id), ['paraphrase'])));
  // Retained authors exclude the reference pool the pipeline takes near-negatives from (unlearning-shapes.ts).
  const retained = makeSet(spaced(trainedItems(world).filter((i) => !inGroups.has(i.authorId) && evaluableAuthor(world, i.authorId)), cfg.retainedItems));
  const referencePrompts = benchReferencePrompts(world);
  const utility = makeSet(spaced(utilityItems(world), cfg.utilityItems));
  const negatives = [...retained.features, ...utility.features];
  log(`groups ${groups.map((g) => g.map((a) => a.name).join(' + ')).join(' | ')}; ${forget[0].items.length} forget items per request`);

  const answerAcc = async (set: EvalSet, rows: PlanEntry[][]): Promise<number> => {
    const results = await answerWithPlans(model, tokenizer, set.ids, rows, { maxTokens: cfg.maxTokens });
    return accuracy(results.map((r, i) => scoreAnswer(r.text, set.items[i].answer)));
  };
  const none = (set: EvalSet): PlanEntry[][] => set.ids.map(() => []);
  const base = {
    rd: await answerAcc(retained, none(retained)),
    utility: await answerAcc(utility, none(utility)),
    su: await Promise.all(forget.map((s) => answerAcc(s, none(s)))),
    du: await Promise.all(para.map((s) => answerAcc(s, none(s)))),
  };
  log(`base: rd ${base.rd.toFixed(3)} utility ${base.utility.toFixed(3)} su ${base.su.map((x) => x.toFixed(2))} du ${base.du.map((x) => x.toFixed(2))}`);

  const trained: Record<'lethe' | 'lambda-0' | 'o3-shared' | 'gradient-ascent', Trained[]> = { lethe: [], 'lambda-0': [], 'o3-shared': [], 'gradient-ascent': [] };
  const celDetectors: { detector: OodDetector; seconds: number }[] = [];
  const rows: StepRow[] = [];
  const details: BenchDetails = {
    config: cfg,
    groups: groups.map((g, k) => ({ authors: g.map((a) => a.name), forgetItems: forget[k].items.length, paraphrases: para[k].items.length })),
    perRequest: {},
    pipeline: [],
    totalSeconds: 0,
  };

  const pipelineRun = async (method: 'lethe' | 'lambda-0' | 'o3-shared', t: number): Promise<Trained> => {
    const frozen = method === 'lethe' ? trained.lethe.map((x) => x.adapter) : [];
    const init = method === 'o3-shared' && t > 0 ? trained['o3-shared'][t - 1].adapter : undefined;
    const r = await runUnlearning(
      {
        model,
        tokenizer,
        items: forget[t].items.map((i) => ({ prompt: i.prompt, answer: i.answer })),
        relabel: 'refusal',
        frozenAdapters: frozen,
        referencePrompts,
        options: { epochs: cfg.epochs, lambda: method === 'lethe' ? 0.1 : 0, seed: cfg.seed + t, checkItems: 8 },
        initAdapter: init,
      },
      { onProgress: (p) => p.phase === 'training' && p.step === p.total && log(`  ${method} request ${t + 1}: ${p.total} steps, loss ${p.loss?.toFixed(3)}`) },
    );
    details.pipeline.push({ method, request: t + 1, metrics: r.metrics });
    return {
      adapter: importPeftAdapter(r.adapterConfig, r.adapterWeights, model.config),
      detector: deserializeDetector(r.detector),
      seconds: r.metrics.seconds.total,
      bytes: r.metrics.adapterBytes + r.metrics.detectorBytes,
      metrics: r.metrics,
    };
  };

  for (let t = 0; t < cfg.requests; t++) {
    log(`request ${t + 1}/${cfg.requests}`);
    trained.lethe.push(await pipelineRun('lethe', t));
    trained['lambda-0'].push(await pipelineRun('lambda-0', t));
    trained['o3-shared'].push(await pipelineRun('o3-shared', t));
    trained['gradient-ascent'].push(await gradientAscent(model, tokenizer, forget[t].items, t > 0 ? trained['gradient-ascent'][t - 1].adapter : undefined, cfg));
    celDetectors.push(fitCelDetector(model, forget[t], cfg.seed + t));

    const step = t + 1;
    const upTo = <T>(xs: T[]) => xs.slice(0, step);
    const gated = (list: Trained[], dets: (OodDetector | null)[]): GatedAdapter[] =>
      upTo(list).map((x, k) => ({ id: `r${k + 1}`, name: `request-${k + 1}`, version: 1, adapter: x.adapter, detector: dets[k]! }));
    const letheGated = gated(trained.lethe, trained.lethe.map((x) => x.detector));

    // Applied rows and per-prompt "responsible" strengths for every method.
    type Rows = (set: EvalSet, owner: number | null) => { rows: PlanEntry[][]; own: number[]; any: number[] };
    const viaGates = (g: GatedAdapter[]): Rows => (set, owner) => {
      const rowsOut: PlanEntry[][] = [];
      const own: number[] = [];
      const any: number[] = [];
      set.features.forEach((f, i) => {
        const gates = g.map((a) => {
          const s = scoreDetector(a.detector, f, set.entities[i]);
          return { adapterId: a.id, z: s.z, gate: s.w, strength: applyGatePolicy(s.w) };
        });
        rowsOut.push(planEntries(gatePlan(gates, g), g));
        own.push(owner === null ? 0 : gates[owner].strength);
        any.push(Math.max(0, ...gates.map((x) => x.strength)));
      });
      return { rows: rowsOut, own, any };
    };
    const always = (adapters: LoraAdapter[]): Rows => (set) => ({
      rows: set.ids.map(() => adapters.map((adapter) => ({ adapter, strength: 1 }))),
      own: set.ids.map(() => 1),
      any: set.ids.map(() => 1),
    });
    const shared: Rows = (set) => {
      const adapter = trained['o3-shared'][t].adapter;
      const dets = upTo(trained['o3-shared']).map((x) => x.detector!);
      const strengths = set.features.map((f, i) => Math.max(...dets.map((d) => applyGatePolicy(scoreDetector(d, f, set.entities[i]).w))));
      return { rows: strengths.map((s) => (s > 0 ? [{ adapter, strength: s }] : [])), own: strengths, any: strengths };
    };
    const methods: Record<Exclude<BenchMethod, 'base'>, { rows: Rows; detectors: OodDetector[] | null; seconds: number; bytes: number }> = {
      lethe: { rows: viaGates(letheGated), detectors: letheGated.map((g) => g.detector), seconds: trained.lethe[t].seconds, bytes: trained.lethe[t].bytes },
      'always-on': {
        rows: always(upTo(trained.lethe).map((x) => x.adapter)),
        detectors: null,
        seconds: trained.lethe[t].seconds,
        bytes: trained.lethe[t].metrics!.adapterBytes,
      },
      'lambda-0': {
        rows: viaGates(gated(trained['lambda-0'], trained['lambda-0'].map((x) => x.detector))),
        detectors: upTo(trained['lambda-0']).map((x) => x.detector!),
        seconds: trained['lambda-0'][t].seconds,
        bytes: trained['lambda-0'][t].bytes,
      },
      'o3-shared': { rows: shared, detectors: upTo(trained['o3-shared']).map((x) => x.detector!), seconds: trained['o3-shared'][t].seconds, bytes: trained['o3-shared'][t].bytes },
      'gradient-ascent': { rows: always([trained['gradient-ascent'][t].adapter]), detectors: null, seconds: trained['gradient-ascent'][t].seconds, bytes: trained['gradient-ascent'][t].bytes },
      'lethe-cel': {
        rows: viaGates(gated(trained.lethe, celDetectors.map((c) => c.detector))),
        detectors: upTo(celDetectors).map((c) => c.detector),
        seconds: trained.lethe[t].seconds + celDetectors[t].seconds,
        bytes: trained.lethe[t].bytes,
      },
    };

    rows.push({ step, method: 'base', su: mean(upTo(base.su)), du: mean(upTo(base.du)), rd: base.rd, utility: base.utility, rdRatio: 1, utilityRatio: 1, auroc: null, gateRecall: null, falseFireRate: null, seconds: 0, bytes: 0 });
    for (const [name, m] of Object.entries(methods) as [Exclude<BenchMethod, 'base'>, (typeof methods)['lethe']][]) {
      const su: number[] = [];
      const du: number[] = [];
      const recall: number[] = [];
      for (let k = 0; k < step; k++) {
        const f = m.rows(forget[k], k);
        su.push(await answerAcc(forget[k], f.rows));
        const p = m.rows(para[k], k);
        du.push(await answerAcc(para[k], p.rows));
        recall.push(...p.own.map((s) => (s >= 0.5 ? 1 : 0)));
      }
      const r = m.rows(retained, null);
      const u = m.rows(utility, null);
      const rd = await answerAcc(retained, r.rows);
      const ut = await answerAcc(utility, u.rows);
      const fires = [...r.any, ...u.any].map((s) => (s >= 0.5 ? 1 : 0));
      const aurocs = m.detectors?.map((d, k) => auroc(para[k].features.map((f) => scoreDetector(d, f).z), negatives.map((f) => scoreDetector(d, f).z)));
      const weight = (xs: number[], k: number) => xs[k] * forget[k].items.length;
      rows.push({
        step,
        method: name,
        su: su.reduce((a, _, k) => a + weight(su, k), 0) / upTo(forget).reduce((a, s) => a + s.items.length, 0),
        du: du.reduce((a, _, k) => a + du[k] * para[k].items.length, 0) / upTo(para).reduce((a, s) => a + s.items.length, 0),
        rd,
        utility: ut,
        rdRatio: ratio(rd, base.rd),
        utilityRatio: ratio(ut, base.utility),
        auroc: aurocs ? mean(aurocs) : null,
        gateRecall: mean(recall),
        falseFireRate: mean(fires),
        seconds: m.seconds,
        bytes: m.bytes,
      });
      (details.perRequest[name] ??= []).push({ step, su, du });
      const row = rows[rows.length - 1];
      log(`  step ${step} ${name.padEnd(15)} su ${row.su.toFixed(3)} du ${row.du.toFixed(3)} rd ${row.rd.toFixed(3)} (${row.rdRatio.toFixed(3)}) utility ${row.utility.toFixed(3)} (${row.utilityRatio.toFixed(3)}) auroc ${row.auroc?.toFixed(3) ?? '-'} recall ${row.gateRecall?.toFixed(2)} ff ${row.falseFireRate?.toFixed(2)}`);
    }
  }
  for (const list of Object.values(trained)) for (const x of list) disposeAdapter(x.adapter);
  details.totalSeconds = (performance.now() - started) / 1000;
  return { steps: rows, details };
}

function mean(xs: number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function ratio(x: number, base: number): number {
  return base > 0 ? x / base : Number.NaN;
}

/** The CEL variant of the detector on the same features (masked view as the pipeline builds it). */
function fitCelDetector(model: TransformerModel, set: EvalSet, seed: number): { detector: OodDetector; seconds: number } {
  const t0 = performance.now();
  const maskId = model.config.padTokenId ?? 0;
  const masked = detectorFeatures(model, set.ids.map((x, i) => maskTokens(x, 0.15, maskId, seed * 7919 + i)));
  const detector = fitDetector({ features: set.features, maskedFeatures: masked }, { useCel: true, seed });
  return { detector, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Gradient-ascent baseline: one adapter, resumed request after request, trained to *raise* the
 * cross-entropy of the true answers of the forget items (loss = −CE), always applied.
 */
async function gradientAscent(model: TransformerModel, tokenizer: TextTokenizer, items: WorldItem[], init: LoraAdapter | undefined, cfg: UnlearningBenchConfig): Promise<Trained> {
  const t0 = performance.now();
  const eos = tokenizer.eosTokenId ?? model.config.eosTokenId;
  const examples: LmExample[] = items.map((i) => ({ prompt: tokenizer.encode(i.prompt), completion: [...tokenizer.encode(i.completion), ...(eos === undefined ? [] : [eos])] }));
  const lora = createTrainableLora(model, { rank: 8, alpha: 16, seed: cfg.seed + 99, init });
  const app = lora.application(1);
  const pad = model.config.padTokenId ?? 0;
  try {
    await train<LmExample>({
      variables: lora.variables(),
      examples,
      batchSize: 8,
      steps: cfg.gaEpochs * Math.ceil(examples.length / 8),
      optimizer: { learningRate: cfg.gaLearningRate },
      maxGradNorm: 1,
      seed: cfg.seed,
      loss: (batch) => {
        const b = buildLmBatch(batch, pad, model.config.maxPositions);
        const { logits } = model.forward({ tokenIds: tf.tensor2d(b.inputIds, [b.batch, b.seq], 'int32') }, { lora: app, logits: 'all' });
        return tf.neg(maskedCrossEntropy(logits!, tf.tensor2d(b.targets, [b.batch, b.seq], 'int32'), tf.tensor2d(b.mask, [b.batch, b.seq])));
      },
    });
    const adapter = lora.freeze();
    const bytes = [...adapter.modules.values()].reduce((a, m) => a + 4 * (m.a.size + m.b.size), 0);
    return { adapter, detector: null, seconds: (performance.now() - t0) / 1000, bytes };
  } finally {
    app.dispose();
    lora.dispose();
  }
}
