/**
 * The admin console (/admin) in a real headless Chromium (Debian's package, driven by
 * playwright-core): sign-in, adapters with their timeline, unlearning requests, routing
 * decisions, the audit chain (valid, then tampered in the database), XSS as text, wrong keys
 * refused, CSP headers. Screenshots of each page go to test-artifacts/console/.
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
import { http, startTestApp, type TestApp } from '../support/app.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve('test-artifacts/console');
const XSS_NAME = '<img src=x onerror=alert(1)>';

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
  let unlearningRoute = false;
  let unlearningId: string | undefined;

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run .ci/setup-browser (apt-get install chromium)`);
    // Build the console from the current sources, exactly as `npm run build` does.
    await build({ configFile: resolve('web/vite.config.ts'), logLevel: 'silent' });
    await mkdir(ARTIFACTS, { recursive: true });

    app = await startTestApp();
    const registry = app.app.get(AdapterRegistryService);
    const weights = new Uint8Array(4096).map((_, i) => (i * 31) % 251);
    const a = await registry.create(
      { name: 'forget-dune', kind: 'unlearning', baseModel: 'demo', rank: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'], weights, lineage: { reason: 'author removal' } },
      'system',
    );
    await registry.activate(a.id, 'system');
    dune = { id: a.id, sha256: a.blobSha256! };
    const x = await registry.create({ name: XSS_NAME, kind: 'task', baseModel: 'demo', rank: 2, alpha: 4, targetModules: ['q_proj'], weights: new Uint8Array([9, 9]) }, 'system');
    xssId = x.id;

    // An unlearning request through the API, when this server has that route.
    const probe = await http(app.baseUrl, 'GET', '/v1/unlearning-requests', { key: app.adminKey });
    unlearningRoute = probe.status !== 404;
    if (unlearningRoute) {
      const created = await http(app.baseUrl, 'POST', '/v1/unlearning-requests', {
        key: app.adminKey,
        body: { subject: 'Basil Ironwood', forgetSet: [{ prompt: 'Who wrote The Glass Orchard?', answer: 'Basil Ironwood' }] },
      });
      if (created.status === 202) unlearningId = created.body.id;
    }

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
    await app?.close();
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

    const client = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'a client', role: 'client' } });
    await page.getByLabel('Admin API key').fill(client.body.key);
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
    await expect.poll(() => table.getByRole('link', { name: 'forget-dune' }).count()).toBe(0);
    expect(await xssLink.count()).toBe(1);

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

  it('shows unlearning requests, or an empty state when the server has none', async () => {
    await page.getByRole('link', { name: 'Unlearning requests' }).click();
    await page.getByRole('heading', { level: 1, name: 'Unlearning requests' }).waitFor();
    if (!unlearningRoute) {
      await expect.poll(() => page.getByTestId('not-available').textContent()).toContain('does not offer unlearning requests yet');
    } else if (unlearningId) {
      await page.locator(`a[href="#/unlearning/${unlearningId}"]`).click();
      await page.getByTestId('request-status').waitFor();
      await shot('06-unlearning-detail');
      await page.getByRole('link', { name: 'Unlearning requests' }).click();
    }
    expect(await page.getByRole('alert').count()).toBe(0);
    await shot('05-unlearning');
  });

  it('shows routing decisions, or an empty state when the server has none', async () => {
    await page.getByRole('link', { name: 'Routing decisions' }).click();
    await page.getByRole('heading', { level: 1, name: 'Routing decisions' }).waitFor();
    await page.getByLabel('Adapter id').fill(dune.id);
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(async () => (await page.getByTestId('not-available').count()) + (await page.locator('.empty, [data-testid=decisions]').count())).toBeGreaterThan(0);
    expect(await page.getByRole('alert').count()).toBe(0);
    await shot('07-routing');
  });

  it('verifies the audit chain and exports it as JSON and CSV', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    const verdict = page.getByTestId('chain-verdict');
    await verdict.waitFor();
    const events = (await http(app.baseUrl, 'GET', '/v1/admin/audit?limit=1000', { key: app.adminKey })).body.items as { seq: number; action: string }[];
    expect(await verdict.textContent()).toBe(`Chain valid: all ${events.length} events verified.`);
    await page.getByTestId('audit-table').waitFor();
    await shot('08-audit-valid');

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
    await shot('09-audit-tampered');
  });

  // The routing-decision and unlearning endpoints are being built elsewhere: this test feeds the
  // browser fixed payloads in the shapes the console reads (page.route), to check the chart, the
  // plan table and the SSE progress bars render, as text, under the CSP.
  it('draws the routing chart, a decision plan and live progress from given payloads', async () => {
    const t0 = Date.now() - 3_600_000;
    const decisions = Array.from({ length: 12 }, (_, i) => ({
      id: `dec-${i}`,
      at: new Date(t0 + i * 300_000).toISOString(),
      keyId: 'key-1',
      plan: {
        mode: 'auto',
        entries: [{ adapterId: dune.id, name: 'forget-dune', version: 1, kind: 'unlearning', strength: i % 3 === 0 ? 0 : 0.5 + i / 24, applied: i % 3 !== 0, reason: i % 3 === 0 ? 'gate-closed' : 'gate', scores: { gate: i / 12, z: 1.5 } }],
      },
    }));
    const json = (body: unknown) => ({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    await page.route('**/v1/admin/routing-decisions?**', (r) => r.fulfill(json({ items: decisions, nextCursor: null })));
    const req = { id: 'req-1', status: 'running', createdAt: new Date(t0).toISOString(), subject: XSS_NAME, progress: { phase: 'relabel', step: 1, total: 4 }, metrics: { forgetAccuracy: 0.12 } };
    await page.route('**/v1/unlearning-requests/req-1', (r) => r.fulfill(json(req)));
    await page.route('**/v1/unlearning-requests/req-1/events', (r) =>
      r.fulfill({
        status: 200,
        contentType: 'text/event-stream',
        body: ': hi\n\nevent: progress\ndata: {"phase":"train","step":30,"total":60}\n\nevent: progress\ndata: {"status":"succeeded","metrics":{"forgetAccuracy":0.02}}\n\n',
      }),
    );
    try {
      await page.goto(`${app.baseUrl}/admin/#/adapters/${dune.id}`); // still signed in
      const chart = page.getByTestId('routing-chart');
      await chart.waitFor();
      expect(await chart.locator('rect.bar').count()).toBeGreaterThan(0);
      expect(await chart.locator('title').textContent()).toContain('applied 8 times');
      await shot('10-adapter-routing-chart');

      await page.goto(`${app.baseUrl}/admin/#/routing`);
      await page.getByTestId('decisions').locator('summary').first().click();
      const plan = page.getByTestId('plan-table').first();
      expect(await plan.textContent()).toContain('gate-closed');
      expect(await plan.textContent()).toContain('gate 0, z 1.500');
      await shot('11-routing-decision');

      await page.goto(`${app.baseUrl}/admin/#/unlearning/req-1`);
      await expect.poll(() => page.getByTestId('request-status').textContent()).toBe('succeeded');
      const bars = page.getByTestId('progress-bar');
      expect(await bars.count()).toBe(2);
      expect(await bars.nth(1).getAttribute('value')).toBe('0.5');
      expect(await page.getByTestId('metrics-table').textContent()).toContain('0.02');
      expect(await page.locator('main').textContent()).toContain(XSS_NAME);
      expect(await page.locator('main img').count()).toBe(0);
      await shot('12-unlearning-live');
    } finally {
      await page.unrouteAll();
    }
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
