/**
 * Readiness while the model loads (issue 17): /readyz answers 503 naming the model check until the
 * model is loaded (Kubernetes readiness; /healthz stays 200), and a completion in that window gets
 * 503 with Retry-After, logged at info in one line, not as an unhandled error. The load is held at
 * a real point: the model folder's config.json is a named pipe that the test fills when it wants
 * the load to go on (then swaps a regular file in for the engines' own reads).
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { createModelFixture, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

describe('readiness while the model loads', () => {
  let fixture: ModelFixture;
  let dir: string;
  let app: TestApp;
  let released = false;
  const info: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    fixture = await createModelFixture();
    dir = await mkdtemp(join(tmpdir(), 'lethe-slow-model-'));
    for (const f of await readdir(fixture.dir)) if (f !== 'config.json') await copyFile(join(fixture.dir, f), join(dir, f));
    await promisify(execFile)('mkfifo', [join(dir, 'config.json')]);
    vi.spyOn(Logger.prototype, 'log').mockImplementation(function (m: unknown) {
      info.push(String(m));
    });
    vi.spyOn(Logger.prototype, 'error').mockImplementation(function (m: unknown) {
      errors.push(String(m));
    });
    app = await startTestApp({ env: { LETHE_MODEL_DIR: dir, LETHE_MODEL_ID: 'slow', LETHE_INFERENCE_WORKERS: '1' } });
  });
  // Lets the load go on: the pipe's reader gets the config, the engines then read a regular file.
  const release = async () => {
    if (released) return;
    released = true;
    const config = await readFile(join(fixture.dir, 'config.json'));
    await writeFile(join(dir, 'config.next'), config);
    await writeFile(join(dir, 'config.json'), config);
    await rename(join(dir, 'config.next'), join(dir, 'config.json'));
  };

  afterAll(async () => {
    vi.restoreAllMocks();
    if (app) await release(); // a failed assertion must not leave the load (and close) waiting
    await app?.close();
    await rm(dir, { recursive: true, force: true });
    await fixture?.dispose();
  });

  it('answers /readyz 503 (model loading) and completions 503 with Retry-After, logged at info; both ready once loaded', async () => {
    const host = app.app.get(ModelHost);
    expect(host.status().state).toBe('loading');
    expect((await http(app.baseUrl, 'GET', '/healthz')).status).toBe(200);

    const notReady = await http(app.baseUrl, 'GET', '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body.error).toMatchObject({ code: 'UNAVAILABLE', message: 'not ready: model' });
    expect(notReady.body.error.details.checks.model).toMatchObject({ ok: false, detail: expect.stringMatching(/^loading/) });
    expect(notReady.body.error.details.checks.database.ok).toBe(true);

    const refused = await http(app.baseUrl, 'POST', '/v1/completions', { key: app.adminKey, body: { model: 'slow', prompt: 'hello', max_tokens: 2 } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.body.error).toMatchObject({ code: 'UNAVAILABLE', details: { model: 'slow', state: 'loading' } });
    const line = info.find((m) => m.includes('POST /v1/completions') && m.includes('not ready'));
    expect(line).toBeDefined();
    expect(line).not.toContain('\n');
    expect(errors.filter((m) => m.includes('not ready'))).toEqual([]);

    await release();
    await host.whenReady();

    const ready = await http(app.baseUrl, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.model).toMatchObject({ ok: true, detail: expect.stringMatching(/^ready/) });
    const answered = await http(app.baseUrl, 'POST', '/v1/completions', { key: app.adminKey, body: { model: 'slow', prompt: 'hello', max_tokens: 2 } });
    expect(answered.status).toBe(200);
  });
});
