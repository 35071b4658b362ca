/**
 * ICM-LoRA benchmark (issue 6): per task of the demo suite, accuracy of the base model, the trained
 * task adapter, adapters generated from the task's condition (mean over 5 seeds), the average of the
 * task's checkpoints, and a control generated with another task's condition; the generator's bytes
 * against the bytes of every checkpoint it was trained on; a held-out task the generator never saw.
 */
import type { LoraAdapter } from '../engine/lora-types.js';
import { disposeAdapter } from '../engine/lora-trainable.js';
import type { TransformerModel } from '../engine/transformer.js';
import type { ArchitectureOptions } from '../icm/generator.js';
import { trainTaskGenerator, type GeneratorMetrics } from '../icm/generator-training.js';
import { buildTaskData, HELD_OUT_TASK, TASK_SUITE, type TaskData } from '../icm/task-suite.js';
import { averageAdapters, evaluateTask, taskCondition, trainTaskAdapter, type TaskTokenizer, type TaskTrainingOptions } from '../icm/task-training.js';
import { generateWorld } from './world.js';

/** bench-results/icm.json, exactly the shape. */
export interface IcmBenchResult {
  tasks: { task: string; base: number; trained: number; generated: number; checkpointAverage: number; wrongCondition: number }[];
  generatorBytes: number;
  checkpointBytes: number;
  storageRatio: number;
  heldOut: { task: string; base: number; generated: number };
}

export interface IcmBenchOptions {
  trainAuthors: number;
  evalAuthors: number;
  training: TaskTrainingOptions;
  generator: { epochs: number; seed: number; architecture?: ArchitectureOptions };
  /** Samples (seeds) per generated accuracy (issue: 5). */
  samples: number;
  log?: (line: string) => void;
}

/** Everything the report prints besides the JSON. */
export interface IcmBenchDetails {
  metrics: GeneratorMetrics;
  perTask: Record<string, { trainSeconds: number; finalLoss: number; generatedPerSeed: number[]; wrongConditionTask: string }>;
  heldOutPerSeed: number[];
  seconds: number;
}

