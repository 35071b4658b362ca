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

/** bench-results/icm.json, exactly the issue's shape. */
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
  /** Evaluation prompts per evaluation author (1–3 trained phrasings; full run 3: 90 items per task). */
  evalPhrasings: number;
  training: TaskTrainingOptions;
  generator: { epochs: number; seed: number; architecture?: ArchitectureOptions };
  /** Samples (seeds) per generated accuracy (issue: 5). */
  samples: number;
  log?: (line: string) => void;
}

/** Everything the report prints besides the JSON. */
export interface IcmBenchDetails {
  metrics: GeneratorMetrics;
  /** Evaluation items per task (authors × phrasings). */
  evalItems: number;
  /** Generated adapters (seeds) per task. */
  samples: number;
  perTask: Record<
    string,
    {
      trainSeconds: number;
      finalLoss: number;
      generatedPerSeed: number[];
      /** Per seed: share of evaluation items where the generated adapter's answer equals the trained adapter's. */
      agreementPerSeed: number[];
      /** Accuracy of each kept checkpoint (oldest first; the last is the trained adapter's snapshot): the distribution the generator learns. */
      checkpointAccuracies: number[];
      wrongConditionTask: string;
    }
  >;
  heldOutPerSeed: number[];
  /** The held-out task's items answered by each seen task's trained adapter (what interpolating seen tasks could reach). */
  heldOutWithSeenAdapters: Record<string, number>;
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
  const data = (t: (typeof TASK_SUITE)[number]): TaskData => buildTaskData(world, t, { trainAuthors: o.trainAuthors, evalAuthors: o.evalAuthors, evalPhrasings: o.evalPhrasings });
  const seen = TASK_SUITE.map((t) => ({ def: t, data: data(t) }));
  const rows: IcmBenchResult['tasks'] = [];
  const perTask: IcmBenchDetails['perTask'] = {};
  const sets: { task: string; condition: Float32Array; checkpoints: LoraAdapter[] }[] = [];
  const owned: LoraAdapter[] = [];
  const trainedAnswers: string[][] = [];
  const trainedAdapters: LoraAdapter[] = [];
  try {
    for (const { def, data: d } of seen) {
      const base = (await evaluateTask(model, tokenizer, d.eval)).accuracy;
      const condition = taskCondition(model, tokenizer, d.examples);
      const r = await trainTaskAdapter(model, tokenizer, d.train, o.training);
      owned.push(r.adapter, ...r.checkpoints.map((c) => c.adapter));
      const trainedRun = await evaluateTask(model, tokenizer, d.eval, r.adapter);
      const trained = trainedRun.accuracy;
      trainedAnswers.push(trainedRun.answers);
      trainedAdapters.push(r.adapter);
      const checkpointAccuracies: number[] = [];
      for (const c of r.checkpoints) checkpointAccuracies.push((await evaluateTask(model, tokenizer, d.eval, c.adapter)).accuracy);
      const avg = averageAdapters(r.checkpoints.map((c) => c.adapter));
      owned.push(avg);
      const checkpointAverage = (await evaluateTask(model, tokenizer, d.eval, avg)).accuracy;
      sets.push({ task: def.name, condition, checkpoints: r.checkpoints.map((c) => c.adapter) });
      rows.push({ task: def.name, base, trained, generated: NaN, checkpointAverage, wrongCondition: NaN });
      perTask[def.name] = { trainSeconds: r.seconds, finalLoss: r.losses.at(-1) ?? NaN, generatedPerSeed: [], agreementPerSeed: [], checkpointAccuracies, wrongConditionTask: '' };
      log(`${def.name}: base ${base.toFixed(3)} trained ${trained.toFixed(3)} checkpoint-average ${checkpointAverage.toFixed(3)} kept checkpoints ${mean(checkpointAccuracies).toFixed(3)} [${Math.min(...checkpointAccuracies).toFixed(3)}–${Math.max(...checkpointAccuracies).toFixed(3)}] (${r.seconds.toFixed(0)} s, loss ${r.losses[0].toFixed(3)} → ${r.losses.at(-1)!.toFixed(3)})`);
    }
    const g = await trainTaskGenerator(sets, model.config, {
      epochs: o.generator.epochs,
      seed: o.generator.seed,
      architecture: o.generator.architecture,
      onProgress: (p) => p.epoch % 10 === 0 && log(`generator epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)} (mse ${p.mse.toFixed(4)}, kl ${p.kl.toFixed(2)})`),
    });
    try {
      log(`generator: ${g.metrics.generatorBytes} bytes vs ${g.metrics.checkpointBytes} checkpoint bytes (ratio ${g.metrics.storageRatio.toFixed(4)})`);
      // Per seed: accuracy and, against `reference` answers, the share of identical answers.
      const sampleRuns = async (condition: Float32Array, items: TaskData['eval'], seeds: number[], reference?: string[]) => {
        const accuracy: number[] = [];
        const agreement: number[] = [];
        for (const seed of seeds) {
          const adapter = g.generator.generate(condition, seed);
          try {
            const run = await evaluateTask(model, tokenizer, items, adapter);
            accuracy.push(run.accuracy);
            if (reference) agreement.push(run.answers.filter((a, k) => firstLine(a) === firstLine(reference[k])).length / items.length);
          } finally {
            disposeAdapter(adapter);
          }
        }
        return { accuracy, agreement };
      };
      const sampleAccuracy = async (condition: Float32Array, items: TaskData['eval'], seeds: number[]) => (await sampleRuns(condition, items, seeds)).accuracy;
      const seeds = Array.from({ length: o.samples }, (_, i) => 1000 + i);
      for (const [i, { def, data: d }] of seen.entries()) {
        const { accuracy: per, agreement } = await sampleRuns(sets[i].condition, d.eval, seeds, trainedAnswers[i]);
        // Control: the next task's condition (a different format), one sample per seed as well.
        const other = sets[(i + 1) % sets.length];
        const wrong = await sampleAccuracy(other.condition, d.eval, seeds);
        rows[i].generated = mean(per);
        rows[i].wrongCondition = mean(wrong);
        perTask[def.name].generatedPerSeed = per;
        perTask[def.name].agreementPerSeed = agreement;
        perTask[def.name].wrongConditionTask = other.task;
        log(`${def.name}: generated ${rows[i].generated.toFixed(3)} [${per.map((x) => x.toFixed(3)).join(' ')}], same answer as trained ${mean(agreement).toFixed(3)}, wrong-condition (${other.task}) ${rows[i].wrongCondition.toFixed(3)}`);
      }
      const held = buildTaskData(world, HELD_OUT_TASK, { trainAuthors: o.trainAuthors, evalAuthors: o.evalAuthors, evalPhrasings: o.evalPhrasings });
      const heldBase = (await evaluateTask(model, tokenizer, held.eval)).accuracy;
      const heldPer = await sampleAccuracy(taskCondition(model, tokenizer, held.examples), held.eval, seeds);
      const heldOutWithSeenAdapters: Record<string, number> = {};
      for (const [i, { def }] of seen.entries()) heldOutWithSeenAdapters[def.name] = (await evaluateTask(model, tokenizer, held.eval, trainedAdapters[i])).accuracy;
      log(
        `${HELD_OUT_TASK.name} (held out): base ${heldBase.toFixed(3)} generated ${mean(heldPer).toFixed(3)} [${heldPer.map((x) => x.toFixed(3)).join(' ')}]; ` +
          `seen tasks' trained adapters on its items: ${Object.entries(heldOutWithSeenAdapters).map(([t, a]) => `${t} ${a.toFixed(3)}`).join(', ')}`,
      );
      const result: IcmBenchResult = {
        tasks: rows,
        generatorBytes: g.metrics.generatorBytes,
        checkpointBytes: g.metrics.checkpointBytes,
        storageRatio: g.metrics.storageRatio,
        heldOut: { task: HELD_OUT_TASK.name, base: heldBase, generated: mean(heldPer) },
      };
      return { result, details: { metrics: g.metrics, evalItems: seen[0].data.eval.length, samples: o.samples, perTask, heldOutPerSeed: heldPer, heldOutWithSeenAdapters, seconds: (performance.now() - started) / 1000 } };
    } finally {
      g.generator.dispose();
    }
  } finally {
    owned.forEach(disposeAdapter);
  }
}

