import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// One config, three tiers (CONVENTIONS §9): unit specs beside the code, integration tests on a
// real Postgres, e2e tests over real HTTP. SWC keeps Nest's decorator metadata.
const plugins = [swc.vite({ module: { type: 'es6' } })];
const env = { TZ: 'UTC', LETHE_LOG_LEVEL: process.env.LETHE_LOG_LEVEL ?? 'silent' };

/**
 * The benchmark smoke runs (src/bench/*-bench.spec.ts, 1-2 minutes each) start first, whatever their
 * tier: with two workers, a long file started last is the whole run's tail.
 */
class BenchmarksFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const isBench = (f: TestSpecification) => /[\\/]src[\\/]bench[\\/][^\\/]+-bench\.spec\.ts$/.test(f.moduleId);
    return [...sorted.filter(isBench), ...sorted.filter((f) => !isBench(f))];
  }
}

export default defineConfig({
  test: {
    // vitest's default on 2 cores is one worker; most files wait on child processes or worker threads.
    maxWorkers: 2,
    sequence: { sequencer: BenchmarksFirst },
    projects: [
      { plugins, test: { name: 'unit', include: ['src/**/*.spec.ts', 'web/src/**/*.spec.ts'], env, testTimeout: 60_000 } },
      {
        plugins,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          env,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        plugins,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          env,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
