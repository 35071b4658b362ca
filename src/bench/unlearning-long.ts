/**
 * Continual forgetting at scale (issue 16): `bench:unlearning -- --long` sends 50 sequential
 * `one-author-once` requests (one author each, every fact once) to the pipeline, each trained beside
 * the adapters already deployed, and after requests 1, 5, 10, 20 and 50 measures what users get:
 * leak on the request prompts, paraphrases and new templates of every fact forgotten so far, the 50
 * authors never forgotten (retained), utility, false fires on those authors, the routing cost per
 * prompt against a base request, bytes stored and seconds per request. Side by side in the same run:
 * - `lethe`: one adapter and one detector per request, every detector scoring every prompt (today);
 * - `bank`: the same adapters behind one detector bank (src/ood/detector-bank.ts), checked gate for
 *   gate against `lethe` on every evaluated prompt before its numbers count;
 * - `always-on`: the simplest alternative, every adapter applied to every prompt (no gate).
 * At the end, revoking one request (first, middle, last) must bring its facts back and change no
 * other answer.
 *
 * The reference prompts the pipeline takes its near-negatives from name authors 75–99 only, so
 * `retainedUnseen` (authors 50–74) measures authors the pipeline never saw.
 */
import { performance } from 'node:perf_hooks';
import type { TextTokenizer } from '../engine/generate.js';
import { generate } from '../engine/generate.js';
import { disposeRowPrefill, joinPrefill } from '../engine/generate-prefill.js';
import { promptFeaturesAll } from '../engine/features.js';
import { disposeAdapter } from '../engine/lora-trainable.js';
import type { LoraAdapter, PlanEntry } from '../engine/lora-types.js';
import { importPeftAdapter } from '../engine/peft.js';
import type { TransformerModel } from '../engine/transformer.js';
import { applyGatePolicy, deserializeDetector, DetectorBank, promptEntityIndex, scoreDetector, type OodDetector } from '../ood/index.js';
import { detectorFeaturesOf } from '../unlearning/detector-features.js';
import { answerWithPlans, baseFeatures } from '../unlearning/gated-answer.js';
import { runUnlearning } from '../unlearning/pipeline.js';
import { evenlySpaced } from '../unlearning/reference-prompts.js';
import type { UnlearningOptions } from '../unlearning/unlearning-types.js';
import { FACT_TYPES, NEW_TEMPLATES } from '../world/phrasings.js';
import { scoreAnswer } from './scoring.js';
import { shapeRequests } from './unlearning-shapes.js';
import { formatPrompt, utilityItems, type World } from './world.js';

export interface LongConfig {
  requests: number;
  /** After which requests to measure (the last is always measured). */
  checkpoints: number[];
  pipeline: Partial<UnlearningOptions>;
  retainedItems: number;
  utilityItems: number;
  /** Most items per forgotten-fact set (request prompts, paraphrases, new templates) evaluated at a checkpoint. */
  forgetItems: number;
  /** Prompts timed for the routing cost (3 repetitions each). */
  timingPrompts: number;
  /** Most reference prompts about authors 75–99 given to the pipeline (evenly spaced; the full run gives all). */
  referenceItems: number;
  /** Requests revoked one at a time after the last (1-based). */
  revoke: number[];
  maxTokens: number;
  seed: number;
}

export const LONG_FULL: LongConfig = {
  requests: 50,
  checkpoints: [1, 5, 10, 20, 50],
  pipeline: {},
  retainedItems: 240,
  utilityItems: 120,
  forgetItems: 140,
  timingPrompts: 24,
  referenceItems: Number.POSITIVE_INFINITY,
  revoke: [1, 25, 50],
  maxTokens: 12,
  seed: 0,
};

export const LONG_QUICK: LongConfig = {
  ...LONG_FULL,
  requests: 2,
  checkpoints: [1, 2],
  pipeline: { maxSteps: 6, checkItems: 4 },
  retainedItems: 24,
  utilityItems: 12,
  forgetItems: 14,
  timingPrompts: 3,
  referenceItems: 120,
  revoke: [1],
  maxTokens: 8,
};

