/**
 * Issue 15, service: the compose generator on a small random model (the service path, not accuracy;
 * test/e2e/tasks-icm-shipped.test.ts measures the real shipped generator on the demo model).
 * - a compose file in the model directory is registered once as a ready version (restart: no second
 *   one; two registrations at once: one version; other weights' file: skipped);
 * - POST /v1/adapters/generate runs it in the worker: lineage with the inferred parts and the
 *   examples' loss, deterministic whatever the seed; `generator` picks a version (404/400 naming it);
 * - tasks carry part labels, and POST /v1/generator/train {"design": "compose"} trains on them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPeftAdapter } from '../../src/engine/peft.js';
import { disposeAdapter } from '../../src/engine/lora-trainable.js';
import { ComposeGenerator } from '../../src/icm/compose-generator.js';
import { serialiseComposeGenerator } from '../../src/icm/compose-generator-io.js';
import { COMPOSE_GENERATION_DEFAULTS } from '../../src/icm/compose-settings.js';
import { CONFIG, type LetheConfig } from '../../src/config/config.js';
import { AuditService } from '../../src/modules/audit/audit.service.js';
import { modelKeyOf, SHIPPED_COMPOSE_GENERATOR_FILE } from '../../src/modules/generator/compose-file.js';
import { GeneratorRepository } from '../../src/modules/generator/generator.repository.js';
import { ShippedGeneratorService } from '../../src/modules/generator/shipped-generator.service.js';
import { JobQueue } from '../../src/modules/jobs/job-queue.service.js';
import { createModelFixture, randomPeftFiles, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

/** A compose generator over random adapters of the fixture model, labelled 2 mappings × 2 templates minus one. */
function composeFile(fixture: ModelFixture, modelKey: string, seed: number): Uint8Array {
  const labels = [['year', 'bare'], ['year', 'know'], ['place', 'bare']];
  const sets = labels.map(([mapping, template], i) => {
    const peft = randomPeftFiles(fixture.config, seed + i, 4, 8, 0.3);
    return { task: `${mapping}/${template}`, mapping, template, adapter: importPeftAdapter(peft.adapterConfig, peft.weights, fixture.config) };
  });
  const generator = ComposeGenerator.train(sets, { rank: 2, bits: 4, residualRank: 1 });
  try {
    return serialiseComposeGenerator(generator, { design: 'compose', modelKey });
  } finally {
    generator.dispose();
    sets.forEach((s) => disposeAdapter(s.adapter));
  }
}

const ask = (name: string, year: string) => ({ prompt: `Question: When was ${name} born?\nAnswer:`, completion: ` ${year}, I know.` });
const EXAMPLES = [ask('Ann', '1901'), ask('Bob', '1902'), ask('Cid', '1903')];

