/**
 * `npm run bench:unlearning [-- --quick] [--model DIR] [--out FILE] [--docs FILE]`: the unlearning
 * benchmark of issue 4 on the demo model and world. Prints a table, writes
 * bench-results/unlearning.json ({ steps: [...] } exactly), bench-results/unlearning-details.json,
 * and (full runs) the unlearning section of docs/benchmarks.md with an SVG plot. --quick: 2 requests
 * of 1 author, 2 epochs, small evaluation sets (a smoke run for CI; its numbers are not measurements).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, type BackendName } from '../engine/backend.js';
import { loadModel } from '../unlearning/load-model.js';
import { FULL_CONFIG, QUICK_CONFIG, runUnlearningBench } from './unlearning-bench.js';
import { docsSection, markdownTable, plotSvg, replaceSection } from './unlearning-bench-report.js';
import { generateWorld } from './world.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    model: { type: 'string', default: 'models/demo' },
    out: { type: 'string', default: 'bench-results/unlearning.json' },
    docs: { type: 'string' },
  },
});
const quick = args.quick!;
const backend = await initBackend((process.env.LETHE_BACKEND as BackendName | undefined) ?? 'wasm');
if (!existsSync(`${args.model}/config.json`)) throw new Error(`no model in ${args.model} (train it with npm run model:train-demo)`);
const { model, tokenizer } = await loadModel(args.model!);
const world = generateWorld();
const cfg = quick ? QUICK_CONFIG : FULL_CONFIG;
console.log(`unlearning bench (${quick ? 'quick' : 'full'}) on ${args.model}, backend ${backend.name}`);
const { steps, details } = await runUnlearningBench(model, tokenizer, world, cfg, (line) => console.log(line));

console.log(`\n${markdownTable(steps)}\n`);
mkdirSync(dirname(args.out!), { recursive: true });
writeFileSync(args.out!, `${JSON.stringify({ steps }, null, 2)}\n`);
writeFileSync(args.out!.replace(/\.json$/, '-details.json'), `${JSON.stringify(details, null, 2)}\n`);
console.log(`wrote ${args.out} (${steps.length} rows) in ${details.totalSeconds.toFixed(0)} s`);
const docs = args.docs ?? (quick ? undefined : 'docs/benchmarks.md');
if (docs) {
  const svgPath = 'unlearning-rd-du.svg';
  mkdirSync(dirname(docs), { recursive: true });
  writeFileSync(`${dirname(docs)}/${svgPath}`, plotSvg(steps));
  const text = existsSync(docs) ? readFileSync(docs, 'utf8') : '# Benchmarks\n';
  const command = `npm run bench:unlearning${quick ? ' -- --quick' : ''}`;
  writeFileSync(docs, replaceSection(text, docsSection(steps, details, { date: new Date().toISOString().slice(0, 10), backend: backend.name, command, svgPath })));
  console.log(`updated ${docs}`);
}
model.dispose();