/** Forgotten authors are the first `requests`; authors 50–99 are never forgotten; 75–99 give the reference prompts. */
const RETAINED_FROM = 50;
const REFERENCE_FROM = 75;

/** Issue 16's keys, plus the baselines and the split of the routing cost. */
export interface LongStep {
  requests: number;
  leakRequest: number | null;
  leakParaphrase: number | null;
  leakNewTemplates: number | null;
  retained: number | null;
  retainedUnseen: number | null;
  utility: number | null;
  falseFire: number;
  /** (routed request on which no gate fires − base request) / base request, medians: feature pass + scoring through the bank. */
  routingCost: number;
  /** The same with every detector scored on its own (today's path before the bank). */
  routingCostPerDetector: number;
  /** Scoring alone (bank, per detector) / base request. */
  scoringCost: number;
  scoringCostPerDetector: number;
  baseRequestMs: number;
  /** Gates where the bank and the per-detector scoring disagree (must be 0 for the bank's numbers to count). */
  bankMismatches: number;
  /** Bytes stored: adapters (PEFT safetensors) + detectors. */
  bytes: number;
  /** Mean seconds per request over the requests since the previous checkpoint. */
  seconds: number;
  /** Requests so far whose checks passed (the service would have activated them). */
  activated: number;
  alwaysOn: { leakParaphrase: number | null; leakNewTemplates: number | null; retained: number | null; utility: number | null };
}

export interface LongResult {
  config: LongConfig;
  steps: LongStep[];
  /** Worst case over the revoked requests: share of their base-right facts answered again; share of other answers that changed. */
  revoke: { restored: number | null; othersChanged: number; perRequest: { request: number; restored: number | null; othersChanged: number }[] };
}

/** A set of prompts with their expected answers, base correctness, features and entity indexes. */
interface EvalSet {
  items: { prompt: string; answer: string }[];
  baseCorrect: boolean[];
  features: Float32Array[][];
  entities: Set<string>[];
}

interface Deployed {
  id: string;
  adapter: LoraAdapter;
  detector: OodDetector;
  bytes: number;
  seconds: number;
  passed: boolean;
}

type Log = (line: string) => void;

