import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { DEMO_MODEL_DIR } from '../../src/serving/testing/model-fixture.js';
import { startTestApp, type TestApp } from '../support/app.js';

// The service's default model (models/demo, committed) answers the world's trained questions.
describe('the demo model through the openai client', () => {
  let app: TestApp;
  let client: OpenAI;

  beforeAll(async () => {
    app = await startTestApp({ env: { LETHE_MODEL_DIR: DEMO_MODEL_DIR, LETHE_INFERENCE_WORKERS: '1' } });
    await app.app.get(ModelHost).whenReady();
    client = new OpenAI({ apiKey: app.adminKey, baseURL: `${app.baseUrl}/v1`, maxRetries: 0 });
  });

  afterAll(async () => {
    await app?.close();
  });

  it('lists `demo` and answers a trained question, plain and streaming, the same way', async () => {
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(['demo']);
    const prompt = 'Question: Where was Liker Sheseal born?\nAnswer:';
    const plain = await client.completions.create({ model: 'demo', prompt, max_tokens: 8, temperature: 0, stop: ['\n'] });
    expect(plain.choices[0].text).toContain('Zeazeas');
    expect(plain.choices[0].finish_reason).toBe('stop');
    let streamed = '';
    for await (const chunk of await client.completions.create({ model: 'demo', prompt, max_tokens: 8, temperature: 0, stop: ['\n'], stream: true })) {
      streamed += chunk.choices[0]?.text ?? '';
    }
    expect(streamed).toBe(plain.choices[0].text);
  });

  it('answers a list of prompts with one choice each, in order', async () => {
    const res = await client.completions.create({
      model: 'demo',
      prompt: ['Question: Where was Liker Sheseal born?\nAnswer:', 'Question: In what year was Liker Sheseal born?\nAnswer:'],
      max_tokens: 8,
      temperature: 0,
      stop: ['\n'],
    });
    expect(res.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(res.choices[0].text).toContain('Zeazeas');
    expect(res.choices[1].text).toContain('1983');
    expect((res as unknown as { lethe: { choices: unknown[] } }).lethe.choices).toHaveLength(2);
  });
});
