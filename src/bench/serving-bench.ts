/**
 * `npm run bench:serving [-- --quick] [--parts closed,open,memory,healthz,window0,zipf]` (issues 5
 * and 13): serving measured over HTTP under load (serving-bench-run.ts), written to
 * bench-results/serving.json, docs/serving-load.svg and the serving section of docs/benchmarks.md.
 * `--quick` shrinks every loop (a smoke run: its numbers are not the targets'); `--parts` runs a cut
 * (development) and prints the numbers without writing anything.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.js';
import { FULL_SIZES, QUICK_SIZES, runServing } from './serving-bench-run.js';
import { loadPlotSvg, servingMarkdown, servingResult } from './serving-bench-report.js';

/** Replaces (or appends) `<!-- section:NAME -->...<!-- /section:NAME -->` in a markdown file. */
export function writeDocsSection(path: string, name: string, body: string): void {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    text = '# Benchmarks\n';
  }
  const open = `<!-- section:${name} -->`;
  const close = `<!-- /section:${name} -->`;
  const block = `${open}\n${body}${close}`;
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  text = start >= 0 && end > start ? text.slice(0, start) + block + text.slice(end + close.length) : `${text.trimEnd()}\n\n${block}\n`;
  mkdirSync(resolve(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

const isEntry = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isEntry) {
  const { values: args } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'model-dir': { type: 'string', default: 'models/demo' },
      out: { type: 'string', default: 'bench-results/serving.json' },
      docs: { type: 'string' },
      svg: { type: 'string', default: 'docs/serving-load.svg' },
      parts: { type: 'string' },
    },
  });
  const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
  const atStart = uptime();
  console.log(`bench:serving ${args.quick ? '--quick' : 'full'}; ${atStart}`);
  const parts = args.parts?.split(',');
  const run = await runServing({ modelDir: resolve(args['model-dir']!), sizes: args.quick ? QUICK_SIZES : FULL_SIZES, quick: args.quick!, log: (l) => console.log(l), parts });
  const result = servingResult(run);
  console.log(`load at the end: ${uptime()}`);
  if (parts) {
    console.log(JSON.stringify(result, null, 2));
    process.exit(0);
  }
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(args.out!, `${JSON.stringify(result, null, 2)}\n`);
  // The docs show the full run only, unless --docs names a file.
  const docs = args.docs ?? (args.quick ? undefined : 'docs/benchmarks.md');
  if (docs) {
    writeFileSync(args.svg!, loadPlotSvg(run.open));
    const meta = {
      command: `npm run bench:serving${args.quick ? ' -- --quick' : ''}`,
      date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      uptime: atStart.replace(/^.*load average/, 'load average'),
      svgPath: 'serving-load.svg',
      defaultWindowMs: loadConfig({}).inference.batchWindowMs,
    };
    writeDocsSection(docs, 'serving', `## Serving (issues 5 and 13)\n\n${servingMarkdown(result, run, meta)}\n`);
  }
  console.log(JSON.stringify({ ...result, load: '(see the file)' }, null, 2));
  process.exit(0);
}
