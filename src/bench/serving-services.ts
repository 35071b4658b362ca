/**
 * The services bench:serving measures (issue 13), each a real Lethe booted from a data folder
 * (embedded Postgres) and listening on a local port:
 * - the routed state: 5 unlearning adapters made by the unlearning pipeline over HTTP (one author's
 *   facts each, asked once: the request people send; their real detectors) and 1 task adapter that
 *   auto routing reaches (its centroid = the task prompts' condition vector). Made once and kept
 *   under scratch/serving-bench-cache/<key> (key: model weights, forget items, CACHE_VERSION), so
 *   reruns copy it instead of training; a fresh clone makes it from nothing.
 * - copies of that folder for every service of a run (default settings, window 0, Zipf...).
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { loadConfig } from '../config/config.js';
import { bootstrap } from '../main.js';
import { generateApiKey } from '../modules/auth/api-key-secret.js';
import { AdapterRegistryService } from '../modules/adapters/adapter-registry.service.js';
import { ModelHost } from '../modules/inference/model-host.service.js';
import { randomPeftFiles } from '../serving/testing/model-fixture.js';

/** Bump when what the cached state holds changes (adapters, their options). */
const CACHE_VERSION = 1;
/** The pipeline's adapter shape (its defaults): rank 8, alpha 16, every projection. */
export const PIPELINE_RANK = 8;
export const PIPELINE_ALPHA = 16;

export interface BenchService {
  app: INestApplication;
  url: string;
  adminKey: string;
  /** A client-role key: what the load sends. */
  clientKey: string;
  dataDir: string;
  close(): Promise<void>;
}

/** Boots a service on `dataDir` (created if missing) with the service's defaults plus `env`. */
export async function startService(o: { modelDir: string; dataDir: string; adminKey: string; env?: Record<string, string> }): Promise<BenchService> {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LETHE_DATA_DIR: o.dataDir,
    LETHE_ADMIN_KEY: o.adminKey,
    LETHE_LOG_LEVEL: 'error',
    LETHE_MODEL_DIR: o.modelDir,
    LETHE_JOBS_POLL_SECONDS: '0.5',
    ...o.env,
  });
  const started = await bootstrap(config);
  try {
    await started.app.get(ModelHost).whenReady();
    const res = await fetch(`${started.url}/v1/admin/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${o.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench client', role: 'client' }),
    });
    if (res.status !== 201) throw new Error(`could not create a client key: ${res.status} ${await res.text()}`);
    const { key } = (await res.json()) as { key: string };
    return { app: started.app, url: started.url!, adminKey: o.adminKey, clientKey: key, dataDir: o.dataDir, close: () => started.close() };
  } catch (e) {
    await started.close();
    throw e;
  }
}

/** A forget request as the bench submits it (one author's facts, each asked once). */
export interface ForgetRequest {
  name: string;
  items: Array<{ prompt: string; answer: string }>;
}

export interface RoutedState {
  /** Template data folder: copy it (copyState) before booting a service on it. */
  dir: string;
  adminKey: string;
  /** Unlearning requests that ended needs_review and were accepted by the bench's admin. */
  reviewed: string[];
  /** Seconds the 5 requests took (0 when the cache was used). */
  trainSeconds: number;
  fromCache: boolean;
}

/**
 * The routed state for `modelDir`: from the cache when present, else made (5 unlearning requests
 * through POST /v1/unlearning-requests, sequential as operators send them, then the task adapter).
 * `quick` trains 2 epochs per request (CI) and is cached apart.
 */
export async function routedState(o: {
  modelDir: string;
  forget: ForgetRequest[];
  taskPrompts: string[];
  quick: boolean;
  cacheRoot?: string;
  log: (line: string) => void;
}): Promise<RoutedState> {
  const key = createHash('sha256')
    .update(readFileSync(join(o.modelDir, 'model.safetensors')))
    .update(JSON.stringify({ v: CACHE_VERSION, forget: o.forget, task: o.taskPrompts, quick: o.quick }))
    .digest('hex')
    .slice(0, 16);
  const dir = resolve(o.cacheRoot ?? 'scratch/serving-bench-cache', key);
  const meta = join(dir, 'state.json');
  if (existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as Omit<RoutedState, 'dir' | 'fromCache'>;
    o.log(`routed state from ${dir}`);
    return { ...m, dir: join(dir, 'data'), fromCache: true };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const adminKey = generateApiKey().secret;
  const dataDir = join(dir, 'data');
  const svc = await startService({ modelDir: o.modelDir, dataDir, adminKey });
  const reviewed: string[] = [];
  const t0 = performance.now();
  try {
    for (const r of o.forget) {
      const status = await forgetOverHttp(svc, r, o.quick ? { epochs: 2 } : {});
      o.log(`unlearning request ${r.name}: ${status} after ${Math.round((performance.now() - t0) / 1000)} s`);
      if (status === 'needs_review') reviewed.push(r.name);
      else if (status !== 'active') throw new Error(`unlearning request ${r.name} ended ${status}`);
    }
    await registerAutoTask(svc.app, o.taskPrompts);
  } finally {
    await svc.close();
  }
  const state = { adminKey, reviewed, trainSeconds: Math.round((performance.now() - t0) / 1000) };
  writeFileSync(meta, JSON.stringify(state, null, 2));
  return { ...state, dir: dataDir, fromCache: false };
}

/**
 * Postgres's directories that start empty. A copy of the cache that keeps files only (a snapshot of
 * scratch/ moved between machines) drops them, and PGlite then fails to initialise.
 */
const PG_EMPTY_DIRS = [
  'pg_commit_ts', 'pg_dynshmem', 'pg_logical/mappings', 'pg_logical/snapshots', 'pg_notify', 'pg_replslot', 'pg_serial',
  'pg_snapshots', 'pg_stat', 'pg_stat_tmp', 'pg_tblspc', 'pg_twophase', 'pg_wal/archive_status', 'pg_wal/summaries',
];

/** A fresh copy of a template data folder (the caller removes it). */
export function copyState(template: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lethe-bench-serving-'));
  cpSync(template, dir, { recursive: true });
  for (const d of PG_EMPTY_DIRS) mkdirSync(join(dir, 'pgdata', d), { recursive: true });
  return dir;
}

/** Submits one unlearning request over HTTP and waits for its end; a needs_review one is accepted by the admin. */
async function forgetOverHttp(svc: BenchService, r: ForgetRequest, options: Record<string, unknown>): Promise<string> {
  const headers = { authorization: `Bearer ${svc.adminKey}`, 'content-type': 'application/json' };
  const res = await fetch(`${svc.url}/v1/unlearning-requests`, { method: 'POST', headers, body: JSON.stringify({ name: r.name, relabel: 'refusal', items: r.items, options }) });
  if (res.status !== 202) throw new Error(`unlearning request ${r.name}: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  for (;;) {
    const { status } = (await (await fetch(`${svc.url}/v1/unlearning-requests/${id}`, { headers })).json()) as { status: string };
    if (status === 'needs_review') {
      const act = await fetch(`${svc.url}/v1/unlearning-requests/${id}/activate`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ reason: 'serving benchmark: measured as deployed' }),
      });
      if (act.status !== 200) throw new Error(`activating ${r.name}: ${act.status} ${await act.text()}`);
      return status;
    }
    if (['active', 'failed', 'revoked'].includes(status)) return status;
    await new Promise((done) => setTimeout(done, 500));
  }
}

