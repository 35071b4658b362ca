/**
 * Issue 12, job recovery: the service runs as a child process; an unlearning request is training
 * when the process is SIGKILLed (no shutdown hook, no hand-back: the job stays `active` in pg-boss,
 * the request `training`). The restarted process, with the default heartbeat settings, recognises
 * its previous incarnation's job, fails it through pg-boss (retry policy), moves the request back
 * to queued, and the retry finishes it: `active` well within 90 s of the restart. Its event stream
 * sends `: ping` comments and ends with the final status. On the Postgres server when DATABASE_URL
 * is set (a separate database server, as deployed), else on the embedded PGlite (which must also
 * recover its own data folder after the kill).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/modules/auth/api-key-secret.js';
import { TINY_FORGET, writeTinyCheckpoint } from '../../src/unlearning/testing/tiny-checkpoint.js';
import { http } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

const FINAL = new Set(['active', 'failed', 'needs_review', 'revoked']);

/** Reads an SSE response to its end (or `timeoutMs`); resolves to the whole text. */
async function readEventStream(url: string, key: string, timeoutMs: number): Promise<string> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(timeoutMs) });
  expect(res.status).toBe(200);
  let text = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
  } catch (e) {
    if ((e as Error).name !== 'TimeoutError' && (e as Error).name !== 'AbortError') throw e;
  }
  return text;
}

describe('SIGKILL mid-training', () => {
  let db: TestDatabase;
  let modelDir: string;
  let svc: ServiceProcess | undefined;
  const adminKey = generateApiKey().secret;

  beforeAll(async () => {
    modelDir = await writeTinyCheckpoint();
    db = await createTestDatabase(process.env.DATABASE_URL ? 'postgres' : 'pglite');
  });
  afterAll(async () => {
    await svc?.stop();
    await db?.dispose();
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
  });

  const env = () => ({
    ...db.env,
    DATABASE_URL: db.databaseUrl ?? '',
    LETHE_ADMIN_KEY: adminKey,
    LETHE_MODEL_DIR: modelDir,
    LETHE_INFERENCE_WORKERS: '0',
    LETHE_BACKEND: 'wasm',
    LETHE_JOBS_POLL_SECONDS: '0.5',
    // Stable across the restart, as a hostname is in a container; heartbeat/staleness: defaults.
    LETHE_WORKER_NAME: 'sigkill-test',
    LETHE_SSE_PING_SECONDS: '1',
    // The tiny random model cannot meet the real activation checks; this test is about the job.
    LETHE_UNLEARNING_MAX_FORGET_ANSWER_RATE: '1',
    LETHE_UNLEARNING_MAX_REFERENCE_FALSE_FIRE_RATE: '1',
    LETHE_UNLEARNING_MAX_NEAR_NEGATIVE_COLLATERAL: '1',
    LETHE_UNLEARNING_ESCALATION_SECONDS: '0',
  });

  it('the restarted service retries the job and the request is active within 90 s of the restart', async () => {
    svc = await startServiceProcess(env());
    const submitted = await http(svc.url, 'POST', '/v1/unlearning-requests', {
      key: adminKey,
      body: { name: 'killed', items: TINY_FORGET, relabel: 'replacement', replacement: 'no idea', options: { rank: 4, alpha: 8, epochs: 10 } },
    });
    expect(submitted.status).toBe(202);
    const id = submitted.body.id as string;
    const get = (s: ServiceProcess) => http(s.url, 'GET', `/v1/unlearning-requests/${id}`, { key: adminKey });

    // Kill it inside the training loop.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const r = await get(svc);
      if (r.body.status === 'training' && r.body.progress?.phase === 'training') break;
      expect(FINAL.has(r.body.status), `finished before the kill: ${JSON.stringify(r.body)}`).toBe(false);
      if (Date.now() > deadline) throw new Error(`never saw training: ${JSON.stringify(r.body)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await svc.kill('SIGKILL');

    const restartedAt = Date.now();
    svc = await startServiceProcess(env());
    const before = await get(svc);

    // Nothing of the killed run is active; the request is still where the kill left it (or already
    // moved back to queued by the restart's first sweep).
    expect(['training', 'queued']).toContain(before.body.status);
    expect(before.body.adapterId).toBeNull();

    const stream = readEventStream(`${svc.url}/v1/unlearning-requests/${id}/events`, adminKey, 90_000 - (Date.now() - restartedAt));
    let done: Record<string, any>;
    for (;;) {
      done = (await get(svc)).body;
      if (FINAL.has(done.status)) break;
      if (Date.now() - restartedAt > 90_000) throw new Error(`still ${done.status} 90 s after the restart:\n${svc.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const recoverySeconds = (Date.now() - restartedAt) / 1000;
    expect(done.status).toBe('active');
    expect(recoverySeconds).toBeLessThan(90);
    expect(done.attempts).toBe(2);

    // The event stream pinged while it waited and ended with the final status.
    const text = await stream;
    expect(text).toContain(': ping\n\n');
    expect(text).toMatch(/event: end\ndata: \{[^\n]*"status":"active"/);

    // Audited: the lost attempt sent the request back to queued, naming why; one adapter, chain intact.
    const audit = await http(svc.url, 'GET', `/v1/admin/audit?subject=unlearning_request:${id}`, { key: adminKey });
    const actions = (audit.body.items as { action: string; details: Record<string, unknown> }[]).map((e) => e.action);
    expect(actions.filter((a) => a === 'unlearning.start')).toHaveLength(2);
    const retry = (audit.body.items as { action: string; details: Record<string, unknown> }[]).find((e) => e.action === 'unlearning.retry');
    expect(retry?.details).toMatchObject({ from: 'training', to: 'queued', attempt: 1, reason: expect.stringMatching(/worker lost: a previous process of worker sigkill-test/) });
    const adapters = await http(svc.url, 'GET', '/v1/adapters?kind=unlearning', { key: adminKey });
    expect((adapters.body.items as { lineage: { unlearningRequestId: string } }[]).filter((a) => a.lineage.unlearningRequestId === id)).toHaveLength(1);
    expect((await http(svc.url, 'GET', '/v1/admin/audit/verify', { key: adminKey })).body).toMatchObject({ valid: true });
    // eslint-disable-next-line no-console
    console.log(`SIGKILL recovery: active ${recoverySeconds.toFixed(1)} s after the restart (restart took ${(svc.readyMs / 1000).toFixed(1)} s)`);
  }, 300_000); // two boots from source on a loaded 2-core machine take most of it
});
