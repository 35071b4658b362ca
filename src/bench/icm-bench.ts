/**
 * ICM-LoRA benchmark (issue 15): a compositional task family (asked fact × answered fact × answer
 * template) on the demo world. Every task gets a trained adapter (held-out ones too, for the
 * benchmark's denominators only); tasks the adapter learns below `minLearned` on unseen authors are
 * dropped. The generator is trained on the seen tasks' checkpoints only and generates, from each
 * task's in-context examples, an adapter for seen and held-out tasks. Side by side in the same run:
 * the simplest alternative (store every seen adapter; for a held-out task, the seen adapter whose
 * condition is nearest) and generator variants (`designs`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { disposeAdapter } from '../engine/lora-trainable.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import { loadPeftAdapter, savePeftAdapter } from '../engine/peft.js';
import type { TransformerModel } from '../engine/transformer.js';
import { BasisGenerator, type BasisGeneratorOptions } from '../icm/basis-generator.js';
import { serialiseBasisGenerator } from '../icm/basis-generator-io.js';
import { ComposeGenerator, type ComposeGenerateOptions, type ComposeGeneratorOptions } from '../icm/compose-generator.js';
import { serialiseComposeGenerator } from '../icm/compose-generator-io.js';
import { adapterBytesF16 } from '../icm/generator-training.js';
import { allFamilyTasks, HELD_OUT_COMBINATIONS, splitFamily, type FamilyTask } from '../icm/task-family.js';
import { buildTaskData, type TaskData } from '../icm/task-suite.js';
import { evaluateTask, taskCondition, trainTaskAdapter, type TaskTokenizer, type TaskTrainingOptions } from '../icm/task-training.js';
import { DEFAULT_TASK_VECTOR, taskVector, type TaskVectorSpec } from '../icm/task-vector.js';
import type { World } from '../world/world.js';

export const ICM_TARGETS = Object.freeze({ seenWorstRatio: 0.95, heldOutMeanRatio: 0.5, storageRatioF16: 0.25, wrongConditionRatio: 0.2 });

export interface IcmSeenRow {
  task: string;
  base: number;
  trained: number;
  /** Mean over seeds. */
  generated: number;
  ratio: number;
  /** Generated from the condition of a sibling (same template, other answered fact), mean over seeds. */
  wrongCondition: number;
  wrongConditionTask: string;
  /**
   * The sibling's own trained adapter on this task's items: how far the sibling is a different task on
   * these prompts at all (when it is not, a generator that follows the sibling's examples is right to answer).
   */
  wrongConditionSiblingTrained: number;
}

export interface IcmHeldOutRow {
  task: string;
  base: number;
  /** An adapter trained on the task for the benchmark only (the generator never sees it). */
  trained: number;
  generated: number;
  ratio: number;
  /** The simplest alternative: the stored seen adapter whose condition is nearest. */
  nearestSeen: { task: string; accuracy: number };
}

/** One generator design measured in the run. */
export interface IcmDesignRow {
  design: string;
  generatorBytes: number;
  storageRatioF16: number;
  seenWorstRatio: number;
  seenMeanRatio: number;
  heldOutMeanRatio: number;
  heldOut: Record<string, number>;
  /** Compose designs: the parts each held-out task's examples were taken for (mapping/template). */
  inferredParts?: Record<string, string>;
}

/** bench-results/icm.json */
export interface IcmBenchResult {
  /** The design the top-level numbers are of. */
  mainDesign: string;
  tasks: IcmSeenRow[];
  heldOut: IcmHeldOutRow[];
  generatorBytes: number;
  /** Bytes of one float16 PEFT adapter (adapter_model.safetensors) per seen task. */
  adapterBytesF16: number;
  storageRatioF16: number;
  seenWorstRatio: number;
  heldOutMeanRatio: number;
  /** Worst over seen tasks of wrongCondition / generated. */
  wrongConditionWorstRatio: number;
  /** Storing the seen adapters: storage ratio 1, seen ratio 1, held-out = nearest seen adapter. */
  baseline: { design: 'stored-adapters'; bytes: number; storageRatioF16: 1; seenWorstRatio: 1; heldOutMeanRatio: number };
  designs: IcmDesignRow[];
  /** Tasks dropped because their trained adapter learned < minLearned on unseen authors. */
  dropped: { task: string; trained: number }[];
  targets: typeof ICM_TARGETS;
}