export async function runLongSuite(model: TransformerModel, tokenizer: TextTokenizer, world: World, cfg: LongConfig, log: Log = () => {}): Promise<LongResult> {
  const authors = world.authors.filter((a) => !a.heldOut);
  if (cfg.requests > RETAINED_FROM) throw new Error(`at most ${RETAINED_FROM} requests (authors ${RETAINED_FROM}+ are the retained ones)`);
  const requests = shapeRequests(world, 'one-author-once', cfg.requests);
  const referencePrompts = [
    ...evenlySpaced(world.items.filter((i) => i.split === 'trained' && authors.findIndex((a) => a.id === i.authorId) >= REFERENCE_FROM).map((i) => i.prompt), cfg.referenceItems),
    ...evenlySpaced(utilityItems(world), 48).map((i) => i.prompt),
  ];

  const makeSet = async (items: { prompt: string; answer: string }[]): Promise<EvalSet> => {
    const ids = items.map((i) => tokenizer.encode(i.prompt));
    const base = await answerWithPlans(model, tokenizer, ids, ids.map(() => []), { maxTokens: cfg.maxTokens });
    return { items, baseCorrect: base.map((r, i) => scoreAnswer(r.text, items[i].answer)), features: baseFeatures(model, ids), entities: items.map((i) => promptEntityIndex(i.prompt)) };
  };
  const authorRank = new Map(authors.map((a, k) => [a.id, k]));
  const retainedPool = world.items.filter((i) => (authorRank.get(i.authorId) ?? -1) >= RETAINED_FROM && (i.split === 'trained' || i.split === 'paraphrase'));
  const retained = await makeSet(evenlySpaced(retainedPool, cfg.retainedItems).map((i) => ({ prompt: i.prompt, answer: i.answer })));
  const unseen = retained.items.map((it) => (authorRank.get(world.items.find((i) => i.prompt === it.prompt)!.authorId) ?? 0) < REFERENCE_FROM);
  const utility = await makeSet(evenlySpaced(utilityItems(world), cfg.utilityItems).map((i) => ({ prompt: i.prompt, answer: i.answer })));
  log(`long suite: ${cfg.requests} requests, retained ${retained.items.length} (base ${count(retained.baseCorrect)} right, ${count(unseen)} about authors the pipeline never saw), utility ${utility.items.length}, ${referencePrompts.length} reference prompts`);

  // Per request: its request prompts, its facts' paraphrases and new templates (base-answered once).
  const factSets = await Promise.all(
    requests.map(async (r) => {
      const author = r.facts[0].author;
      return {
        request: await makeSet(r.items.map((i) => ({ prompt: i.prompt, answer: i.answer! }))),
        paraphrase: await makeSet(world.items.filter((i) => i.authorId === author.id && i.split === 'paraphrase').map((i) => ({ prompt: i.prompt, answer: i.answer }))),
        newTemplates: await makeSet(FACT_TYPES.flatMap((f) => NEW_TEMPLATES[f].map((t) => ({ prompt: formatPrompt(t.replace('{n}', author.name)), answer: author.facts[f] })))),
      };
    }),
  );

  const deployed: Deployed[] = [];
  const steps: LongStep[] = [];
  const checkpoints = new Set([...cfg.checkpoints.filter((c) => c <= cfg.requests), cfg.requests]);
  let lastCheckpoint = 0;
  let finalAnswers: Map<string, string> | undefined;
  for (let t = 0; t < cfg.requests; t++) {
    const r = await runUnlearning({
      model,
      tokenizer,
      items: requests[t].items,
      relabel: 'refusal',
      frozenAdapters: deployed.map((d) => d.adapter),
      frozenDetectors: deployed.map((d) => d.detector),
      referencePrompts,
      options: { ...cfg.pipeline, seed: cfg.seed + t },
    });
    deployed.push({
      id: `r${t + 1}`,
      adapter: importPeftAdapter(r.adapterConfig, r.adapterWeights, model.config),
      detector: deserializeDetector(r.detector),
      bytes: r.adapterWeights.byteLength + r.detector.byteLength,
      seconds: r.metrics.seconds.total,
      passed: r.metrics.activation.passed,
    });
    log(`  request ${t + 1} (${requests[t].facts[0].author.name}): ${r.metrics.steps} steps, ${r.metrics.seconds.total.toFixed(1)} s, checks ${r.metrics.activation.passed ? 'passed' : `failed: ${r.metrics.activation.failures.join(', ')}`}`);
    if (!checkpoints.has(t + 1)) continue;

    const n = t + 1;
    const active = deployed.slice(0, n);
    const bank = new DetectorBank(active.map((d) => ({ id: d.id, detector: d.detector })));
    const pick = (key: 'request' | 'paraphrase' | 'newTemplates') => evenlySpacedSet(concatSets(factSets.slice(0, n).map((s) => s[key])), cfg.forgetItems);
    const forgot = { request: pick('request'), paraphrase: pick('paraphrase'), newTemplates: pick('newTemplates') };

    let mismatches = 0;
    const gated = (set: EvalSet): { rows: PlanEntry[][]; fire: number[] } => {
      const rows: PlanEntry[][] = [];
      const fire: number[] = [];
      set.features.forEach((f, i) => {
        const viaBank = bank.score(f, set.entities[i]);
        const row: PlanEntry[] = [];
        let peak = 0;
        for (const d of active) {
          const strength = applyGatePolicy(scoreDetector(d.detector, f, set.entities[i]).w);
          const b = viaBank.get(d.id);
          if (!b || applyGatePolicy(b.w) !== strength) mismatches++;
          if (strength > 0) row.push({ adapter: d.adapter, strength });
          peak = Math.max(peak, strength);
        }
        rows.push(row);
        fire.push(peak);
      });
      return { rows, fire };
    };
    const answer = async (set: EvalSet, rows: PlanEntry[][]) => (await answerWithPlans(model, tokenizer, set.items.map((i) => i.prompt), rows, { maxTokens: cfg.maxTokens })).map((x) => x.text);
    const kept = (set: EvalSet, texts: string[], mask?: boolean[]) => keptRate(set, texts.map((x, i) => scoreAnswer(x, set.items[i].answer)), mask);

    const sets = { ...forgot, retained, utility };
    const texts: Record<string, string[]> = {};
    let fireRetained: number[] = [];
    for (const [name, set] of Object.entries(sets)) {
      const g = gated(set);
      if (name === 'retained') fireRetained = g.fire;
      texts[name] = await answer(set, g.rows);
    }
    const allOn = (set: EvalSet) => set.items.map(() => active.map((d) => ({ adapter: d.adapter, strength: 1 })));
    const alwaysOn = {
      leakParaphrase: kept(forgot.paraphrase, await answer(forgot.paraphrase, allOn(forgot.paraphrase))),
      leakNewTemplates: kept(forgot.newTemplates, await answer(forgot.newTemplates, allOn(forgot.newTemplates))),
      retained: kept(retained, await answer(retained, allOn(retained))),
      utility: kept(utility, await answer(utility, allOn(utility))),
    };
    const cost = await routingCost(model, tokenizer, active, bank, [...retained.items, ...utility.items].map((i) => i.prompt), cfg);
    const since = deployed.slice(lastCheckpoint, n);
    const step: LongStep = {
      requests: n,
      leakRequest: kept(forgot.request, texts.request),
      leakParaphrase: kept(forgot.paraphrase, texts.paraphrase),
      leakNewTemplates: kept(forgot.newTemplates, texts.newTemplates),
      retained: kept(retained, texts.retained),
      retainedUnseen: kept(retained, texts.retained, unseen),
      utility: kept(utility, texts.utility),
      falseFire: fireRetained.filter((s) => s >= 0.5).length / Math.max(1, fireRetained.length),
      ...cost,
      bankMismatches: mismatches,
      bytes: active.reduce((a, d) => a + d.bytes, 0),
      seconds: since.reduce((a, d) => a + d.seconds, 0) / since.length,
      activated: active.filter((d) => d.passed).length,
      alwaysOn,
    };
    steps.push(step);
    lastCheckpoint = n;
    log(
      `  after ${n}: leak req/para/new ${fmt(step.leakRequest)}/${fmt(step.leakParaphrase)}/${fmt(step.leakNewTemplates)} retained ${fmt(step.retained)} (unseen ${fmt(step.retainedUnseen)}) utility ${fmt(step.utility)} ff ${fmt(step.falseFire)} ` +
        `routing ${fmt(step.routingCost)} (per detector ${fmt(step.routingCostPerDetector)}; scoring ${fmt(step.scoringCost)} vs ${fmt(step.scoringCostPerDetector)}, base ${step.baseRequestMs.toFixed(1)} ms) ` +
        `bank mismatches ${mismatches} ${(step.bytes / 1e6).toFixed(2)} MB ${step.seconds.toFixed(1)} s/request | always-on retained ${fmt(alwaysOn.retained)} leak para ${fmt(alwaysOn.leakParaphrase)}`,
    );
    if (n === cfg.requests) finalAnswers = new Map(Object.entries(sets).flatMap(([name, set]) => set.items.map((it, i) => [`${name}\u0000${it.prompt}`, texts[name][i]] as [string, string])));
  }

  // Revoking one request: its facts come back, no other answer changes.
  const perRequest: LongResult['revoke']['perRequest'] = [];
  for (const k of cfg.revoke.filter((x) => x >= 1 && x <= cfg.requests)) {
    const rest = deployed.filter((_, i) => i !== k - 1);
    const bank = new DetectorBank(rest.map((d) => ({ id: d.id, detector: d.detector })));
    const rowsOf = (set: EvalSet) =>
      set.features.map((f, i) => {
        const g = bank.score(f, set.entities[i]);
        return rest.flatMap((d) => {
          const s = applyGatePolicy(g.get(d.id)!.w);
          return s > 0 ? [{ adapter: d.adapter, strength: s }] : [];
        });
      });
    const own = concatSets([factSets[k - 1].request, factSets[k - 1].paraphrase]);
    const ownTexts = (await answerWithPlans(model, tokenizer, own.items.map((i) => i.prompt), rowsOf(own), { maxTokens: cfg.maxTokens })).map((x) => x.text);
    const restored = keptRate(own, ownTexts.map((x, i) => scoreAnswer(x, own.items[i].answer)));
    // Every other prompt measured after the last request, minus the revoked request's own.
    const ownPrompts = new Set(own.items.map((i) => i.prompt).concat(factSets[k - 1].newTemplates.items.map((i) => i.prompt)));
    let changed = 0;
    let compared = 0;
    for (const [name, set] of Object.entries({ retained, utility })) {
      const texts = (await answerWithPlans(model, tokenizer, set.items.map((i) => i.prompt), rowsOf(set), { maxTokens: cfg.maxTokens })).map((x) => x.text);
      set.items.forEach((it, i) => {
        if (ownPrompts.has(it.prompt)) return;
        compared++;
        if (finalAnswers?.get(`${name}\u0000${it.prompt}`) !== texts[i]) changed++;
      });
    }
    const others = concatSets(factSets.filter((_, i) => i !== k - 1 && i < cfg.requests).map((s) => s.request));
    const otherTexts = (await answerWithPlans(model, tokenizer, others.items.map((i) => i.prompt), rowsOf(others), { maxTokens: cfg.maxTokens })).map((x) => x.text);
    const allRows = others.features.map((f, i) => deployed.flatMap((d) => {
      const s = applyGatePolicy(scoreDetector(d.detector, f, others.entities[i]).w);
      return s > 0 ? [{ adapter: d.adapter, strength: s }] : [];
    }));
    const beforeTexts = (await answerWithPlans(model, tokenizer, others.items.map((i) => i.prompt), allRows, { maxTokens: cfg.maxTokens })).map((x) => x.text);
    otherTexts.forEach((x, i) => {
      compared++;
      if (x !== beforeTexts[i]) changed++;
    });
    const entry = { request: k, restored, othersChanged: changed / Math.max(1, compared) };
    perRequest.push(entry);
    log(`  revoke request ${k}: its facts answered again ${fmt(restored)} of base, other answers changed ${fmt(entry.othersChanged)} (${changed}/${compared})`);
  }
  for (const d of deployed) disposeAdapter(d.adapter);
  const restoredAll = perRequest.map((p) => p.restored).filter((x): x is number => x !== null);
  return {
    config: cfg,
    steps,
    revoke: { restored: restoredAll.length ? Math.min(...restoredAll) : null, othersChanged: Math.max(0, ...perRequest.map((p) => p.othersChanged)), perRequest },
  };
}

