/** The ICM section of docs/benchmarks.md, from the same numbers as bench-results/icm.json. */
import type { IcmBenchDetails, IcmBenchResult } from './icm-bench.js';

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
const num = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const verdict = (ok: boolean): string => (ok ? 'met' : '**missed**');

export function icmMarkdown(r: IcmBenchResult, d: IcmBenchDetails, setup: string): string {
  const t = r.targets;
  const seeds = (task: string) => (d.perSeed[task] ?? []).map((x) => pct(x)).join(' ');
  return [
    '### ICM-LoRA: generated task adapters (`npm run bench:icm`)',
    '',
    setup,
    '',
    `Top-level numbers (targets, tables below): design \`${r.mainDesign}\`.`,
    '',
    `| target | measured | target | |`,
    '|---|---|---|---|',
    `| seen tasks: generated / trained, worst task | ${num(r.seenWorstRatio)} | ≥ ${t.seenWorstRatio} | ${verdict(r.seenWorstRatio >= t.seenWorstRatio)} |`,
    `| held-out tasks: generated / trained on that task, mean | ${num(r.heldOutMeanRatio)} | ≥ ${t.heldOutMeanRatio} | ${verdict(r.heldOutMeanRatio >= t.heldOutMeanRatio)} |`,
    `| generator bytes / one float16 adapter per seen task (storageRatioF16) | ${num(r.storageRatioF16, 3)} (${r.generatorBytes.toLocaleString('en')} / ${r.adapterBytesF16.toLocaleString('en')} B) | ≤ ${t.storageRatioF16} | ${verdict(r.storageRatioF16 <= t.storageRatioF16)} |`,
    `| sibling's condition (same template) / own condition, worst task | ${num(r.wrongConditionWorstRatio)} | ≤ ${t.wrongConditionRatio} | ${verdict(r.wrongConditionWorstRatio <= t.wrongConditionRatio)} |`,
    '',
    `**Held-out tasks** (the generator never saw their checkpoints, only their ${'in-context'} examples; "trained" is an adapter trained on the task for this benchmark only; nearest seen = the stored seen adapter whose task vector is nearest, the simplest alternative):`,
    '',
    '| task | base | trained | generated | per seed | generated / trained | nearest seen adapter | its accuracy |',
    '|---|---|---|---|---|---|---|---|',
    ...r.heldOut.map((h) => `| ${h.task} | ${pct(h.base)} | ${pct(h.trained)} | ${pct(h.generated)} | ${seeds(h.task)} | ${num(h.ratio)} | ${h.nearestSeen.task} | ${pct(h.nearestSeen.accuracy)} |`),
    `| **mean ratio** | | | | | **${num(r.heldOutMeanRatio)}** | stored adapters: | **${num(r.baseline.heldOutMeanRatio)}** |`,
    '',
    `**Seen tasks** (${r.tasks.length}; wrong condition = generated from the nearest sibling's task vector, same template, another answered fact):`,
    '',
    '| task | base | trained | generated | per seed | generated / trained | wrong condition | the sibling\'s trained adapter on these items |',
    '|---|---|---|---|---|---|---|---|',
    ...r.tasks.map((s) => `| ${s.task} | ${pct(s.base)} | ${pct(s.trained)} | ${pct(s.generated)} | ${seeds(s.task)} | ${num(s.ratio)} | ${pct(s.wrongCondition)} (${s.wrongConditionTask}) | ${pct(s.wrongConditionSiblingTrained ?? NaN)} |`),
    '',
    r.dropped.length ? `Dropped (trained adapter < 30 % on unseen authors): ${r.dropped.map((x) => `${x.task} ${pct(x.trained)}`).join(', ')}.` : 'No task dropped by the 30 % rule.',
    '',
    '**Designs in the same run** (storage against one float16 adapter per seen task):',
    '',
    '| design | bytes | storage ratio | seen worst | seen mean | held-out mean ratio | held-out tasks ≥ 0.5× trained |',
    '|---|---|---|---|---|---|---|',
    `| stored seen adapters (nearest for held-out) | ${r.baseline.bytes.toLocaleString('en')} | 1.000 | 1.00 | 1.00 | ${num(r.baseline.heldOutMeanRatio)} | ${r.heldOut.filter((h) => h.nearestSeen.accuracy >= 0.5 * h.trained).length} of ${r.heldOut.length} |`,
    ...r.designs.map((x) => `| ${x.design} | ${x.generatorBytes.toLocaleString('en')} | ${num(x.storageRatioF16, 3)} | ${num(x.seenWorstRatio)} | ${num(x.seenMeanRatio)} | ${num(x.heldOutMeanRatio)} | ${r.heldOut.filter((h) => (x.heldOut[h.task] ?? 0) >= 0.5 * h.trained).length} of ${r.heldOut.length} |`),
    '',
    ...r.designs
      .filter((x) => x.inferredParts)
      .map((x) => `Parts the \`${x.design}\` design took each held-out task's examples for: ${Object.entries(x.inferredParts!).map(([k, v]) => (k === v ? `${k} (right)` : `${k} → **${v}**`)).join(', ')}.`),
    '',
    `${d.evalItems} evaluation items per task (one item = ${pct(1 / d.evalItems)}). Whole run ${(d.seconds / 60).toFixed(1)} min.`,
  ].join('\n');
}