/** The auto task adapter: pipeline-shaped random weights, centroid = mean condition vector of the task prompts. */
async function registerAutoTask(app: INestApplication, prompts: string[]): Promise<void> {
  const host = app.get(ModelHost);
  const { last } = await host.promptFeatures(prompts.map((p) => host.tokenizer!.encode(p)));
  const centroid = new Array<number>(last[0].length).fill(0);
  for (const v of last) for (let i = 0; i < v.length; i++) centroid[i] += v[i] / last.length;
  const registry = app.get(AdapterRegistryService);
  const files = randomPeftFiles(host.modelConfig!, 200, PIPELINE_RANK, PIPELINE_ALPHA, 0.02);
  const cfg = files.adapterConfig as { target_modules: string[] };
  const task = await registry.create(
    {
      name: 'utility-task',
      kind: 'task',
      baseModel: host.modelId,
      rank: PIPELINE_RANK,
      alpha: PIPELINE_ALPHA,
      targetModules: cfg.target_modules,
      weights: files.weights,
      lineage: { centroid },
    },
    'system',
  );
  await registry.activate(task.id, 'system');
}

/**
 * Registers `names` as active task adapters with pipeline-shaped random weights (seeded by index)
 * and no centroid: clients reach them by name. `copies` gives a name the weights of an existing
 * adapter (the static way's copies of the routed plans' adapters).
 */
export async function registerTaskAdapters(app: INestApplication, names: string[], seedFrom: number): Promise<void> {
  const host = app.get(ModelHost);
  const registry = app.get(AdapterRegistryService);
  for (const [i, name] of names.entries()) {
    const files = randomPeftFiles(host.modelConfig!, seedFrom + i, PIPELINE_RANK, PIPELINE_ALPHA, 0.02);
    const cfg = files.adapterConfig as { target_modules: string[] };
    await registry.create(
      { name, kind: 'task', baseModel: host.modelId, rank: PIPELINE_RANK, alpha: PIPELINE_ALPHA, targetModules: cfg.target_modules, weights: files.weights, status: 'active' },
      'system',
    );
  }
}

/** Copies adapters of `from` (by id) into `to` as active task adapters named `<prefix><id>`, same weights. */
export async function copyAdaptersAsTasks(from: INestApplication, to: INestApplication, ids: string[], prefix: string): Promise<Map<string, string>> {
  const src = from.get(AdapterRegistryService);
  const dst = to.get(AdapterRegistryService);
  const host = to.get(ModelHost);
  const names = new Map<string, string>();
  for (const id of ids) {
    const a = await src.get(id);
    const weights = new Uint8Array(await src.readWeights(id));
    const name = `${prefix}${a.name}`;
    await dst.create(
      { name, kind: 'task', baseModel: host.modelId, rank: a.rank, alpha: Number(a.alpha), targetModules: a.targetModules, weights, status: 'active' },
      'system',
    );
    names.set(id, name);
  }
  return names;
}