const firstLine = (text: string): string => text.split('\n')[0].trim();

function mean(xs: number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The markdown table for docs/benchmarks.md. */
export function icmMarkdown(r: IcmBenchResult, d: IcmBenchDetails, setup: string): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const range = (xs: number[]) => (xs.length ? `${pct(Math.min(...xs))}–${pct(Math.max(...xs))}` : 'n/a');
  const lines = [
    '### ICM-LoRA: generated task adapters (`npm run bench:icm`)',
    '',
    setup,
    '',
    `Every accuracy is over ${d.evalItems} evaluation items per task (one item = ${pct(1 / d.evalItems)}). ` +
      'Per seed: the generated adapters\' accuracies (min–max); same answer: share of items where a generated adapter answers exactly as the trained adapter (mean over seeds); ' +
      'kept checkpoints: accuracy of each checkpoint the generator was trained on for the task, mean (min–max): the trained adapter is the last of them, one draw from that spread.',
    '',
    `| task | base | trained | generated (mean of ${d.samples}) | per seed | generated / trained | same answer as trained | kept checkpoints | checkpoint average | wrong condition |`,
    '|---|---|---|---|---|---|---|---|---|---|',
    ...r.tasks.map((t) => {
      const p = d.perTask[t.task];
      return (
        `| ${t.task} | ${pct(t.base)} | ${pct(t.trained)} | ${pct(t.generated)} | ${range(p.generatedPerSeed)} | ${t.trained > 0 ? (t.generated / t.trained).toFixed(2) : 'n/a'} | ` +
        `${pct(mean(p.agreementPerSeed))} | ${pct(mean(p.checkpointAccuracies))} (${range(p.checkpointAccuracies)}) | ${pct(t.checkpointAverage)} | ${pct(t.wrongCondition)} (${p.wrongConditionTask}'s condition) |`
      );
    }),
    `| **${r.heldOut.task}** (held out) | ${pct(r.heldOut.base)} | — | ${pct(r.heldOut.generated)} | ${range(d.heldOutPerSeed)} | — | — | — | — | — |`,
    '',
    `Held out: the generator never saw ${r.heldOut.task}'s checkpoints, only its in-context examples. Its items answered by each seen task's trained adapter: ` +
      `${Object.entries(d.heldOutWithSeenAdapters).map(([t, a]) => `${t} ${pct(a)}`).join(', ')}` +
      (Object.values(d.heldOutWithSeenAdapters).every((a) => a === 0) ? ' (no seen task\'s adapter answers any of them: an adapter near the seen ones has nothing to land on).' : '.'),
    '',
    `Generator: ${r.generatorBytes.toLocaleString('en')} bytes; the ${d.metrics.samples} checkpoints it replaces: ${r.checkpointBytes.toLocaleString('en')} bytes; ` +
      `storage ratio **${r.storageRatio.toFixed(4)}** (target ≤ 0.05). CVAE loss ${d.metrics.firstLoss.toFixed(4)} → ${d.metrics.finalLoss.toFixed(4)} over ${d.metrics.epochs} epochs. ` +
      `Whole run ${(d.seconds / 60).toFixed(1)} min.`,
  ];
  return lines.join('\n');
}
