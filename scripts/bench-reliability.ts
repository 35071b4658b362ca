/**
 * bench:reliability (issue 12): the reliability suite at a larger size than CI, section by
 * section, printing a table per section and writing bench-results/reliability.json (each section
 * under its own key, other sections' results kept).
 *
 *   npm run bench:reliability                          # every section
 *   npm run bench:reliability -- --only fuzz --cases 20000 --seed 7
 *   npm run bench:reliability -- --only load,killRecovery --seconds 20
 *
 * Sections:
 * - fuzz: the OpenAPI fuzz of test/e2e/fuzz-openapi.test.ts (test/support/openapi-fuzz.ts) with
 *   more cases (default 10,000) on one booted app (embedded PGlite, tiny random model, role api):
 *   cases, 2xx, 4xx, 5xx and broken answers per operation. Met when 5xx = 0 and broken = 0.
 * - killRecovery (scripts/reliability-kill.ts): SIGKILL the service (child process, demo model)
 *   mid-training, restart it, seconds from the restart to the request active. Met under 90 s.
 * - load (scripts/reliability-load.ts): autocannon, 32 connections, --seconds (60): completions
 *   with auto routing + a few unlearning submissions; p50/p99, error rate, 429s apart, audit chain
 *   verified afterwards. Met when the error rate is 0 and the chain is valid.
 *
 * Runs through SWC (scripts/swc-register.mjs), not tsx: the app's DTO validation needs decorator
 * metadata, which tsx does not emit.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ModelHost } from '../src/modules/inference/model-host.service.js';
import { createModelFixture } from '../src/serving/testing/model-fixture.js';
import { startTestApp } from '../test/support/app.js';
import { fuzzContextFor } from '../test/support/fuzz-fixtures.js';
import { describeOutcome, formatFuzzTable, runOpenApiFuzz, type FuzzReport } from '../test/support/openapi-fuzz.js';
import { killRecoverySection } from './reliability-kill.js';
import { loadSection } from './reliability-load.js';

const RESULTS = resolve('bench-results/reliability.json');

interface Options {
  cases: number;
  seed: number;
  /** Duration of the load section (--seconds, default 60). */
  seconds: number;
}

/** One section: runs, prints its table, returns what goes under its key in the JSON. */
type Section = (options: Options) => Promise<{ result: unknown; met: boolean }>;

async function fuzzSection(options: Options): Promise<{ result: unknown; met: boolean }> {
  process.env.LETHE_LOG_LEVEL ??= 'silent';
  const fixture = await createModelFixture();
  const app = await startTestApp({ env: { LETHE_ROLE: 'api', LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1' } });
  let report: FuzzReport;
  try {
    await app.app.get(ModelHost).whenReady();
    const context = await fuzzContextFor(app, fixture.config);
    report = await runOpenApiFuzz({ baseUrl: app.baseUrl, context, cases: options.cases, seed: options.seed });
  } finally {
    await app.close();
    await fixture.dispose();
  }
  const serverErrors = Object.values(report.byOperation).reduce((n, r) => n + r.serverErrors, 0);
  console.log(`\n## fuzz: ${report.cases} cases, seed ${report.seed}, ${(report.elapsedMs / 1000).toFixed(1)} s\n`);
  console.log(formatFuzzTable(report));
  for (const v of report.violations.slice(0, 20)) console.log(`  broken: ${describeOutcome(v)}`);
  const met = serverErrors === 0 && report.violations.length === 0;
  console.log(`\nfuzz: ${serverErrors} x 5xx, ${report.violations.length} broken answers: ${met ? 'met' : 'NOT met'}`);
  return {
    met,
    result: {
      cases: report.cases,
      seed: report.seed,
      elapsedMs: report.elapsedMs,
      serverErrors,
      brokenAnswers: report.violations.length,
      byOperation: report.byOperation,
      examples: report.violations.slice(0, 20).map(describeOutcome),
      met,
    },
  };
}

/** Sections by name, in running order. */
const SECTIONS: Record<string, Section> = {
  fuzz: fuzzSection,
  killRecovery: () => killRecoverySection(),
  load: (o) => loadSection(o.seconds),
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      cases: { type: 'string', default: '10000' },
      seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
      seconds: { type: 'string', default: '60' },
    },
  });
  const options: Options = { cases: Number(values.cases), seed: Number(values.seed), seconds: Number(values.seconds) };
  if (!Number.isInteger(options.seconds) || options.seconds < 1) throw new Error(`--seconds ${values.seconds} is not a positive integer`);
  if (!Number.isInteger(options.cases) || options.cases < 1) throw new Error(`--cases ${values.cases} is not a positive integer`);
  const names = values.only ? values.only.split(',') : Object.keys(SECTIONS);
  for (const n of names) if (!SECTIONS[n]) throw new Error(`unknown section ${n} (sections: ${Object.keys(SECTIONS).join(', ')})`);
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>;
  } catch {
    /* first run */
  }
  let met = true;
  for (const name of names) {
    const { result, met: ok } = await SECTIONS[name](options);
    met &&= ok;
    all = { ...all, [name]: { ...(result as object), measuredAt: new Date().toISOString() } };
    mkdirSync(dirname(RESULTS), { recursive: true });
    writeFileSync(RESULTS, `${JSON.stringify(all, null, 2)}\n`);
  }
  console.log(`\nwrote ${RESULTS}`);
  // Exit explicitly: a closed app can leave timers of its libraries behind for a while.
  process.exit(met ? 0 : 1);
}

await main();
