import { describe, expect, it } from 'vitest';
import { ConfigError, describeEnv, jobExpiryVariable, loadConfig } from '../../config/config.js';
import { JOB_CATALOG } from './job-catalog.js';
import { resolveExpirySeconds } from './jobs-options.js';
import { jobsOptionsFrom } from './jobs.module.js';

const expiryOf = (env: Record<string, string>, name: string) => {
  const options = jobsOptionsFrom(loadConfig(env));
  return resolveExpirySeconds(name, (JOB_CATALOG as Record<string, { expireInSeconds?: number }>)[name]?.expireInSeconds, options);
};

describe('job expiry configuration', () => {
  it('names one variable per job type', () => {
    expect(jobExpiryVariable('unlearning.train')).toBe('LETHE_JOBS_EXPIRE_SECONDS_UNLEARNING_TRAIN');
    expect(jobExpiryVariable('jobs.prune-progress')).toBe('LETHE_JOBS_EXPIRE_SECONDS_JOBS_PRUNE_PROGRESS');
    const documented = describeEnv().map((d) => d.variable);
    for (const name of Object.keys(JOB_CATALOG)) expect(documented).toContain(jobExpiryVariable(name));
  });

  it('defaults to each type\'s catalog value', () => {
    expect(expiryOf({}, 'unlearning.train')).toBe(1800);
    expect(expiryOf({}, 'tasks.train')).toBe(3600);
    expect(expiryOf({}, 'jobs.prune-progress')).toBe(300);
    // A type without a catalog value (a test catalog) takes the process default.
    expect(expiryOf({}, 'test.other')).toBe(900);
  });

  it('LETHE_JOBS_EXPIRE_SECONDS applies to every type; a type\'s own variable beats it', () => {
    expect(expiryOf({ LETHE_JOBS_EXPIRE_SECONDS: '600' }, 'unlearning.train')).toBe(600);
    expect(expiryOf({ LETHE_JOBS_EXPIRE_SECONDS: '600' }, 'test.other')).toBe(600);
    const env = { LETHE_JOBS_EXPIRE_SECONDS: '600', LETHE_JOBS_EXPIRE_SECONDS_UNLEARNING_TRAIN: '120' };
    expect(expiryOf(env, 'unlearning.train')).toBe(120);
    expect(expiryOf(env, 'tasks.train')).toBe(600);
    expect(expiryOf({ LETHE_JOBS_EXPIRE_SECONDS_TASKS_TRAIN: '7200' }, 'tasks.train')).toBe(7200);
    expect(expiryOf({ LETHE_JOBS_EXPIRE_SECONDS_TASKS_TRAIN: '7200' }, 'generator.train')).toBe(3600);
  });

  it('reads heartbeat, staleness, worker name and the SSE ping interval, with defaults', () => {
    const d = loadConfig({});
    expect(d.jobs).toMatchObject({ heartbeatSeconds: 5, staleSeconds: 30 });
    expect(d.jobs.workerName.length).toBeGreaterThan(0);
    expect(d.ssePingSeconds).toBe(15);
    const sut = loadConfig({ LETHE_JOBS_HEARTBEAT_SECONDS: '0.5', LETHE_JOBS_STALE_SECONDS: '2', LETHE_WORKER_NAME: 'worker-1', LETHE_SSE_PING_SECONDS: '0.2' });
    expect(sut.jobs).toMatchObject({ heartbeatSeconds: 0.5, staleSeconds: 2, workerName: 'worker-1' });
    expect(sut.ssePingSeconds).toBe(0.2);
  });

  it('names every bad job variable', () => {
    const bad = {
      LETHE_JOBS_EXPIRE_SECONDS: '0',
      LETHE_JOBS_EXPIRE_SECONDS_UNLEARNING_TRAIN: '1.5',
      LETHE_JOBS_HEARTBEAT_SECONDS: '0',
      LETHE_WORKER_NAME: 'two words',
      LETHE_SSE_PING_SECONDS: 'often',
    };
    const error = (() => {
      try {
        loadConfig(bad);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.variable).sort()).toEqual(Object.keys(bad).sort());
  });

  it('refuses a staleness shorter than two heartbeats', () => {
    expect(() => loadConfig({ LETHE_JOBS_HEARTBEAT_SECONDS: '10', LETHE_JOBS_STALE_SECONDS: '15' })).toThrow(/LETHE_JOBS_STALE_SECONDS: must be at least 2/);
  });
});
