import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// One config, three tiers (CONVENTIONS §9): unit specs beside the code, integration tests on a
// real Postgres, e2e tests over real HTTP. SWC keeps Nest's decorator metadata.
const plugins = [swc.vite({ module: { type: 'es6' } })];
const env = { TZ: 'UTC', LETHE_LOG_LEVEL: process.env.LETHE_LOG_LEVEL ?? 'silent' };

export default defineConfig({
  test: {
    maxWorkers: 2,
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
