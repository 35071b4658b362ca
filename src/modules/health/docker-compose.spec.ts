/**
 * No Docker engine here, so `docker compose config` cannot run: this parses docker-compose.yml and
 * the Dockerfile and checks what compose and the service rely on.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { ENV_SCHEMA, loadConfig } from '../../config/config.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (name: string) => readFileSync(`${root}${name}`, 'utf8');

interface Service {
  build?: string;
  image?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
}
const compose = load(read('docker-compose.yml')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const { postgres, api, worker } = compose.services;

describe('docker-compose.yml', () => {
  it('has Postgres with a healthcheck and a named volume', () => {
    expect(postgres.image).toMatch(/^postgres:\d+/);
    expect(postgres.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(postgres.volumes).toContain('pgdata:/var/lib/postgresql/data');
  });

  it('runs the API and a worker from the one image, in their roles, after Postgres is healthy', () => {
    for (const [svc, role] of [
      [api, 'api'],
      [worker, 'worker'],
    ] as const) {
      expect(svc.build).toBe('.');
      expect(svc.image).toBe('lethe:local');
      expect(svc.environment?.LETHE_ROLE).toBe(role);
      expect(svc.depends_on?.postgres.condition).toBe('service_healthy');
      expect(svc.healthcheck?.test.join(' ')).toContain('/healthz');
      expect(svc.environment?.DATABASE_URL).toMatch(/@postgres:5432\//);
    }
  });

  it('lets the API scale (a host port range, not one fixed port) and publishes no worker port', () => {
    expect(api.ports).toHaveLength(1);
    expect(api.ports?.[0]).toMatch(/^\$\{LETHE_API_PORTS:-\d+-\d+\}:3000$/);
    expect(worker.ports).toBeUndefined();
  });

  it('only sets variables Lethe knows, with values its config accepts', () => {
    for (const svc of [api, worker]) {
      const env = { ...svc.environment, LETHE_ADMIN_KEY: '', LETHE_LOG_LEVEL: 'info' };
      for (const name of Object.keys(env)) expect(Object.keys(ENV_SCHEMA)).toContain(name);
      const config = loadConfig(env);
      expect(config.databaseUrl).toBe('postgres://lethe:lethe@postgres:5432/lethe');
    }
  });

  it('gives the worker longer to stop than the job grace period', () => {
    const grace = Number(worker.environment?.LETHE_JOBS_SHUTDOWN_GRACE_SECONDS);
    expect(Number.parseInt(worker.stop_grace_period ?? '10', 10)).toBeGreaterThan(grace + 2);
  });

  it('declares every named volume it mounts', () => {
    const named = [postgres, api, worker].flatMap((s) => s.volumes ?? []).map((v) => v.split(':')[0]);
    for (const v of named) expect(Object.keys(compose.volumes)).toContain(v);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  it('builds on node 20 with npm ci and the build script, and starts the compiled main', () => {
    expect(dockerfile).toMatch(/^FROM node:20[-\w]* AS build$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toContain('CMD ["node", "dist/src/main.js"]');
    expect(dockerfile).toContain('/healthz');
  });
  it('keeps local state and builds out of the context', () => {
    const ignored = read('.dockerignore').split('\n');
    for (const p of ['node_modules', 'dist', '.lethe', '.git']) expect(ignored).toContain(p);
  });
});