/** Runs the whole benchmark on a loaded base model. */
export async function runIcmBench(
  model: TransformerModel,
  tokenizer: TaskTokenizer,
  o: IcmBenchOptions,
): Promise<{ result: IcmBenchResult; details: IcmBenchDetails }> {
  const log = o.log ?? (() => undefined);
  const started = performance.now();
  const world = generateWorld();
  const data = (t: (typeof TASK_SUITE)[number]): TaskData => buildTaskData(world, t, { trainAuthors: o.trainAuthors, evalAuthors: o.evalAuthors });
  const seen = TASK_SUITE.map((t) => ({ def: t, data: data(t) }));
  const rows: IcmBenchResult['tasks'] = [];
  const perTask: IcmBenchDetails['perTask'] = {};
  const sets: { task: string; condition: Float32Array; checkpoints: LoraAdapter[] }[] = [];
  const owned: LoraAdapter[] = [];
  try {
    for (const { def, data: d } of seen) {
      const base = (await evaluateTask(model, tokenizer, d.eval)).accuracy;
      const condition = taskCondition(model, tokenizer, d.examples);
      const r = await trainTaskAdapter(model, tokenizer, d.train, o.training);
      owned.push(r.adapter, ...r.checkpoints.map((c) => c.adapter));
      const trained = (await evaluateTask(model, tokenizer, d.eval, r.adapter)).accuracy;
      const avg = averageAdapters(r.checkpoints.map((c) => c.adapter));
      owned.push(avg);
      const checkpointAverage = (await evaluateTask(model, tokenizer, d.eval, avg)).accuracy;
      sets.push({ task: def.name, condition, checkpoints: r.checkpoints.map((c) => c.adapter) });
      rows.push({ task: def.name, base, trained, generated: NaN, checkpointAverage, wrongCondition: NaN });
      perTask[def.name] = { trainSeconds: r.seconds, finalLoss: r.losses.at(-1) ?? NaN, generatedPerSeed: [], wrongConditionTask: '' };
      log(`${def.name}: base ${base.toFixed(3)} trained ${trained.toFixed(3)} checkpoint-average ${checkpointAverage.toFixed(3)} (${r.seconds.toFixed(0)} s, loss ${r.losses[0].toFixed(3)} → ${r.losses.at(-1)!.toFixed(3)})`);
    }
    const g = await trainTaskGenerator(sets, model.config, {
      epochs: o.generator.epochs,
      seed: o.generator.seed,
      architecture: o.generator.architecture,
      onProgress: (p) => p.epoch % 10 === 0 && log(`generator epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)} (mse ${p.mse.toFixed(4)}, kl ${p.kl.toFixed(2)})`),
    });
    try {
      log(`generator: ${g.metrics.generatorBytes} bytes vs ${g.metrics.checkpointBytes} checkpoint bytes (ratio ${g.metrics.storageRatio.toFixed(4)})`);
      const sampleAccuracy = async (condition: Float32Array, items: TaskData['eval'], seeds: number[]) => {
        const out: number[] = [];
        for (const seed of seeds) {
          const adapter = g.generator.generate(condition, seed);
          try {
            out.push((await evaluateTask(model, tokenizer, items, adapter)).accuracy);
          } finally {
            disposeAdapter(adapter);
          }
        }
        return out;
      };
      const seeds = Array.from({ length: o.samples }, (_, i) => 1000 + i);
      for (const [i, { def, data: d }] of seen.entries()) {
        const per = await sampleAccuracy(sets[i].condition, d.eval, seeds);
        // Control: the next task's condition (a different format), one sample per seed as well.
        const other = sets[(i + 1) % sets.length];
        const wrong = await sampleAccuracy(other.condition, d.eval, seeds);
        rows[i].generated = mean(per);
        rows[i].wrongCondition = mean(wrong);
        perTask[def.name].generatedPerSeed = per;
        perTask[def.name].wrongConditionTask = other.task;
        log(`${def.name}: generated ${rows[i].generated.toFixed(3)} [${per.map((x) => x.toFixed(2)).join(' ')}] wrong-condition (${other.task}) ${rows[i].wrongCondition.toFixed(3)}`);
      }
      const held = buildTaskData(world, HELD_OUT_TASK, { trainAuthors: o.trainAuthors, evalAuthors: o.evalAuthors });
      const heldBase = (await evaluateTask(model, tokenizer, held.eval)).accuracy;
      const heldPer = await sampleAccuracy(taskCondition(model, tokenizer, held.examples), held.eval, seeds);
      log(`${HELD_OUT_TASK.name} (held out): base ${heldBase.toFixed(3)} generated ${mean(heldPer).toFixed(3)}`);
      const result: IcmBenchResult = {
        tasks: rows,
        generatorBytes: g.metrics.generatorBytes,
        checkpointBytes: g.metrics.checkpointBytes,
        storageRatio: g.metrics.storageRatio,
        heldOut: { task: HELD_OUT_TASK.name, base: heldBase, generated: mean(heldPer) },
      };
      return { result, details: { metrics: g.metrics, perTask, heldOutPerSeed: heldPer, seconds: (performance.now() - started) / 1000 } };
    } finally {
      g.generator.dispose();
    }
  } finally {
    owned.forEach(disposeAdapter);
  }
}

function mean(xs: number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The markdown table for docs/benchmarks.md. */
export function icmMarkdown(r: IcmBenchResult, d: IcmBenchDetails, setup: string): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [
    '### ICM-LoRA: generated task adapters (`npm run bench:icm`)',
    '',
    setup,
    '',
    '| task | base | trained | generated (mean of 5) | generated / trained | checkpoint average | wrong condition |',
    '|---|---|---|---|---|---|---|',
    ...r.tasks.map((t) =>
      `| ${t.task} | ${pct(t.base)} | ${pct(t.trained)} | ${pct(t.generated)} | ${t.trained > 0 ? (t.generated / t.trained).toFixed(2) : 'n/a'} | ${pct(t.checkpointAverage)} | ${pct(t.wrongCondition)} (${d.perTask[t.task].wrongConditionTask}'s condition) |`,
    ),
    `| **${r.heldOut.task}** (held out) | ${pct(r.heldOut.base)} | — | ${pct(r.heldOut.generated)} | — | — | — |`,
    '',
    `Generator: ${r.generatorBytes.toLocaleString('en')} bytes; the ${d.metrics.samples} checkpoints it replaces: ${r.checkpointBytes.toLocaleString('en')} bytes; ` +
      `storage ratio **${r.storageRatio.toFixed(4)}** (target ≤ 0.05). CVAE loss ${d.metrics.firstLoss.toFixed(4)} → ${d.metrics.finalLoss.toFixed(4)} over ${d.metrics.epochs} epochs. ` +
      `Whole run ${(d.seconds / 60).toFixed(1)} min.`,
  ];
  return lines.join('\n');
}
