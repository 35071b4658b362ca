/**
 * What the OpenAPI fuzz needs on a booted app: keys of lesser roles, existing resources (their ids
 * feed path parameters so requests reach the handlers), valid PEFT files, and example bodies for
 * the operations whose schema is opaque (completions and chat completions: OpenAI's union-typed
 * JSON, checked by zod).
 */
import fc from 'fast-check';
import type { ModelConfig } from '../../src/engine/model-config.js';
import { randomPeftFiles } from '../../src/serving/testing/model-fixture.js';
import { http, type TestApp } from './app.js';
import type { FuzzContext } from './openapi-fuzz.js';

const example = (who: string, answer: string) => ({ prompt: `Question: Where was ${who} born?\nAnswer:`, completion: ` ${answer}` });

export async function fuzzContextFor(app: Pick<TestApp, 'baseUrl' | 'adminKey'>, model: ModelConfig): Promise<FuzzContext> {
  const admin = app.adminKey;
  const made = async (path: string, body: unknown, headers?: Record<string, string>) => {
    const res = await http(app.baseUrl, 'POST', path, { key: admin, body, headers });
    if (res.status >= 300) throw new Error(`fuzz fixture ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { id: string; key?: string };
  };
  const client = await made('/v1/admin/api-keys', { name: 'fuzz client', role: 'client' });
  const operator = await made('/v1/admin/api-keys', { name: 'fuzz operator', role: 'operator' });
  const task = await made('/v1/tasks', { name: 'fuzz-task', description: 'Answer the city.', examples: [example('Ann', 'Paris'), example('Bob', 'Rome'), example('Cid', 'Oslo')] });
  const request = await made('/v1/unlearning-requests', { name: 'fuzz-forget', items: [{ prompt: 'Who wrote the book?', answer: 'Ann' }], relabel: 'refusal' });
  const files = randomPeftFiles(model, 3, 2, 4, 0.5);
  const form = new FormData();
  form.append('name', 'fuzz-adapter');
  form.append('files', new Blob([JSON.stringify(files.adapterConfig)]), 'adapter_config.json');
  form.append('files', new Blob([new Uint8Array(files.weights)]), 'adapter_model.safetensors');
  const imported = await fetch(`${app.baseUrl}/v1/adapters/import`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: form });
  if (imported.status !== 201) throw new Error(`fuzz fixture import: ${imported.status} ${await imported.text()}`);
  const adapter = (await imported.json()) as { id: string; name: string };

  const completion = fc.record(
    {
      model: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('tiny', `tiny:${adapter.name}`) }, { weight: 1, arbitrary: fc.constantFrom('nope', '') }),
      prompt: fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.string({ maxLength: 10 }), { minLength: 1, maxLength: 3 }), fc.array(fc.nat({ max: 2000 }), { minLength: 1, maxLength: 8 })),
      max_tokens: fc.integer({ min: 1, max: 4 }),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      top_p: fc.double({ min: 0.01, max: 1, noNaN: true }),
      stop: fc.oneof(fc.string({ minLength: 1, maxLength: 3 }), fc.array(fc.string({ minLength: 1, maxLength: 3 }), { maxLength: 4 })),
      seed: fc.nat(),
      stream: fc.boolean(),
      user: fc.string({ maxLength: 10 }),
      lethe: fc.record(
        {
          routing: fc.constantFrom('auto', 'manual', 'none'),
          adapters: fc.array(fc.record({ name: fc.constantFrom(adapter.name, 'missing'), strength: fc.double({ min: -2, max: 2, noNaN: true }) }, { requiredKeys: ['name'] }), { maxLength: 2 }),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['model', 'prompt'] },
  );
  const text = fc.string({ maxLength: 30 });
  const chat = fc.record(
    {
      model: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('tiny', `tiny:${adapter.name}`) }, { weight: 1, arbitrary: fc.constantFrom('nope', '') }),
      messages: fc.array(
        fc.record({
          role: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('system', 'developer', 'user', 'assistant') }, { weight: 1, arbitrary: fc.constantFrom('tool', 'function', '') }),
          content: fc.oneof(text, fc.array(fc.record({ type: fc.oneof({ weight: 8, arbitrary: fc.constant('text') }, { weight: 1, arbitrary: fc.constant('image_url') }), text }), { minLength: 1, maxLength: 2 })),
        }),
        { minLength: 1, maxLength: 3 },
      ),
      // Always bounded: without it a chat answer may run to the end of the context.
      max_tokens: fc.integer({ min: 1, max: 4 }),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      top_p: fc.double({ min: 0.01, max: 1, noNaN: true }),
      seed: fc.nat(),
      stream: fc.boolean(),
      stream_options: fc.record({ include_usage: fc.boolean() }),
      frequency_penalty: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(0.5) }),
      lethe: fc.record({ routing: fc.constantFrom('auto', 'manual', 'none'), adapters: fc.array(fc.record({ name: fc.constantFrom(adapter.name, 'missing'), strength: fc.double({ min: -2, max: 2, noNaN: true }) }), { maxLength: 1 }) }, { requiredKeys: [] }),
    },
    { requiredKeys: ['model', 'messages', 'max_tokens'] },
  );
  return {
    adminKey: admin,
    otherKeys: [client.key!, operator.key!],
    ids: [client.id, operator.id, task.id, request.id, adapter.id],
    peft: { config: files.adapterConfig, weights: [files.weights] },
    bodyHints: {
      'POST /v1/completions': completion as fc.Arbitrary<Record<string, unknown>>,
      'POST /v1/chat/completions': chat as fc.Arbitrary<Record<string, unknown>>,
    },
  };
}
