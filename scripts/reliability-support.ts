/**
 * Shared by the load and kill-recovery sections of bench:reliability: the service as a child
 * process on the demo model (embedded PGlite in a temp folder), JSON calls, and the demo world's
 * forget items for small unlearning requests.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateApiKey } from '../src/modules/auth/api-key-secret.js';
import { startServiceProcess, type ServiceProcess } from '../test/support/service-process.js';

export const DEMO_MODEL_DIR = resolve('models/demo');
export const FINAL_STATUSES = new Set(['active', 'failed', 'needs_review', 'revoked']);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** JSON over HTTP with a bearer key; throws on a network error, returns any status. */
export async function call(url: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}

interface WorldItem {
  split: string;
  authorId?: number;
  phrasing?: number;
  prompt: string;
  answer: string;
}

/** The demo world's trained items of author `authorId` (first phrasing only when `firstPhrasing`). */
export function demoAuthorItems(authorId: number, firstPhrasing = true): { prompt: string; answer: string }[] {
  const world = JSON.parse(readFileSync(join(DEMO_MODEL_DIR, 'world.json'), 'utf8')) as { items: WorldItem[] };
  return world.items
    .filter((i) => i.split === 'trained' && i.authorId === authorId && (!firstPhrasing || i.phrasing === 0))
    .map((i) => ({ prompt: i.prompt, answer: i.answer }));
}

/** Prompts of the demo world's utility split (questions no unlearning request is about). */
export function demoUtilityPrompts(n: number): string[] {
  const world = JSON.parse(readFileSync(join(DEMO_MODEL_DIR, 'world.json'), 'utf8')) as { items: WorldItem[] };
  return world.items.filter((i) => i.split === 'utility').slice(0, n).map((i) => i.prompt);
}

/** A data folder + admin key; `start()` boots the service on them (again after a kill). */
export function serviceHome(env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'lethe-bench-reliability-'));
  const adminKey = generateApiKey().secret;
  const fullEnv = { DATABASE_URL: '', LETHE_DATA_DIR: dataDir, LETHE_ADMIN_KEY: adminKey, LETHE_MODEL_DIR: DEMO_MODEL_DIR, LETHE_LOG_LEVEL: 'info', ...env };
  return {
    dataDir,
    adminKey,
    start: (): Promise<ServiceProcess> => startServiceProcess(fullEnv, 300_000),
    dispose: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/** Polls a request until `done(body)` or `timeoutMs`; resolves to the last body. */
export async function waitForRequest(url: string, key: string, id: string, done: (r: any) => boolean, timeoutMs: number, pollMs = 100): Promise<any> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(url, key, 'GET', `/v1/unlearning-requests/${id}`);
    if (done(r.body) || Date.now() > end) return r.body;
    await sleep(pollMs);
  }
}
