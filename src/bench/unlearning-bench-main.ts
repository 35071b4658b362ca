/**
 * `npm run bench:unlearning [-- --quick] [--shapes a,b] [--methods a,b] [--skip-steps] [--model DIR]
 * [--out FILE] [--docs FILE]`, or `-- --long [--quick] [--requests N]` for issue 16's 50 sequential
 * requests alone (unlearning-long.ts; writes bench-results/unlearning-long.json): the unlearning benchmarks on the demo model and world. First the
 * request-shape suite (issue 11, unlearning-shapes.ts), then the per-step run of issue 4. Prints
 * tables, writes bench-results/unlearning.json ({ steps, shapes }), bench-results/
 * unlearning-details.json, and (full runs) the unlearning sections of docs/benchmarks.md with an SVG
 * plot. --quick: one request per shape, lethe and always-on only, a few steps; 2 requests of 1
 * author in the per-step run (a smoke run for CI; its numbers are not measurements).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, type BackendName } from '../engine/backend.js';
import { loadModel } from '../unlearning/load-model.js';
import { FULL_CONFIG, QUICK_CONFIG, runUnlearningBench, type StepRow, type BenchDetails } from './unlearning-bench.js';
import { runShapeSuite, SHAPES_FULL, SHAPES_QUICK, type Shape, type ShapeMethod } from './unlearning-shapes.js';
import { shapesSection, shapesTable } from './unlearning-shapes-report.js';
import { docsSection, markdownTable, plotSvg, replaceSection } from './unlearning-bench-report.js';
import { generateWorld } from './world.js';
import { LONG_FULL, LONG_QUICK, runLongSuite } from './unlearning-long.js';
import { longPlotSvg, longSection, longTable } from './unlearning-long-report.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    model: { type: 'string', default: 'models/demo' },
    out: { type: 'string', default: 'bench-results/unlearning.json' },
    docs: { type: 'string' },
    shapes: { type: 'string' },
    methods: { type: 'string' },
    'skip-steps': { type: 'boolean', default: false },
    long: { type: 'boolean', default: false },
    requests: { type: 'string' },
  },
});
const quick = args.quick!;
const backend = await initBackend((process.env.LETHE_BACKEND as BackendName | undefined) ?? 'wasm');
if (!existsSync(`${args.model}/config.json`)) throw new Error(`no model in ${args.model} (train it with npm run model:train-demo)`);
const { model, tokenizer } = await loadModel(args.model!);
const world = generateWorld();
const cfg = quick ? QUICK_CONFIG : FULL_CONFIG;
console.log(`unlearning bench (${quick ? 'quick' : 'full'}${args.long ? ', long' : ''}) on ${args.model}, backend ${backend.name}`);
if (args.long) {
  // Issue 16: 50 sequential requests, its own JSON and docs section; the other suites do not run.
  const longCfg = { ...(quick ? LONG_QUICK : LONG_FULL), ...(args.requests && { requests: Number(args.requests) }) };
  const started = performance.now();
  const result = await runLongSuite(model, tokenizer, world, longCfg, (line) => console.log(line));
  const seconds = (performance.now() - started) / 1000;
  console.log(`\n${longTable(result)}\n`);
  const out = args.out === 'bench-results/unlearning.json' ? 'bench-results/unlearning-long.json' : args.out!;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ steps: result.steps, revoke: result.revoke, config: result.config, seconds }, null, 2)}\n`);
  console.log(`wrote ${out}`);
  const docs = args.docs ?? (quick || args.requests ? undefined : 'docs/benchmarks.md');
  if (docs) {
    const svgPath = 'unlearning-long.svg';
    writeFileSync(`${dirname(docs)}/${svgPath}`, longPlotSvg(result));
    const text = existsSync(docs) ? readFileSync(docs, 'utf8') : '# Benchmarks\n';
    writeFileSync(docs, replaceSection(text, longSection(result, { date: new Date().toISOString().slice(0, 10), backend: backend.name, command: 'npm run bench:unlearning -- --long', seconds, svgPath }), 'unlearning-long'));
    console.log(`updated ${docs}`);
  }
  model.dispose();
  process.exit(0);
}
// The request-shape suite (issue 11) first: it is what users send. --shapes/--methods narrow it.
const shapeCfg = {
  ...(quick ? SHAPES_QUICK : SHAPES_FULL),
  ...(args.shapes && { shapes: args.shapes.split(',') as Shape[] }),
  ...(args.methods && { methods: args.methods.split(',') as ShapeMethod[] }),
};
const shapesStarted = performance.now();
const shapeResults = await runShapeSuite(model, tokenizer, world, shapeCfg, (line) => console.log(line));
const shapesSeconds = (performance.now() - shapesStarted) / 1000;
console.log(`\n${shapesTable(shapeResults)}\n`);
const shapes = Object.fromEntries(Object.entries(shapeResults).map(([name, r]) => [name, { requests: r.requests, methods: r.methods, ...(r.revokeFirst && { revokeFirst: r.revokeFirst }) }]));

let steps: StepRow[] = [];
let details: BenchDetails | undefined;
if (!args['skip-steps']) {
  ({ steps, details } = await runUnlearningBench(model, tokenizer, world, cfg, (line) => console.log(line)));
  console.log(`\n${markdownTable(steps)}\n`);
}
mkdirSync(dirname(args.out!), { recursive: true });
writeFileSync(args.out!, `${JSON.stringify({ steps, shapes }, null, 2)}\n`);
writeFileSync(
  args.out!.replace(/\.json$/, '-details.json'),
  `${JSON.stringify({ ...details, shapes: { config: shapeCfg, seconds: shapesSeconds, pipeline: Object.fromEntries(Object.entries(shapeResults).map(([k, r]) => [k, r.pipeline])) } }, null, 2)}\n`,
);
console.log(`wrote ${args.out} (${steps.length} step rows, ${Object.keys(shapes).length} shapes)`);
const docs = args.docs ?? (quick ? undefined : 'docs/benchmarks.md');
if (docs) {
  const svgPath = 'unlearning-rd-du.svg';
  mkdirSync(dirname(docs), { recursive: true });
  let text = existsSync(docs) ? readFileSync(docs, 'utf8') : '# Benchmarks\n';
  const command = `npm run bench:unlearning${quick ? ' -- --quick' : ''}`;
  const date = new Date().toISOString().slice(0, 10);
  text = replaceSection(text, shapesSection(shapeResults, { date, backend: backend.name, command, seconds: shapesSeconds, config: shapeCfg }), 'unlearning-shapes');
  if (details) {
    writeFileSync(`${dirname(docs)}/${svgPath}`, plotSvg(steps));
    text = replaceSection(text, docsSection(steps, details, { date, backend: backend.name, command, svgPath }));
  }
  writeFileSync(docs, text);
  console.log(`updated ${docs}`);
}
model.dispose();