export interface IcmBenchOptions {
  trainAuthors: number;
  evalAuthors: number;
  evalPhrasings: number;
  training: TaskTrainingOptions;
  /** Keep tasks whose trained adapter reaches this accuracy (issue: 0.3). */
  minLearned: number;
  /** Task names to run (default: the whole family). */
  tasks?: string[];
  heldOut?: readonly string[];
  /** The reported generator and the compared variants (name → options). */
  generator: BasisGeneratorOptions;
  variants?: Record<string, BasisGeneratorOptions & { vector?: 'icm' }>;
  /** The compose generator (parts pieces + inference and refinement on the examples): its training options and the generation settings measured (name → options). */
  compose?: { train: ComposeGeneratorOptions; designs: Record<string, ComposeGenerateOptions & { train?: ComposeGeneratorOptions }> };
  /** Which design the top-level numbers report: 'basis' (default) or the name of a compose design. */
  main?: string;
  vector?: TaskVectorSpec;
  samples: number;
  /** Reuse trained checkpoints keyed by task, training options and model (written when missing). */
  cacheDir?: string;
  modelKey?: string;
  log?: (line: string) => void;
  /** Receives the main compose design's generator file (trained on the seen tasks), e.g. to ship it with the model. */
  saveGenerator?: (bytes: Uint8Array) => void;
}

export interface IcmBenchDetails {
  evalItems: number;
  samples: number;
  perSeed: Record<string, number[]>;
  trainSeconds: Record<string, number>;
  cached: string[];
  seconds: number;
}

interface TaskRun {
  def: FamilyTask;
  data: TaskData;
  base: number;
  trained: number;
  final: LoraAdapter;
  checkpoints: LoraAdapter[];
  vector: Float32Array;
  icmVector: Float32Array;
}

