/**
 * The admin console (/admin) in a real headless Chromium (Debian's package, driven by
 * playwright-core) against the real service on a tiny random model: sign-in, adapters with their
 * timeline, a real unlearning request followed live over SSE until its adapter is active, real
 * completions whose routing decisions show in the adapter's chart and the decision search, the
 * audit chain (valid, then tampered in the database), hostile names as text, wrong keys refused,
 * CSP headers. Screenshots of each page go to test-artifacts/console/.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterRegistryService } from '../../src/modules/adapters/adapter-registry.service.js';
import { AdapterStore } from '../../src/modules/inference/adapter-store.service.js';
import { UnlearningRunner } from '../../src/modules/unlearning/unlearning-runner.service.js';
import { TINY_FORGET, TINY_REFERENCES, writeTinyCheckpoint } from '../../src/unlearning/testing/tiny-checkpoint.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve('test-artifacts/console');
const XSS_NAME = '<img src=x onerror=alert(1)>';
/** The unlearning request's name (its adapter is `unlearning-<name>`): hostile markup too. */
const REQUEST_NAME = 'forget-ann <script>alert(2)</script>';

interface Decision {
  id: string;
  requestId: string;
  keyId: string;
  createdAt: string;
  plan: { entries: { adapterId: string; strength: number; applied: boolean; reason: string; scores: Record<string, number> }[] };
}

