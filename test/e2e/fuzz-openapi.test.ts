import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { parseSafetensors, serializeSafetensors } from '../../src/engine/safetensors.js';
import { createModelFixture, randomPeftFiles, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { http, startTestApp, type TestApp } from '../support/app.js';
import { describeOutcome, formatFuzzTable, runOpenApiFuzz } from '../support/openapi-fuzz.js';
import { fuzzContextFor } from '../support/fuzz-fixtures.js';

// Seeded: a failure names the seed; LETHE_FUZZ_SEED replays it, LETHE_FUZZ_CASES runs more.
const SEED = Number(process.env.LETHE_FUZZ_SEED ?? 20_260_512);
const CASES = Number(process.env.LETHE_FUZZ_CASES ?? 2_000);

describe('every OpenAPI operation under hostile input (issue 12)', () => {
  let fixture: ModelFixture;
  let app: TestApp;

  beforeAll(async () => {
    fixture = await createModelFixture();
    // Role api: accepted jobs stay queued (the fuzz is about the HTTP edge, not about training).
    app = await startTestApp({ env: { LETHE_ROLE: 'api', LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1' } });
    await app.app.get(ModelHost).whenReady();
  });

  afterAll(async () => {
    await app?.close();
    await fixture?.dispose();
  });

  it(`answers ${CASES} drawn requests without a 5xx, each 4xx in the error shape`, async () => {
    const context = await fuzzContextFor(app, fixture.config);
    const report = await runOpenApiFuzz({ baseUrl: app.baseUrl, context, cases: CASES, seed: SEED });
    // The table in the CI log: what was drawn per operation and how it was answered.
    console.log(`openapi fuzz, seed ${SEED}, ${report.elapsedMs} ms\n${formatFuzzTable(report)}`);
    const broken = report.violations.slice(0, 10).map(describeOutcome);
    expect(broken, `seed ${SEED}\n${formatFuzzTable(report)}`).toEqual([]);
    expect(report.cases).toBeGreaterThanOrEqual(CASES);
    // Every operation was reached, and both outcomes happen: refusals and accepted requests.
    for (const [name, row] of Object.entries(report.byOperation)) expect(row.cases, name).toBeGreaterThan(0);
    const totals = Object.values(report.byOperation).reduce((t, r) => ({ ok: t.ok + r.ok, bad: t.bad + r.clientErrors }), { ok: 0, bad: 0 });
    expect(totals.ok).toBeGreaterThan(CASES / 10);
    expect(totals.bad).toBeGreaterThan(CASES / 10);
  });

  describe('adapter import: finite but overflowing adapters are refused before storing', () => {
    async function upload(config: Record<string, unknown>, weights: Uint8Array, name: string) {
      const form = new FormData();
      form.append('name', name);
      form.append('files', new Blob([JSON.stringify(config)]), 'adapter_config.json');
      form.append('files', new Blob([new Uint8Array(weights)]), 'adapter_model.safetensors');
      const res = await fetch(`${app.baseUrl}/v1/adapters/import`, { method: 'POST', headers: { authorization: `Bearer ${app.adminKey}` }, body: form });
      return { status: res.status, body: (await res.json()) as any };
    }
    const scaledWeights = (weights: Uint8Array, k: number) => {
      const parsed = parseSafetensors(new Uint8Array(weights)).tensors;
      const out = new Map([...parsed].map(([key, t]) => [key, { shape: t.shape, data: t.data.map((v) => v * k) }]));
      return serializeSafetensors(out, { format: 'pt' });
    };

    it('lora_alpha 1e30, 1e308 with use_rslora, and weights × 1e18 → 400 ADAPTER_OUT_OF_RANGE naming the check; ordinary ones import', async () => {
      const files = randomPeftFiles(fixture.config, 21, 2, 4, 0.5);
      const names = async () => ((await http(app.baseUrl, 'GET', '/v1/adapters?limit=500', { key: app.adminKey })).body.items as Array<{ name: string }>).map((a) => a.name);
      const cases: Array<[string, Record<string, unknown>, Uint8Array, string]> = [
        ['alpha-1e30', { ...files.adapterConfig, lora_alpha: 1e30 }, files.weights, 'scale'],
        ['rslora-1e308', { ...files.adapterConfig, lora_alpha: 1e308, use_rslora: true }, files.weights, 'scale'],
        ['weights-1e18', files.adapterConfig, scaledWeights(files.weights, 1e18), 'weight_norm'],
      ];
      for (const [name, config, weights, check] of cases) {
        const res = await upload(config, weights, name);
        expect(res.status, name).toBe(400);
        expect(res.body.error, name).toMatchObject({ code: 'ADAPTER_OUT_OF_RANGE', details: { check } });
      }
      expect(await names()).not.toEqual(expect.arrayContaining(['alpha-1e30']));
      const ok = await upload(files.adapterConfig, files.weights, 'ordinary-import');
      expect(ok.status).toBe(201);
      expect(await names()).toContain('ordinary-import');
      expect((await names()).filter((n) => cases.some(([c]) => c === n))).toEqual([]);
    });
  });

  describe('the inputs that answered 500 before the input guard', () => {
    const post = (path: string, rawBody: string) => http(app.baseUrl, 'POST', path, { key: app.adminKey, rawBody });
    const fieldsOf = (body: any) => (body.error.details as Array<{ field: string }>).map((d) => d.field);

    it.each([
      ['NUL in a stored string', '{"name":"a\\u0000b","role":"client"}', 'name'],
      ['a lone surrogate in a key name', '{"name":"\\ud800","role":"client"}', 'name'],
      ['__proto__', '{"name":"n","role":"client","__proto__":{"role":"admin"}}', '__proto__'],
      ['constructor', '{"name":"n","role":"client","constructor":1}', 'constructor'],
    ])('%s → 400 naming the field', async (_what, rawBody, field) => {
      const res = await post('/v1/admin/api-keys', rawBody);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION');
      expect(fieldsOf(res.body)).toEqual([field]);
    });

    it('JSON nested 20,000 deep → 400 (no stack overflow in class-transformer)', async () => {
      const deep = `{"name":"n","role":"client","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
      for (const path of ['/v1/admin/api-keys', '/v1/tasks', '/v1/unlearning-requests', '/v1/completions']) {
        const res = await post(path, deep);
        expect(res.status, path).toBe(400);
        expect(res.body.error.details[0].message).toMatch(/deeper than 32/);
      }
    });

    it('offset=1e20 and after=1e20 → 400 naming the parameter (was bigint out of range)', async () => {
      for (const path of ['/v1/adapters?offset=1e20', '/v1/admin/audit?after=1e20', '/v1/admin/routing-decisions?after=1e20', '/v1/unlearning-requests?offset=1e20', '/v1/tasks?offset=1e20']) {
        const res = await http(app.baseUrl, 'GET', path, { key: app.adminKey });
        expect(res.status, path).toBe(400);
        expect(fieldsOf(res.body), path).toEqual([path.split('?')[1].split('=')[0]]);
      }
    });

    it('NUL in a filter or a path parameter, and prototype keys in the query → 400', async () => {
      for (const path of ['/v1/adapters?name=a%00', '/v1/admin/audit?actor=%00', '/v1/unlearning-requests/%00', '/v1/adapters?__proto__[x]=1']) {
        const res = await http(app.baseUrl, 'GET', path, { key: app.adminKey });
        expect(res.status, path).toBe(400);
        expect(res.body.error.code).toBe('VALIDATION');
      }
    });
  });
});