const mean = (xs: number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
const ratio = (a: number, b: number): number => (b > 0 ? a / b : NaN);
/** Smallest finite value (a task its adapter never learned has no ratio), NaN when none. */
const worst = (xs: number[]): number => {
  const f = xs.filter(Number.isFinite);
  return f.length ? Math.min(...f) : NaN;
};

/** One design's row: its bytes against one float16 adapter per seen task, worst and mean ratios. */
function designRow(design: string, bytes: number, adapterBytes: number, seenRatios: number[], heldRatios: number[], heldOut: IcmDesignRow['heldOut']): IcmDesignRow {
  return {
    design,
    generatorBytes: bytes,
    storageRatioF16: bytes / adapterBytes,
    seenWorstRatio: worst(seenRatios),
    seenMeanRatio: mean(seenRatios.filter(Number.isFinite)),
    heldOutMeanRatio: mean(heldRatios.filter(Number.isFinite)),
    heldOut,
  };
}

export async function runIcmBench(
  model: TransformerModel,
  tokenizer: TaskTokenizer,
  world: World,
  o: IcmBenchOptions,
): Promise<{ result: IcmBenchResult; details: IcmBenchDetails }> {
  const log = o.log ?? (() => undefined);
  const started = performance.now();
  const family = allFamilyTasks().filter((t) => !o.tasks || o.tasks.includes(t.name));
  const vectorSpec = o.vector ?? DEFAULT_TASK_VECTOR;
  const runs: TaskRun[] = [];
  const trainSeconds: Record<string, number> = {};
  const cached: string[] = [];
  const owned: LoraAdapter[] = [];
  const composedAll: LoraAdapter[] = [];
  try {
    for (const def of family) {
      const data = buildTaskData(world, def, { trainAuthors: o.trainAuthors, evalAuthors: o.evalAuthors, evalPhrasings: o.evalPhrasings });
      const base = (await evaluateTask(model, tokenizer, data.eval)).accuracy;
      const got = await trainOrLoad(model, tokenizer, def, data, o, cached, trainSeconds);
      owned.push(got.final, ...got.checkpoints);
      const trained = (await evaluateTask(model, tokenizer, data.eval, got.final)).accuracy;
      const vector = taskVector(model, tokenizer, data.examples, vectorSpec);
      const icmVector = taskCondition(model, tokenizer, data.examples);
      runs.push({ def, data, base, trained, ...got, vector, icmVector });
      log(`${def.name}: base ${base.toFixed(3)} trained ${trained.toFixed(3)}${cached.includes(def.name) ? ' (cached checkpoints)' : ` (${trainSeconds[def.name].toFixed(0)} s)`}`);
    }
    const kept = runs.filter((r) => r.trained >= o.minLearned);
    const dropped = runs.filter((r) => r.trained < o.minLearned).map((r) => ({ task: r.def.name, trained: r.trained }));
    const split = splitFamily(kept.map((r) => r.def), o.heldOut ?? HELD_OUT_COMBINATIONS);
    const seen = kept.filter((r) => split.seen.includes(r.def));
    const held = kept.filter((r) => split.heldOut.includes(r.def));
    log(`kept ${kept.length} of ${runs.length} tasks (dropped ${dropped.map((d) => `${d.task} ${d.trained.toFixed(2)}`).join(', ') || 'none'}); seen ${seen.length}, held out ${held.length}${split.dropped.length ? ` (held-out tasks without a seen part: ${split.dropped.join(', ')})` : ''}`);
    if (seen.length < 2 || held.length < 1) throw new Error(`too few tasks left: ${seen.length} seen, ${held.length} held out`);
    const adapterBytes = seen.reduce((n, r) => n + adapterBytesF16(r.final, model.config), 0);
    const seeds = Array.from({ length: o.samples }, (_, i) => 1000 + i);
    const perSeed: Record<string, number[]> = {};

    // The simplest alternative: the stored seen adapter whose task vector is nearest.
    const nearest = (r: TaskRun) => seen.map((s) => ({ s, c: cosine(r.vector, s.vector) })).sort((a, b) => b.c - a.c)[0].s;
    const nearestRows = new Map<string, { task: string; accuracy: number }>();
    for (const h of held) {
      const n = nearest(h);
      nearestRows.set(h.def.name, { task: n.def.name, accuracy: (await evaluateTask(model, tokenizer, h.data.eval, n.final)).accuracy });
    }

    const accuracyOf = async (gen: BasisGenerator, condition: Float32Array, items: TaskData['eval']) => {
      const out: number[] = [];
      for (const seed of seeds) {
        const adapter = gen.generate(condition, seed);
        try {
          out.push((await evaluateTask(model, tokenizer, items, adapter)).accuracy);
        } finally {
          disposeAdapter(adapter);
        }
      }
      return out;
    };
    const designs: IcmDesignRow[] = [];
    const measure = async (name: string, options: BasisGeneratorOptions, useIcm: boolean, record: boolean) => {
      const cond = (r: TaskRun) => (useIcm ? r.icmVector : r.vector);
      const gen = BasisGenerator.train(seen.map((r) => ({ task: r.def.name, condition: cond(r), checkpoints: r.checkpoints })), options);
      const bytes = serialiseBasisGenerator(gen, { design: name }).byteLength;
      const seenRatios: number[] = [];
      const heldRows: Record<string, number> = {};
      const heldRatios: number[] = [];
      for (const r of seen) {
        const acc = await accuracyOf(gen, cond(r), r.data.eval);
        if (record) perSeed[r.def.name] = acc;
        seenRatios.push(ratio(mean(acc), r.trained));
      }
      for (const h of held) {
        const acc = await accuracyOf(gen, cond(h), h.data.eval);
        if (record) perSeed[h.def.name] = acc;
        heldRows[h.def.name] = mean(acc);
        heldRatios.push(ratio(mean(acc), h.trained));
      }
      const row = designRow(name, bytes, adapterBytes, seenRatios, heldRatios, heldRows);
      designs.push(row);
      log(`design ${name}: ${bytes} bytes (×${row.storageRatioF16.toFixed(3)} of the stored F16 adapters), seen worst ${row.seenWorstRatio.toFixed(3)} mean ${row.seenMeanRatio.toFixed(3)}, held-out mean ratio ${row.heldOutMeanRatio.toFixed(3)}`);
      return { gen, bytes, row };
    };

    // Compose designs: one generator (pieces of the seen tasks' parts); each design is a generation setting.
    const composed = new Map<string, LoraAdapter>();
    const composeDesigns = Object.entries(o.compose?.designs ?? {});
    if (o.compose && composeDesigns.length) {
      const generators = new Map<string, ComposeGenerator>();
      try {
        for (const [name, settings] of composeDesigns) {
          const trainOptions = { ...o.compose.train, ...settings.train };
          const key = JSON.stringify(trainOptions);
          if (!generators.has(key)) {
            generators.set(key, ComposeGenerator.train(seen.map((r) => ({ task: r.def.name, mapping: r.def.mapping, template: r.def.template, adapter: r.final })), trainOptions));
          }
          const gen = generators.get(key)!;
          const file = serialiseComposeGenerator(gen, { design: name, ...(o.modelKey && { modelKey: o.modelKey }) });
          const bytes = file.byteLength;
          const isMain = name === o.main;
          if (isMain) o.saveGenerator?.(file);
          const run = async (r: TaskRun) => {
            const g = await gen.generate(model, tokenizer, r.data.examples, settings);
            const acc = (await evaluateTask(model, tokenizer, r.data.eval, g.adapter)).accuracy;
            if (isMain) {
              composed.set(r.def.name, g.adapter);
              composedAll.push(g.adapter);
            } else disposeAdapter(g.adapter);
            if (isMain) perSeed[r.def.name] = [acc];
            log(`  ${name}: ${r.def.name} from its examples → ${g.seenTask ? `seen task ${g.seenTask}'s combination` : `parts ${g.mapping}/${g.template}`}, loss ${g.inferredLoss.toFixed(2)} → ${g.loss.toFixed(2)}, accuracy ${acc.toFixed(3)} (trained ${r.trained.toFixed(3)})`);
            return { acc, parts: g.seenTask ? `${g.seenTask} (seen)` : `${g.mapping}/${g.template}` };
          };
          const seenRatios: number[] = [];
          for (const r of seen) seenRatios.push(ratio((await run(r)).acc, r.trained));
          const heldRows: Record<string, number> = {};
          const inferredParts: Record<string, string> = {};
          const heldRatios: number[] = [];
          for (const h of held) {
            const { acc, parts } = await run(h);
            heldRows[h.def.name] = acc;
            inferredParts[h.def.name] = parts;
            heldRatios.push(ratio(acc, h.trained));
          }
          const row: IcmDesignRow = { ...designRow(name, bytes, adapterBytes, seenRatios, heldRatios, heldRows), inferredParts };
          designs.push(row);
          log(`design ${name}: ${bytes} bytes (×${row.storageRatioF16.toFixed(3)}), seen worst ${row.seenWorstRatio.toFixed(3)} mean ${row.seenMeanRatio.toFixed(3)}, held-out mean ratio ${row.heldOutMeanRatio.toFixed(3)}; parts taken: ${Object.entries(inferredParts).map(([k, v]) => `${k}→${v}`).join(', ')}`);
        }
      } finally {
        generators.forEach((g) => g.dispose());
      }
    }
    const composeMain = o.main !== undefined && o.main !== 'basis' && composed.size > 0;
    const main = await measure('basis', o.generator, false, !composeMain);
    {
      for (const [name, v] of Object.entries(o.variants ?? {})) await measure(name, v, v.vector === 'icm', false);
      // Wrong condition: a sibling sharing the template (another answered fact), nearest by task vector.
      const tasks: IcmSeenRow[] = [];
      const wrongRatios: number[] = [];
      for (const r of seen) {
        const siblings = seen.filter((s) => s.def.template === r.def.template && s.def.answers.join() !== r.def.answers.join());
        const sib = siblings.map((s) => ({ s, c: cosine(r.vector, s.vector) })).sort((a, b) => b.c - a.c)[0]?.s;
        const generated = mean(perSeed[r.def.name]);
        // Compose: the adapter generated from the sibling's examples; basis: the sibling's condition.
        const wrong = !sib
          ? NaN
          : composeMain
            ? (await evaluateTask(model, tokenizer, r.data.eval, composed.get(sib.def.name)!)).accuracy
            : mean(await accuracyOf(main.gen, sib.vector, r.data.eval));
        const siblingTrained = sib ? (await evaluateTask(model, tokenizer, r.data.eval, sib.final)).accuracy : NaN;
        if (sib && generated > 0) wrongRatios.push(wrong / generated);
        tasks.push({ task: r.def.name, base: r.base, trained: r.trained, generated, ratio: ratio(generated, r.trained), wrongCondition: wrong, wrongConditionTask: sib?.def.name ?? '', wrongConditionSiblingTrained: siblingTrained });
        log(`${r.def.name}: trained ${r.trained.toFixed(3)} generated ${generated.toFixed(3)} (×${ratio(generated, r.trained).toFixed(2)}), with ${sib?.def.name ?? 'no sibling'}'s condition ${wrong.toFixed(3)} (the sibling's trained adapter ${siblingTrained.toFixed(3)})`);
      }
      const heldOut: IcmHeldOutRow[] = held.map((h) => {
        const generated = mean(perSeed[h.def.name]);
        const row = { task: h.def.name, base: h.base, trained: h.trained, generated, ratio: ratio(generated, h.trained), nearestSeen: nearestRows.get(h.def.name)! };
        log(`${h.def.name} (held out): trained ${h.trained.toFixed(3)} generated ${generated.toFixed(3)} (×${row.ratio.toFixed(2)}); nearest seen ${row.nearestSeen.task} ${row.nearestSeen.accuracy.toFixed(3)}`);
        return row;
      });
      const mainRow = composeMain ? designs.find((d) => d.design === o.main)! : main.row;
      const result: IcmBenchResult = {
        mainDesign: mainRow.design,
        tasks,
        heldOut,
        generatorBytes: mainRow.generatorBytes,
        adapterBytesF16: adapterBytes,
        storageRatioF16: mainRow.generatorBytes / adapterBytes,
        seenWorstRatio: worst(tasks.map((t) => t.ratio)),
        heldOutMeanRatio: mean(heldOut.map((h) => h.ratio).filter(Number.isFinite)),
        wrongConditionWorstRatio: wrongRatios.length ? Math.max(...wrongRatios) : NaN,
        baseline: {
          design: 'stored-adapters',
          bytes: adapterBytes,
          storageRatioF16: 1,
          seenWorstRatio: 1,
          heldOutMeanRatio: mean(heldOut.map((h) => ratio(h.nearestSeen.accuracy, h.trained)).filter(Number.isFinite)),
        },
        designs,
        dropped,
        targets: ICM_TARGETS,
      };
      return { result, details: { evalItems: seen[0].data.eval.length, samples: o.samples, perSeed, trainSeconds, cached, seconds: (performance.now() - started) / 1000 } };
    }
  } finally {
    owned.forEach(disposeAdapter);
    composedAll.forEach(disposeAdapter);
  }
}

/** What a cached task's checkpoints must have been trained with: task, training options, authors, model. */
export function taskCacheKey(def: FamilyTask, o: Pick<IcmBenchOptions, 'training' | 'trainAuthors' | 'modelKey'>): string {
  const { signal: _s, onProgress: _p, ...training } = o.training;
  return createHash('sha256')
    .update(JSON.stringify({ task: def.name, answer: def.description, training, trainAuthors: o.trainAuthors, model: o.modelKey ?? '' }))
    .digest('hex')
    .slice(0, 16);
}

/** Trains a task adapter, or reads its checkpoints from the cache when the same run made them. */
async function trainOrLoad(
  model: TransformerModel,
  tokenizer: TaskTokenizer,
  def: FamilyTask,
  data: TaskData,
  o: IcmBenchOptions,
  cached: string[],
  seconds: Record<string, number>,
): Promise<{ final: LoraAdapter; checkpoints: LoraAdapter[] }> {
  const key = taskCacheKey(def, o);
  const dir = o.cacheDir ? join(o.cacheDir, def.name.replace('/', '__')) : undefined;
  if (dir && existsSync(join(dir, 'meta.json'))) {
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { key: string; checkpoints: number; seconds: number };
    if (meta.key === key) {
      const final = await loadPeftAdapter(join(dir, 'final'), model.config);
      const checkpoints: LoraAdapter[] = [];
      for (let i = 0; i < meta.checkpoints; i++) checkpoints.push(await loadPeftAdapter(join(dir, `ckpt${i}`), model.config));
      cached.push(def.name);
      seconds[def.name] = meta.seconds;
      return { final, checkpoints };
    }
  }
  const r = await trainTaskAdapter(model, tokenizer, data.train, o.training);
  seconds[def.name] = r.seconds;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    await savePeftAdapter(join(dir, 'final'), r.adapter, model.config);
    for (const [i, c] of r.checkpoints.entries()) await savePeftAdapter(join(dir, `ckpt${i}`), c.adapter, model.config);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ key, checkpoints: r.checkpoints.length, seconds: r.seconds, steps: r.checkpoints.map((c) => c.step) }));
  }
  return { final: r.adapter, checkpoints: r.checkpoints.map((c) => c.adapter) };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    s += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return s / (Math.sqrt(na * nb) || 1);
}
