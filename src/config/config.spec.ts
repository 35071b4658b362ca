import { describe, expect, it } from 'vitest';
import { DEFAULT_ACTIVATION_THRESHOLDS } from '../unlearning/activation.js';
import { ConfigError, describeEnv, ENV_SCHEMA, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('applies defaults to an empty environment', () => {
    const sut = loadConfig({});
    expect(sut).toMatchObject({ port: 3000, role: 'all', databaseUrl: undefined, logLevel: 'info', bodyLimit: '1mb' });
    expect(sut.dataDir).toBe(`${process.cwd()}/.lethe`);
    expect(sut.runsApi && sut.runsWorker).toBe(true);
    expect(Object.isFrozen(sut)).toBe(true);
  });

  it('reads and coerces every variable', () => {
    const key = `lethe_${'A1b2'.repeat(8)}`;
    const sut = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      DATABASE_URL: 'postgres://u:p@db:5432/lethe',
      LETHE_DATA_DIR: '/var/lethe',
      LETHE_ROLE: 'worker',
      LETHE_ADMIN_KEY: key,
      LETHE_BACKEND: 'cpu',
      LETHE_LOG_LEVEL: 'debug',
      LETHE_BODY_LIMIT: '5mb',
    });
    expect(sut).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: 'postgres://u:p@db:5432/lethe',
      dataDir: '/var/lethe',
      role: 'worker',
      adminKey: key,
      backend: 'cpu',
      logLevel: 'debug',
      bodyLimit: '5mb',
      runsApi: false,
      runsWorker: true,
    });
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' })).toMatchObject({ databaseUrl: undefined, port: 3000 });
  });

  it('names every bad variable in one error', () => {
    const bad = {
      PORT: '70000',
      DATABASE_URL: 'mysql://x/y',
      LETHE_ROLE: 'boss',
      LETHE_ADMIN_KEY: 'short',
      LETHE_BACKEND: 'webgpu',
      LETHE_LOG_LEVEL: 'loud',
      LETHE_BODY_LIMIT: 'huge',
    };
    let error: unknown;
    try {
      loadConfig(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const named = (error as ConfigError).issues.map((i) => i.variable).sort();
    expect(named).toEqual(Object.keys(bad).sort());
    for (const v of Object.keys(bad)) expect((error as Error).message).toContain(v);
  });

  it('reads the unlearning activation thresholds (defaults from DEFAULT_ACTIVATION_THRESHOLDS, rates within 0..1)', () => {
    expect(loadConfig({}).unlearning.activation).toEqual(DEFAULT_ACTIVATION_THRESHOLDS);
    const sut = loadConfig({
      LETHE_UNLEARNING_MAX_FORGET_ANSWER_RATE: '0.2',
      LETHE_UNLEARNING_MAX_REFERENCE_FALSE_FIRE_RATE: '0',
      LETHE_UNLEARNING_MAX_NEAR_NEGATIVE_COLLATERAL: '1',
      LETHE_UNLEARNING_ESCALATION_SECONDS: '0',
    });
    expect(sut.unlearning.activation).toEqual({ maxForgetAnswerRate: 0.2, maxReferenceFalseFireRate: 0, maxNearNegativeCollateral: 1, escalationSeconds: 0 });
    expect(Object.isFrozen(sut.unlearning.activation)).toBe(true);
    const bad = { LETHE_UNLEARNING_MAX_FORGET_ANSWER_RATE: '-0.1', LETHE_UNLEARNING_MAX_REFERENCE_FALSE_FIRE_RATE: '1.5', LETHE_UNLEARNING_MAX_NEAR_NEGATIVE_COLLATERAL: 'x', LETHE_UNLEARNING_ESCALATION_SECONDS: '-1' };
    expect(() => loadConfig(bad)).toThrow(ConfigError);
    try {
      loadConfig(bad);
    } catch (e) {
      expect((e as ConfigError).issues.map((i) => i.variable).sort()).toEqual(Object.keys(bad).sort());
    }
  });

  it('describes every variable', () => {
    const sut = describeEnv();
    expect(sut.map((d) => d.variable)).toEqual(Object.keys(ENV_SCHEMA));
    for (const d of sut) expect(d.description.length).toBeGreaterThan(10);
    expect(sut.find((d) => d.variable === 'PORT')?.default).toBe('3000');
  });
});