/**
 * Routing cost per prompt as the service pays it, one prompt at a time as a single request: a base
 * request (greedy, no adapter) against a routed one on which no gate fires (the base feature pass
 * keeping its prefill, the entity index, every active detector's gate, then decoding from that
 * prefill, as src/serving does). Scoring is timed on its own per detector and through the bank.
 * Each prompt runs TIMING_REPS times, base and routed alternating, and keeps its fastest run of
 * each: on a shared machine a run is slowed by whatever else runs (medians of single runs moved
 * 0.003–0.25 between checkpoints with the same work), the fastest is the request's own cost. Costs
 * are median over prompts of (routed − base) / median base.
 */
const TIMING_REPS = 5;

async function routingCost(model: TransformerModel, tokenizer: TextTokenizer, active: readonly Deployed[], bank: DetectorBank, pool: string[], cfg: LongConfig) {
  const prompts = evenlySpaced(pool, cfg.timingPrompts);
  const base: number[] = [];
  const routedDiff: number[] = [];
  const perDetector: number[] = [];
  const viaBank: number[] = [];
  let sink = 0;
  const options = { maxTokens: cfg.maxTokens, stop: ['\n'], temperature: 0 };
  const runBase = async (ids: number[]) => {
    const t0 = performance.now();
    const out = await generate(model, tokenizer, [ids], options);
    return { ms: performance.now() - t0, text: out[0].text };
  };
  const runRouted = async (ids: number[], p: string) => {
    const t0 = performance.now();
    const f = promptFeaturesAll(model, [ids], { keepPrefill: true, pooled: false }); // as the service routes (final-token states only)
    for (const g of bank.score(detectorFeaturesOf(f)[0], promptEntityIndex(p)).values()) sink += g.w;
    const out = await generate(model, tokenizer, [ids], { ...options, prefilled: joinPrefill(f.prefill!) });
    const ms = performance.now() - t0;
    f.prefill!.forEach(disposeRowPrefill);
    return { ms, text: out[0].text, features: detectorFeaturesOf(f)[0] };
  };
  for (const p of prompts) {
    const ids = tokenizer.encode(p);
    const b: number[] = [];
    const r: number[] = [];
    const d: number[] = [];
    const k: number[] = [];
    for (let rep = 0; rep < TIMING_REPS; rep++) {
      // Alternated: neither side always runs second (warmer caches).
      const first = rep % 2 === 0 ? await runBase(ids) : undefined;
      const routed = await runRouted(ids, p);
      const plain = first ?? (await runBase(ids));
      if (routed.text !== plain.text) throw new Error(`decoding from the feature pass's prefill changed the answer to ${JSON.stringify(p)}`);
      b.push(plain.ms);
      r.push(routed.ms);
      let t0 = performance.now();
      const index = promptEntityIndex(p);
      for (const det of active) sink += scoreDetector(det.detector, routed.features, index).w;
      d.push(performance.now() - t0);
      t0 = performance.now();
      for (const g of bank.score(routed.features, promptEntityIndex(p)).values()) sink += g.w;
      k.push(performance.now() - t0);
    }
    base.push(Math.min(...b));
    routedDiff.push(Math.min(...r) - Math.min(...b));
    perDetector.push(Math.min(...d));
    viaBank.push(Math.min(...k));
  }
  if (Number.isNaN(sink)) throw new Error('unreachable: keeps the scoring from being optimised away');
  const b = median(base);
  const routingCost = median(routedDiff) / b;
  return {
    routingCost,
    // The routed request with per-detector scoring instead of the bank: the difference is the scoring's.
    routingCostPerDetector: routingCost + (median(perDetector) - median(viaBank)) / b,
    scoringCost: median(viaBank) / b,
    scoringCostPerDetector: median(perDetector) / b,
    baseRequestMs: b,
  };
}

function concatSets(sets: readonly EvalSet[]): EvalSet {
  return { items: sets.flatMap((s) => s.items), baseCorrect: sets.flatMap((s) => s.baseCorrect), features: sets.flatMap((s) => s.features), entities: sets.flatMap((s) => s.entities) };
}

function evenlySpacedSet(set: EvalSet, n: number): EvalSet {
  const idx = evenlySpaced(set.items.map((_, i) => i), n);
  return { items: idx.map((i) => set.items[i]), baseCorrect: idx.map((i) => set.baseCorrect[i]), features: idx.map((i) => set.features[i]), entities: idx.map((i) => set.entities[i]) };
}

/** Share of base-correct items (within `mask`) still answered right. */
function keptRate(set: EvalSet, correct: boolean[], mask?: boolean[]): number | null {
  const idx = set.baseCorrect.map((b, i) => (b && (!mask || mask[i]) ? i : -1)).filter((i) => i >= 0);
  return idx.length === 0 ? null : idx.filter((i) => correct[i]).length / idx.length;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function count(xs: boolean[]): number {
  return xs.filter(Boolean).length;
}

function fmt(x: number | null | undefined): string {
  return x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(3);
}