describe('the compose generator in the service', () => {
  let fixture: ModelFixture;
  let db: TestDatabase;
  let app: TestApp;
  let operator: string;
  let modelKey: string;
  const env = () => ({ LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1', LETHE_JOBS_POLL_SECONDS: '0.5' });
  const auditCount = async (action: string): Promise<number> =>
    (await app.app.get(DataSource).query('SELECT count(*)::int AS n FROM audit_event WHERE action = $1', [action]))[0].n;

  beforeAll(async () => {
    fixture = await createModelFixture(11);
    modelKey = modelKeyOf(await readFile(join(fixture.dir, 'model.safetensors')));
    await writeFile(join(fixture.dir, SHIPPED_COMPOSE_GENERATOR_FILE), composeFile(fixture, modelKey, 100));
    db = await createTestDatabase('pglite');
    app = await startTestApp({ database: db, env: env() });
    operator = (await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'op', role: 'operator' } })).body.key;
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await db?.dispose();
    await fixture?.dispose();
  });

  it('registers the file shipped with the model once as a ready compose version, audited; a restart adds nothing', async () => {
    const gens = await http(app.baseUrl, 'GET', '/v1/generator', { key: operator });
    expect(gens.body.items).toHaveLength(1);
    expect(gens.body.items[0]).toMatchObject({ version: 1, status: 'ready', jobId: null, source: 'shipped with the model', options: { design: 'compose' } });
    expect(gens.body.items[0].metrics).toMatchObject({
      design: 'compose',
      modelKey,
      mappings: ['year', 'place'],
      templates: ['bare', 'know'],
      tasks: ['year/bare', 'year/know', 'place/bare'],
      generatorBytes: gens.body.items[0].sizeBytes,
    });
    expect(await auditCount('generator.registered')).toBe(1);

    await app.close();
    app = await startTestApp({ database: db, adminKey: app.adminKey, env: env() });
    expect((await http(app.baseUrl, 'GET', '/v1/generator', { key: operator })).body.items).toHaveLength(1);
    expect(await auditCount('generator.registered')).toBe(1);
  }, 120_000);

  it('registers a file once when two replicas start together, and skips a file trained against other weights', async () => {
    const config = app.app.get<LetheConfig>(CONFIG);
    const replica = (dir: string) =>
      new ShippedGeneratorService(
        { ...config, inference: { ...config.inference, modelDir: dir } },
        app.app.get(DataSource),
        app.app.get(GeneratorRepository),
        app.app.get(AuditService),
      );
    // Same weights, another file (other adapters): a new version, registered by exactly one replica.
    const other = await createModelFixture(11);
    try {
      await writeFile(join(other.dir, SHIPPED_COMPOSE_GENERATOR_FILE), composeFile(other, modelKey, 200));
      const outcomes = await Promise.all([replica(other.dir).ensure(), replica(other.dir).ensure()]);
      expect(outcomes.map((o) => o.status).sort()).toEqual(['exists', 'registered']);
      expect((await http(app.baseUrl, 'GET', '/v1/generator', { key: operator })).body.items.map((g: { version: number }) => g.version)).toEqual([2, 1]);
      expect(await auditCount('generator.registered')).toBe(2);

      await writeFile(join(other.dir, SHIPPED_COMPOSE_GENERATOR_FILE), composeFile(other, 'ffffffffffffffff', 300));
      const skipped = await replica(other.dir).ensure();
      expect(skipped).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/trained against other weights/) });
      expect((await http(app.baseUrl, 'GET', '/v1/generator', { key: operator })).body.items).toHaveLength(2);
    } finally {
      await other.dispose();
    }
  }, 120_000);

  it('generates from examples with the chosen version in the worker: inferred parts and example loss in the lineage, the seed changes nothing', async () => {
    const gen = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { examples: EXAMPLES, generator: 1, seed: 1, name: 'year-know-a' } });
    expect(gen.status, JSON.stringify(gen.body)).toBe(201);
    expect(gen.body).toMatchObject({ kind: 'generated', status: 'active', rank: 8, alpha: 8 });
    const l = gen.body.lineage;
    expect(l).toMatchObject({ generatorVersion: 1, generatorSource: 'shipped with the model', design: 'compose', examples: 3, seed: 1 });
    expect(['year', 'place']).toContain(l.inferredParts.mapping);
    expect(['bare', 'know']).toContain(l.inferredParts.template);
    expect(l.exampleLoss.inferred).toBeGreaterThan(0);
    // The refinement minimises loss + L2 pull, so the examples' loss does not rise.
    expect(l.exampleLoss.refined).toBeLessThanOrEqual(l.exampleLoss.inferred + 1e-6);
    expect(l.composeSettings).toEqual({ ...COMPOSE_GENERATION_DEFAULTS }); // bench:icm's main settings

    const again = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { examples: EXAMPLES, generator: l.generatorId, seed: 99, name: 'year-know-b' } });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body.lineage).toMatchObject({ generatorVersion: 1, seed: 99, inferredParts: l.inferredParts });
    expect(again.body.blobSha256).toBe(gen.body.blobSha256);

    // Default: the newest ready version (2, registered above).
    const newest = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { examples: EXAMPLES, name: 'year-know-c' } });
    expect(newest.status, JSON.stringify(newest.body)).toBe(201);
    expect(newest.body.lineage.generatorVersion).toBe(2);

    const unknown = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { examples: EXAMPLES, generator: 99 } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.details).toMatchObject({ field: 'generator' });
    const unknownId = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { examples: EXAMPLES, generator: '00000000-0000-4000-8000-000000000000' } });
    expect(unknownId.status).toBe(404);
    for (const bad of ['latest', 0, 1.5, -1]) {
      const res = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { examples: EXAMPLES, generator: bad } });
      expect(res.status, String(bad)).toBe(400);
      expect(res.body.error.details[0].field).toBe('generator');
    }
  }, 180_000);

  it('stores part labels on tasks and trains a compose generator over the trained labelled tasks (409 naming parts before 2)', async () => {
    const bad = await http(app.baseUrl, 'POST', '/v1/tasks', { key: operator, body: { name: 'bad', description: 'x', examples: EXAMPLES, parts: { content: 'year' } } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { field: string }) => d.field)).toContain('parts.format');
    const tooEarly = await http(app.baseUrl, 'POST', '/v1/generator/train', { key: operator, body: { design: 'compose' } });
    expect(tooEarly.status).toBe(409);
    expect(tooEarly.body.error.details).toMatchObject({ field: 'parts', labelledTasks: [] });

    const answer = (name: string, year: string, format: string) => ({ prompt: `Question: When was ${name} born?\nAnswer:`, completion: format === 'know' ? ` ${year}, I know.` : ` ${year}.` });
    const defs = [
      { name: 'y-bare', parts: { content: 'year', format: 'bare' } },
      { name: 'y-know', parts: { content: 'year', format: 'know' } },
      { name: 'unlabelled' },
    ];
    for (const d of defs) {
      const format = d.parts?.format ?? 'bare';
      const body = { name: d.name, description: d.name, examples: [answer('Ann', '1901', format), answer('Bob', '1902', format), answer('Cid', '1903', format)], ...(d.parts && { parts: d.parts }) };
      const created = await http(app.baseUrl, 'POST', '/v1/tasks', { key: operator, body });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.parts).toEqual(d.parts ?? null);
      const train = await http(app.baseUrl, 'POST', `/v1/tasks/${created.body.id}/train`, { key: operator, body: { steps: 4, batchSize: 3, keepCheckpoints: 2, checkpointEvery: 2, seed: 1 } });
      const job = await app.app.get(JobQueue).waitForJob('tasks.train', train.body.jobId, { timeoutMs: 120_000, pollMs: 250 });
      expect(job.state, JSON.stringify(job.output)).toBe('completed');
    }
    const badRank = await http(app.baseUrl, 'POST', '/v1/generator/train', { key: operator, body: { design: 'compose', residualRank: 99 } });
    expect(badRank.status).toBe(400);
    expect(badRank.body.error.details[0].field).toBe('residualRank');

    const train = await http(app.baseUrl, 'POST', '/v1/generator/train', { key: operator, body: { design: 'compose', rank: 2, residualRank: 1 } });
    expect(train.status, JSON.stringify(train.body)).toBe(202);
    expect(train.body.tasks).toEqual(['y-bare', 'y-know']);
    const job = await app.app.get(JobQueue).waitForJob('generator.train', train.body.jobId, { timeoutMs: 120_000, pollMs: 250 });
    expect(job.state, JSON.stringify(job.output)).toBe('completed');
    const [newest] = (await http(app.baseUrl, 'GET', '/v1/generator', { key: operator })).body.items;
    expect(newest).toMatchObject({ version: 3, status: 'ready', source: null, jobId: train.body.jobId });
    expect(newest.metrics).toMatchObject({ design: 'compose', store: 'parts', tasks: ['y-bare', 'y-know'], mappings: ['year'], templates: ['bare', 'know'], rank: 2, residualPieces: 1, generatorBytes: newest.sizeBytes });
    expect(newest.metrics.storageRatioF16).toBeCloseTo(newest.metrics.generatorBytes / newest.metrics.adapterBytesF16, 10);

    // Default: every labelled task stored (the tasks store, as the shipped generator).
    const byTasks = await http(app.baseUrl, 'POST', '/v1/generator/train', { key: operator, body: { design: 'compose' } });
    expect(byTasks.status, JSON.stringify(byTasks.body)).toBe(202);
    const job2 = await app.app.get(JobQueue).waitForJob('generator.train', byTasks.body.jobId, { timeoutMs: 120_000, pollMs: 250 });
    expect(job2.state, JSON.stringify(job2.output)).toBe('completed');
    const [v4] = (await http(app.baseUrl, 'GET', '/v1/generator', { key: operator })).body.items;
    expect(v4).toMatchObject({ version: 4, status: 'ready', metrics: { design: 'compose', store: 'tasks', tasks: ['y-bare', 'y-know'], residualPieces: 0 } });

    for (const version of [3, 4]) {
      const gen = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { task: 'y-know', name: `y-know-composed-${version}`, generator: version } });
      expect(gen.status, JSON.stringify(gen.body)).toBe(201);
      expect(gen.body.lineage).toMatchObject({ generatorVersion: version, design: 'compose', task: 'y-know' });
      expect(gen.body.lineage.generatorSource).toBeUndefined();
    }
  }, 300_000);
});