describe('admin console in headless Chromium', () => {
  let app: TestApp;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  const cspViolations: string[] = [];
  let dune: { id: string; sha256: string };
  let xssId: string;
  let modelDir: string;
  let client: { id: string; key: string };
  let request: { id: string; adapterId: string };
  /** Opens the gate that holds the real unlearning job until the browser watches it. */
  let releaseJob: () => void;

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run .ci/setup-browser (apt-get install chromium)`);
    // Build the console from the current sources, exactly as `npm run build` does.
    await build({ configFile: resolve('web/vite.config.ts'), logLevel: 'silent' });
    await rm(ARTIFACTS, { recursive: true, force: true }); // no stale screenshots from older runs
    await mkdir(ARTIFACTS, { recursive: true });

    modelDir = await writeTinyCheckpoint();
    app = await startTestApp({
      env: {
        LETHE_MODEL_DIR: modelDir,
        LETHE_MODEL_ID: 'tiny',
        LETHE_JOBS_POLL_SECONDS: '0.5',
        LETHE_INFERENCE_WORKERS: '0',
        LETHE_BACKEND: 'wasm',
        // The tiny random model's gate fires on any text, so the false-fire and collateral checks are
        // off here; the forget answer rate check stays on (see unlearning-lifecycle.test.ts).
        LETHE_UNLEARNING_MAX_REFERENCE_FALSE_FIRE_RATE: '1',
        LETHE_UNLEARNING_MAX_NEAR_NEGATIVE_COLLATERAL: '1',
        LETHE_UNLEARNING_MAX_FORGET_ANSWER_RATE: '0.5',
        LETHE_UNLEARNING_ESCALATION_SECONDS: '0',
      },
    });
    // The real job, held at its start until the detail page is open, so the page sees it live.
    const runner = app.app.get(UnlearningRunner);
    const run = runner.run.bind(runner);
    const gate = new Promise<void>((r) => (releaseJob = r));
    runner.run = async (...args) => {
      await gate;
      return run(...args);
    };
    const registry = app.app.get(AdapterRegistryService);
    const weights = new Uint8Array(4096).map((_, i) => (i * 31) % 251);
    // Imported (never auto-routed) so the real completions below don't load these made-up weights.
    const a = await registry.create(
      { name: 'forget-dune', kind: 'imported', baseModel: 'demo', rank: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'], weights, lineage: { reason: 'author removal' } },
      'system',
    );
    await registry.activate(a.id, 'system');
    dune = { id: a.id, sha256: a.blobSha256! };
    const x = await registry.create({ name: XSS_NAME, kind: 'task', baseModel: 'demo', rank: 2, alpha: 4, targetModules: ['q_proj'], weights: new Uint8Array([9, 9]) }, 'system');
    xssId = x.id;

    const c = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'a client', role: 'client' } });
    client = { id: c.body.id, key: c.body.key };

    userDataDir = await mkdtemp(join(tmpdir(), 'lethe-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (/Content Security Policy|Trusted Type/i.test(m.text())) cspViolations.push(m.text());
    });
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    releaseJob?.();
    await app?.close();
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
  });

  it('serves /admin with a strict CSP and security headers, and /docs still works', async () => {
    const res = await fetch(`${app.baseUrl}/admin`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "require-trusted-types-for 'script'"]) {
      expect(csp).toContain(d);
    }
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/https?:\/\//); // no CDN
    const asset = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const js = await fetch(`${app.baseUrl}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${app.baseUrl}/admin/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${app.baseUrl}/admin/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${app.baseUrl}/docs`)).status).toBe(200);
  });

  it('refuses a wrong key and a non-admin key, and keeps nothing', async () => {
    await page.goto(`${app.baseUrl}/admin/`);
    await page.getByLabel('Admin API key').fill('lethe_notARealKey0000000000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Key refused');
    await shot('01-sign-in-refused');

    await page.getByLabel('Admin API key').fill(client.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('needs an admin key');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(await page.getByRole('navigation', { name: 'Sections' }).count()).toBe(0);
  });

  it('signs in by keyboard; the key stays in sessionStorage only', async () => {
    await page.getByLabel('Admin API key').fill('');
    await page.getByLabel('Admin API key').focus();
    await page.keyboard.type(app.adminKey);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Adapters' }).waitFor();
    expect(page.url()).not.toContain(app.adminKey);
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([app.adminKey]);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect((await context.cookies()).length).toBe(0);
  });

  it('lists adapters, rendering a hostile name as text with no script run', async () => {
    const table = page.getByTestId('adapters-table');
    await table.getByRole('link', { name: 'forget-dune' }).waitFor();
    const xssLink = table.locator(`a[href="#/adapters/${xssId}"]`);
    expect(await xssLink.textContent()).toBe(XSS_NAME);
    expect(await page.locator('main img').count()).toBe(0);
    await shot('02-adapters');

    // Filter by kind through the labelled select.
    await page.getByLabel('Kind').selectOption('task');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    // Both at once: while the new page loads there is no table at all.
    await expect.poll(async () => [await table.getByRole('link', { name: 'forget-dune' }).count(), await xssLink.count()]).toEqual([0, 1]);

    // Date filter: nothing was created before 2000, both since.
    await page.getByLabel('Kind').selectOption('');
    await page.getByLabel('Created before').fill('2000-01-01T00:00');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('No adapters match these filters.');
    await page.getByLabel('Created before').fill('');
    await page.getByLabel('Created from').fill('2000-01-01T00:00');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(2);

    await xssLink.click();
    await page.getByRole('heading', { level: 1, name: `Adapter ${XSS_NAME}` }).waitFor();
    expect(await page.locator('main img').count()).toBe(0);
    await shot('03-adapter-hostile-name');
    expect(dialogs).toEqual([]);
  });

  it('shows an adapter with its timeline, lineage, size and sha256', async () => {
    await page.goto(`${app.baseUrl}/admin/#/adapters/${dune.id}`);
    await page.getByRole('heading', { level: 1, name: 'Adapter forget-dune' }).waitFor();
    const timeline = page.getByTestId('timeline');
    await timeline.waitFor();
    const items = await timeline.locator('li').allTextContents();
    expect(items.map((t) => /(adapter\.\w+) by (\S+)/.exec(t)?.slice(1))).toEqual([
      ['adapter.create', 'system'],
      ['adapter.activate', 'system'],
    ]);
    expect(await page.getByTestId('adapter-sha256').textContent()).toBe(dune.sha256);
    expect(await page.locator('main').textContent()).toContain('4.00 KiB (4,096 bytes)');
    expect(await page.locator('main').textContent()).toContain('author removal');
    await shot('04-adapter-detail');
  });

  it('lists a real unlearning request and follows its job live over SSE until its adapter is active', async () => {
    const created = await http(app.baseUrl, 'POST', '/v1/unlearning-requests', {
      key: app.adminKey,
      body: { name: REQUEST_NAME, items: TINY_FORGET, relabel: 'replacement', replacement: 'no idea', options: { rank: 4, alpha: 8, epochs: 2 } },
    });
    expect(created.status).toBe(202);
    const id = created.body.id as string;

    await page.getByRole('link', { name: 'Unlearning requests' }).click();
    await page.getByRole('heading', { level: 1, name: 'Unlearning requests' }).waitFor();
    const row = page.getByTestId('unlearning-table').locator(`tr[data-id="${id}"]`);
    await row.waitFor();
    expect(await row.getByRole('link').textContent()).toBe(REQUEST_NAME);
    expect(await row.locator('.badge').textContent()).toMatch(/^(queued|training)$/);
    expect((await row.locator('td').nth(3).textContent())?.trim()).toBe(String(TINY_FORGET.length));
    expect(await row.getByTestId('progress-bar').getAttribute('value')).toBe('0');
    await shot('05-unlearning');
    // The status filter goes to the API as ?status=: nothing is active yet.
    await page.getByLabel('Status').selectOption('active');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('No unlearning requests match these filters.');
    await page.getByLabel('Status').selectOption('');
    await page.getByRole('button', { name: 'Apply filters' }).click();

    await row.getByRole('link').click();
    const status = page.getByTestId('request-status');
    await status.waitFor();
    // The job is held at its start: the page is connected and waiting.
    await expect.poll(() => page.getByTestId('live-state').textContent(), { timeout: 15_000 }).toMatch(/^Live updates on/);
    expect(await status.textContent()).toMatch(/^(queued|training)$/);
    await shot('06-unlearning-waiting');
    releaseJob();
    // The job runs to the end (read from the API), and the page follows it live, without a reload.
    const apiStatus = async () => (await http(app.baseUrl, 'GET', `/v1/unlearning-requests/${id}`, { key: app.adminKey })).body.status as string;
    await expect.poll(apiStatus, { timeout: 90_000, interval: 250 }).toMatch(/^(active|failed)$/);
    const final = (await http(app.baseUrl, 'GET', `/v1/unlearning-requests/${id}`, { key: app.adminKey })).body;
    expect(final).toMatchObject({ status: 'active', adapterId: expect.any(String), progress: { phase: 'done' } });
    await expect
      .poll(() => status.textContent(), { timeout: 30_000 }) // a stalled stream is reopened after 15 s of silence
      .toBe('active')
      .catch(async (e: Error) => {
        await shot('07-unlearning-stalled');
        throw new Error(`${e.message}; the page says: ${await page.getByTestId('live-state').textContent()}`);
      });
    request = { id, adapterId: final.adapterId };
    await expect.poll(() => page.getByTestId('live-state').textContent()).toMatch(/^Live updates ended: the job is active \(\d+ received\)\.$/);
    const liveState = (await page.getByTestId('live-state').textContent()) ?? '';
    expect(Number(/\((\d+) received\)/.exec(liveState)?.[1])).toBeGreaterThanOrEqual(2);
    const bars = page.getByTestId('progress-bar');
    expect(await bars.count()).toBe(4);
    for (let i = 0; i < 4; i++) expect(await bars.nth(i).getAttribute('value')).toBe('1');
    expect(await page.locator('.progress-list').textContent()).toContain(`${final.progress.step} / ${final.progress.total} steps`);
    const metrics = page.getByTestId('metrics-table');
    expect(await metrics.locator('th').allTextContents()).toEqual(Object.keys(final.metrics));
    expect(await metrics.locator('tr', { has: page.locator('th', { hasText: /^steps$/ }) }).locator('td').textContent()).toBe(String(final.metrics.steps));
    const main = (await page.locator('main').textContent()) ?? '';
    expect(main).toContain(REQUEST_NAME);
    expect(main).toContain('raw items deleted, sha256 kept');
    expect(main).toContain(final.itemsSha256);
    expect(await page.getByTestId('request-adapter').textContent()).toBe(final.adapterId);
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await page.getByRole('alert').count()).toBe(0);
    await shot('07-unlearning-live-done');

    // Back in the list: active, full, linked to its adapter.
    await page.getByRole('link', { name: '← All unlearning requests' }).click();
    await row.waitFor();
    expect(await row.locator('.badge').textContent()).toBe('active');
    expect(await row.getByTestId('progress-bar').getAttribute('value')).toBe('1');
    expect(await row.locator(`a[href="#/adapters/${final.adapterId}"]`).count()).toBe(1);
    await row.getByRole('link', { name: REQUEST_NAME }).click();
    await page.getByTestId('request-adapter').waitFor();
  });

  it("shows the new adapter's timeline, lineage and a routing chart from real completions", async () => {
    await app.app.get(AdapterStore).refresh();
    for (const prompt of [TINY_FORGET.map((f) => f.prompt), TINY_REFERENCES]) {
      const res = await http(app.baseUrl, 'POST', '/v1/completions', { key: client.key, body: { model: 'tiny', prompt, max_tokens: 2, temperature: 0 } });
      expect(res.status).toBe(200);
    }
    const chat = await http(app.baseUrl, 'POST', '/v1/chat/completions', { key: client.key, body: { model: 'tiny', messages: [{ role: 'user', content: TINY_FORGET[0].prompt }], max_tokens: 2, temperature: 0 } });
    expect(chat.status).toBe(200);
    const decisions = (await http(app.baseUrl, 'GET', `/v1/admin/routing-decisions?adapterId=${request.adapterId}&limit=1000`, { key: app.adminKey })).body.items as Decision[];
    expect(decisions).toHaveLength(TINY_FORGET.length + TINY_REFERENCES.length + 1);
    const appliedIn = decisions.filter((d) => d.plan.entries.some((e) => e.adapterId === request.adapterId && e.applied));
    const applied = appliedIn.length;

    await page.getByTestId('request-adapter').click();
    await page.getByRole('heading', { level: 1, name: `Adapter unlearning-${REQUEST_NAME}` }).waitFor();
    const timeline = page.getByTestId('timeline');
    await timeline.waitFor();
    const actions = (await timeline.locator('.action').allTextContents()).filter((a) => a.startsWith('adapter.'));
    expect(actions).toEqual(['adapter.create', 'adapter.activate']);
    const lineage = page.locator(`a[href="#/unlearning/${request.id}"]`);
    expect(await lineage.textContent()).toBe(`unlearning request ${request.id}`);
    const chart = page.getByTestId('routing-chart');
    await chart.waitFor();
    expect(await chart.locator('title').textContent()).toContain(`applied ${applied} times`);
    // One bar per request that applied it: each request's decisions share a time, the chart spans first to last.
    expect(await chart.locator('rect.bar').count()).toBe(new Set(appliedIn.map((d) => d.requestId)).size);
    await chart.locator('xpath=..').getByText('Chart data').click();
    const listed = await chart.locator('xpath=..').locator('tbody td:nth-child(4)').allTextContents();
    expect(listed.reduce((sum, n) => sum + Number(n), 0)).toBe(decisions.length);
    expect(await page.locator('main script, main img').count()).toBe(0);
    await shot('08-adapter-routing-chart');
  });

  it("searches routing decisions by adapter, key and time, and shows a decision's plan and scores", async () => {
    await page.getByRole('link', { name: 'Routing decisions' }).click();
    await page.getByRole('heading', { level: 1, name: 'Routing decisions' }).waitFor();
    const total = TINY_FORGET.length + TINY_REFERENCES.length + 1; // one prompt came through chat
    const count = page.getByTestId('decisions-count');
    await page.getByLabel('Adapter id').fill(request.adapterId);
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => count.textContent()).toBe(`${total} decisions match; showing 1–${total}.`);

    const [newest] = (await http(app.baseUrl, 'GET', `/v1/admin/routing-decisions?adapterId=${request.adapterId}&limit=1`, { key: app.adminKey })).body.items as Decision[];
    expect(newest.keyId).toBe(client.id);
    const item = page.getByTestId('decisions').locator(`li[data-id="${newest.id}"]`);
    expect(await item.locator('summary').textContent()).toContain(`key ${client.id}`);
    await item.locator('summary').click();
    const entry = newest.plan.entries.find((e) => e.adapterId === request.adapterId)!;
    const cells = await item.getByTestId('plan-table').locator(`tr[data-adapter="${request.adapterId}"] td`).allTextContents();
    const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4));
    expect(cells).toEqual([
      `unlearning-${REQUEST_NAME} v1`,
      'unlearning',
      fmt(entry.strength),
      entry.applied ? 'yes' : 'no',
      entry.reason,
      Object.entries(entry.scores)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', '),
    ]);
    // The request names an entity: its gate is settled by the entity lookup (entity 1 where the prompt
    // names it), so z is recorded only where the features were scored.
    expect(Object.keys(entry.scores)).toEqual(expect.arrayContaining(['entity', 'gate', 'gateStrength']));
    await shot('09-routing-decision');

    // The chat request: found by endpoint, and labelled as chat.
    await page.getByLabel('Endpoint').selectOption('chat.completions');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => count.textContent()).toBe('1 decision match; showing 1–1.');
    const chatItem = page.getByTestId('decisions').locator('li');
    expect(await chatItem.locator('summary').textContent()).toContain('chat/completions');
    await chatItem.locator('summary').click();
    await expect.poll(() => chatItem.textContent()).toContain('/v1/chat/completions');
    await shot('09b-routing-decision-chat');
    await page.getByLabel('Endpoint').selectOption('');

    // By key: the same decisions; a key that made none: nothing; a window before them: nothing.
    await page.getByLabel('Adapter id').fill('');
    await page.getByLabel('API key id').fill(client.id);
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => count.textContent()).toBe(`${total} decisions match; showing 1–${total}.`);
    await page.getByLabel('API key id').fill('00000000-0000-4000-8000-000000000000');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.locator('.empty[role=status]').textContent()).toBe('No routing decisions match.');
    await page.getByLabel('API key id').fill('');
    await page.getByLabel('To', { exact: true }).fill('2000-01-01T00:00');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.locator('.empty[role=status]').textContent()).toBe('No routing decisions match.');
    await page.getByLabel('To', { exact: true }).fill('');
    await page.getByLabel('From', { exact: true }).fill('2000-01-01T00:00');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => count.textContent()).toBe(`${total} decisions match; showing 1–${total}.`);
    expect(await page.getByRole('alert').count()).toBe(0);
  });

  it('shows a needs_review request with its failed checks, and an admin activates it with a reason', async () => {
    // An item whose answer is its own relabel target keeps being answered: the checks must fail.
    const created = await http(app.baseUrl, 'POST', '/v1/unlearning-requests', {
      key: app.adminKey,
      body: { name: 'needs-review', items: [{ prompt: TINY_FORGET[0].prompt, answer: 'no idea' }], relabel: 'replacement', replacement: 'no idea', options: { rank: 4, alpha: 8, epochs: 40 } },
    });
    const id = created.body.id as string;
    const apiGet = async () => (await http(app.baseUrl, 'GET', `/v1/unlearning-requests/${id}`, { key: app.adminKey })).body;
    await expect.poll(async () => (await apiGet()).status, { timeout: 90_000, interval: 250 }).toBe('needs_review');

    await page.getByRole('link', { name: 'Unlearning requests' }).click();
    const row = page.getByTestId('unlearning-table').locator(`tr[data-id="${id}"]`);
    await row.waitFor();
    expect(await row.locator('.badge').textContent()).toBe('needs_review');
    expect(await row.getByTestId('failed-checks').textContent()).toBe('failed: forgetAnswerRate');
    await row.getByRole('link', { name: 'needs-review' }).click();
    await page.getByTestId('checks-table').waitFor();
    expect(await page.getByTestId('request-status').textContent()).toBe('needs_review');
    expect(await page.getByTestId('checks-verdict').textContent()).toContain('Failed: forgetAnswerRate.');
    expect(await page.locator('tr[data-check="forgetAnswerRate"] td').allTextContents()).toEqual(['1', '0.5000', 'failed']);
    const activate = page.getByRole('button', { name: 'Activate anyway' });
    expect(await activate.isDisabled()).toBe(true); // no reason yet
    expect(await page.getByRole('button', { name: 'Revoke' }).isEnabled()).toBe(true);
    await shot('09b-unlearning-needs-review');
    await page.getByLabel('Reason').fill('reviewed: the answer is the refusal itself');
    await activate.click();
    await expect.poll(() => page.getByTestId('request-status').textContent()).toBe('active');
    expect(await page.getByRole('button', { name: 'Activate anyway' }).count()).toBe(0);
    expect(await page.getByRole('alert').count()).toBe(0);
    const after = await apiGet();
    expect(after.status).toBe('active');
    const audit = await http(app.baseUrl, 'GET', `/v1/admin/audit?subject=unlearning_request:${id}`, { key: app.adminKey });
    expect(audit.body.items.map((e: { action: string }) => e.action).slice(-2)).toEqual(['unlearning.needs_review', 'unlearning.activate']);
    expect(audit.body.items.at(-1).details.reason).toBe('reviewed: the answer is the refusal itself');
  });

  it('verifies the audit chain and exports it as JSON and CSV', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    const verdict = page.getByTestId('chain-verdict');
    await verdict.waitFor();
    const events = (await http(app.baseUrl, 'GET', '/v1/admin/audit?limit=1000', { key: app.adminKey })).body.items as { seq: number; action: string }[];
    expect(await verdict.textContent()).toBe(`Chain valid: all ${events.length} events verified.`);
    await page.getByTestId('audit-table').waitFor();
    await shot('10-audit-valid');

    const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    const csv = await readFile((await csvDownload.path())!, 'utf8');
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe('seq,at,actor,action,subject,details,prevHash,hash');
    expect(lines).toHaveLength(events.length + 1);
    expect(csv).toContain(`,adapter.create,adapter:${xssId},`);

    const [jsonDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
    const json = JSON.parse(await readFile((await jsonDownload.path())!, 'utf8')) as { seq: number }[];
    expect(json.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
  });

  it('names the first bad row after a row is tampered with in the database', async () => {
    const ds = app.app.get(DataSource);
    const target = 3;
    await ds.transaction(async (m) => {
      await m.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete');
      await m.query(`UPDATE audit_event SET actor = 'mallory' WHERE seq = $1`, [target]);
      await m.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete');
    });
    await page.getByRole('button', { name: 'Verify again' }).click();
    const verdict = page.getByTestId('chain-verdict');
    await expect.poll(() => verdict.textContent()).toContain(`first bad row is event #${target}`);
    expect(await verdict.getAttribute('role')).toBe('alert');
    const row = page.locator(`tr[data-seq="${target}"]`);
    expect(await row.getAttribute('class')).toBe('bad-row');
    expect(await row.textContent()).toContain('mallory');
    await shot('11-audit-tampered');
  });

  it('signs out, forgetting the key', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin API key').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.reload();
    await page.getByLabel('Admin API key').waitFor();
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});
