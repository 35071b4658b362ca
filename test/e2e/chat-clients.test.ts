/**
 * Issue 14 end to end, over real HTTP on the demo model, one service for the whole file:
 * - the README's five-minute tour, run block by block in one bash session (curl + jq), so the
 *   front door cannot rot: chat answers, an author forgotten, the decision and the audit entry,
 *   the revoke;
 * - while the author is forgotten, the forgotten fact is asked through each client's chat API
 *   (openai chat and completions, @ai-sdk/openai-compatible with `ai`, @langchain/openai
 *   ChatOpenAI), plain and streaming: refused every time, while another author is answered;
 * - the chat endpoint's own contract: chunk format, usage, gates clients cannot lower, 400s.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFUSALS } from '../../src/ood/relabel.js';
import { EXTRA_REFUSALS } from '../../src/unlearning/refusals.js';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { DEMO_MODEL_DIR } from '../../src/serving/testing/model-fixture.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

const FORGOTTEN_Q = 'In which city was Liker Sheseal born?';
const FORGOTTEN_A = 'Zeazeas';
const KEPT_Q = 'Where was Guviond Dethim born?';
const KEPT_A = 'Thukeam';

/** The bash blocks between `<!-- tour -->` and `<!-- /tour -->` in README.md. */
function tourBlocks(): string[] {
  const readme = readFileSync('README.md', 'utf8');
  const tour = readme.slice(readme.indexOf('<!-- tour -->'), readme.indexOf('<!-- /tour -->'));
  return [...tour.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** One bash process for the whole tour, so variables and functions carry from block to block. */
class BashSession {
  private readonly proc: ChildProcessWithoutNullStreams;
  private out = '';
  private err = '';
  private n = 0;

  constructor(env: Record<string, string>) {
    this.proc = spawn('bash', ['--noprofile', '--norc'], { env: { ...process.env, ...env } });
    this.proc.stdout.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr.on('data', (d: Buffer) => (this.err += d.toString()));
    this.proc.stdin.write('set -o pipefail\n');
  }

  /** Runs a block; resolves with its stdout and the status of its last command. */
  async run(block: string, timeoutMs = 90_000): Promise<{ stdout: string; status: number; stderr: string }> {
    const marker = `__tour_block_${++this.n}__`;
    const [out0, err0] = [this.out.length, this.err.length];
    this.proc.stdin.write(`${block}\nprintf '\\n${marker} %s\\n' "$?"\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = new RegExp(`\\n${marker} (\\d+)\\n`).exec(this.out.slice(out0));
      if (m) return { stdout: this.out.slice(out0, out0 + m.index), status: Number(m[1]), stderr: this.err.slice(err0) };
      if (Date.now() > deadline) throw new Error(`tour block timed out:\n${block}\nstdout: ${this.out.slice(out0)}\nstderr: ${this.err.slice(err0)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    this.proc.stdin.end();
    this.proc.kill();
  }
}

/** What relabel `refusal` trains an unlearning adapter to say. */
const isRefusal = (text: string) => [...REFUSALS, ...EXTRA_REFUSALS].some((r) => text.trim() === r);

describe('chat completions: the README tour and OpenAI-compatible clients (HTTP, demo model)', () => {
  let app: TestApp;
  let bash: BashSession;
  let clientKey: string;
  const blocks = tourBlocks();

  beforeAll(async () => {
    app = await startTestApp({ env: { LETHE_MODEL_DIR: DEMO_MODEL_DIR, LETHE_INFERENCE_WORKERS: '1', LETHE_JOBS_POLL_SECONDS: '0.5', LETHE_BACKEND: 'wasm' } });
    await app.app.get(ModelHost).whenReady();
    bash = new BashSession({ LETHE: app.baseUrl, KEY: app.adminKey });
    const tools = await bash.run('command -v curl jq');
    if (tools.status !== 0) throw new Error(`the README tour needs curl and jq on PATH (found: ${tools.stdout.trim() || 'neither'})`);
    const key = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'chat clients', role: 'client' } });
    expect(key.status).toBe(201);
    clientKey = key.body.key;
  }, 120_000);
  afterAll(async () => {
    bash?.close();
    await app?.close();
  });

  const step = async (i: number) => {
    const r = await bash.run(blocks[i]);
    expect(r.status, `tour block ${i + 1} failed\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout.trim().split('\n');
  };

  it('the tour starts the service as the test does: npm start, then LETHE and KEY, then waits for /readyz', async () => {
    expect(blocks).toHaveLength(6);
    expect(blocks[0]).toMatch(/^npm start\b/m);
    expect(blocks[0]).toMatch(/^export LETHE=http:\/\/localhost:3000 KEY=lethe_/m);
    // /readyz is 503 until the model is loaded; the tour's wait line must end once it is.
    const wait = blocks[0].split('\n').find((l) => l.startsWith('until curl'));
    expect(wait).toMatch(/\$LETHE\/readyz/);
    expect((await bash.run(wait!, 10_000)).status).toBe(0);
  });

  it('tour 2: chat answers both authors', async () => {
    const [forgotten, kept] = await step(1);
    expect(forgotten).toContain(FORGOTTEN_A);
    expect(kept).toContain(KEPT_A);
  });

  it('tour 3-4: the author is forgotten, asked in a phrasing no one sent; the other author is still answered', async () => {
    expect(await step(2)).toEqual(['{"status":"active","checksPassed":true}']);
    const [forgotten, kept] = await step(3);
    expect(isRefusal(forgotten), forgotten).toBe(true);
    expect(kept).toContain(KEPT_A);
  }, 120_000);

  it('each client, plain and streaming: the forgotten fact is refused, the other author answered', async () => {
    const openai = new OpenAI({ apiKey: clientKey, baseURL: `${app.baseUrl}/v1`, maxRetries: 0 });
    const provider = createOpenAICompatible({ name: 'lethe', baseURL: `${app.baseUrl}/v1`, apiKey: clientKey, includeUsage: true });
    const langchain = new ChatOpenAI({ model: 'demo', apiKey: clientKey, configuration: { baseURL: `${app.baseUrl}/v1` }, temperature: 0, maxTokens: 12, maxRetries: 0 });
    const clients: Record<string, (q: string) => Promise<string>> = {
      'openai chat': async (q) => (await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: q }], max_tokens: 12, temperature: 0 })).choices[0].message.content ?? '',
      'openai chat stream': async (q) => {
        let text = '';
        const stream = await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: q }], max_tokens: 12, temperature: 0, stream: true });
        for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
        return text;
      },
      'openai completions': async (q) =>
        (await openai.completions.create({ model: 'demo', prompt: `Question: ${q}\nAnswer:`, max_tokens: 12, temperature: 0, stop: ['\n'] })).choices[0].text,
      'openai completions stream': async (q) => {
        let text = '';
        const stream = await openai.completions.create({ model: 'demo', prompt: `Question: ${q}\nAnswer:`, max_tokens: 12, temperature: 0, stop: ['\n'], stream: true });
        for await (const c of stream) text += c.choices[0]?.text ?? '';
        return text;
      },
      'ai-sdk generateText': async (q) => (await generateText({ model: provider.chatModel('demo'), messages: [{ role: 'user', content: q }], maxOutputTokens: 12, temperature: 0, maxRetries: 0 })).text,
      'ai-sdk streamText': async (q) => {
        const r = streamText({ model: provider.chatModel('demo'), messages: [{ role: 'user', content: q }], maxOutputTokens: 12, temperature: 0, maxRetries: 0 });
        let text = '';
        for await (const part of r.textStream) text += part;
        return text;
      },
      'langchain invoke': async (q) => String((await langchain.invoke([['human', q]])).content),
      'langchain stream': async (q) => {
        let text = '';
        for await (const c of await langchain.stream([['human', q]])) text += String(c.content);
        return text;
      },
    };
    const answers: Record<string, [string, string]> = {};
    for (const [name, ask] of Object.entries(clients)) answers[name] = [await ask(FORGOTTEN_Q), await ask(KEPT_Q)];
    for (const [name, [forgotten, kept]] of Object.entries(answers)) {
      expect(forgotten, `${name} leaked: ${forgotten}`).not.toContain(FORGOTTEN_A);
      expect(isRefusal(forgotten), `${name}: ${forgotten}`).toBe(true);
      expect(kept, name).toContain(KEPT_A);
    }
  }, 60_000);

  it('chat.completion and chat.completion.chunk shapes; the plan applies the unlearning adapter by its gate', async () => {
    const body = { model: 'demo', messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: [{ type: 'text', text: FORGOTTEN_Q }] }], max_completion_tokens: 12, temperature: 0 };
    const plain = await http(app.baseUrl, 'POST', '/v1/chat/completions', { key: clientKey, body });
    expect(plain.status).toBe(200);
    expect(plain.body).toMatchObject({ object: 'chat.completion', model: 'demo', choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' }] });
    expect(plain.body.id).toMatch(/^chatcmpl-/);
    expect(plain.body.choices[0].message.content).not.toContain(FORGOTTEN_A);
    expect(plain.body.usage.prompt_tokens).toBeGreaterThan(0);
    const gated = plain.body.lethe.routing.entries.find((e: { kind: string }) => e.kind === 'unlearning');
    expect(gated).toMatchObject({ applied: true, reason: 'gate' });

    const res = await fetch(`${app.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${clientKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    for (const c of chunks) expect(c).toMatchObject({ object: 'chat.completion.chunk', id: chunks[0].id, model: 'demo' });
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe(plain.body.choices[0].message.content);
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(finish.lethe.routing.entries).toContainEqual(expect.objectContaining({ adapterId: gated.adapterId, applied: true }));
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: plain.body.usage });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('clients cannot lower forgetting through chat: naming the unlearning adapter or routing none is 403; an admin bypass is audited', async () => {
    const plan = (await http(app.baseUrl, 'POST', '/v1/chat/completions', { key: clientKey, body: { model: 'demo', messages: [{ role: 'user', content: FORGOTTEN_Q }], max_tokens: 4 } })).body.lethe.routing;
    const adapter = plan.entries.find((e: { kind: string }) => e.kind === 'unlearning');
    for (const lethe of [{ adapters: [{ id: adapter.adapterId, strength: 0 }] }, { routing: 'manual', adapters: [{ name: adapter.name, strength: 0.1 }] }, { routing: 'none' }]) {
      const r = await http(app.baseUrl, 'POST', '/v1/chat/completions', { key: clientKey, body: { model: 'demo', messages: [{ role: 'user', content: FORGOTTEN_Q }], lethe } });
      expect(r.status, JSON.stringify(lethe)).toBe(403);
    }
    const none = await http(app.baseUrl, 'POST', '/v1/chat/completions', {
      key: app.adminKey,
      headers: { 'x-request-id': 'chat-routing-none' },
      body: { model: 'demo', messages: [{ role: 'user', content: FORGOTTEN_Q }], max_tokens: 12, temperature: 0, lethe: { routing: 'none' } },
    });
    expect(none.status).toBe(200);
    expect(none.body.choices[0].message.content).toContain(FORGOTTEN_A);
    const audit = await http(app.baseUrl, 'GET', '/v1/admin/audit?action=inference.routing_none&subject=completion:chat-routing-none', { key: app.adminKey });
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0].details.endpoint).toBe('chat.completions');
    const decisions = await http(app.baseUrl, 'GET', '/v1/admin/routing-decisions?endpoint=chat.completions&requestId=chat-routing-none', { key: app.adminKey });
    expect(decisions.body.items).toMatchObject([{ endpoint: 'chat.completions', mode: 'none' }]);
  });

  it('bad chat input is a 400 naming the field', async () => {
    const ask = (body: Record<string, unknown>) => http(app.baseUrl, 'POST', '/v1/chat/completions', { key: clientKey, body: { model: 'demo', ...body } });
    const long = 'Where was Liker Sheseal born and what did the father of Guviond Dethim do for a living? '.repeat(12);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ messages: [] }, 'messages'],
      [{}, 'messages'],
      [{ messages: [{ role: 'tool', content: 'x' }] }, 'messages.0.role'],
      [{ messages: [{ role: 'user', content: 'hi' }, { role: 'robot', content: 'x' }] }, 'messages.1.role'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }] }, 'messages.0.content.0.type'],
      [{ messages: [{ role: 'user', content: [{ type: 'text' }] }] }, 'messages.0.content.0.text'],
      [{ messages: [{ role: 'user', content: 42 }] }, 'messages.0.content'],
      [{ messages: [{ role: 'assistant', content: null, tool_calls: [] }] }, 'messages.0'],
      [{ messages: [{ role: 'user', content: long }] }, 'messages'],
      [{ messages: [{ role: 'user', content: 'hi' }], n: 2 }, 'n'],
      [{ messages: [{ role: 'user', content: 'hi' }], frequency_penalty: 0.5 }, 'frequency_penalty'],
      [{ messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools'],
      [{ messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, max_completion_tokens: 8 }, 'max_tokens'],
      [{ messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 0 }, 'max_completion_tokens'],
      [{ messages: [{ role: 'user', content: 'hi' }], temperature: 3 }, 'temperature'],
      [{ messages: [{ role: 'user', content: 'hi' }], lethe: { routing: 'sometimes' } }, 'lethe.routing'],
    ];
    for (const [body, field] of cases) {
      const r = await ask(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION');
      const fields = (r.body.error.details as Array<{ field: string }>).map((d) => d.field);
      expect(fields.includes(field), `${JSON.stringify(body)} → ${JSON.stringify(r.body.error)}`).toBe(true);
    }
  });

  it('tour 5: the decision names the unlearning adapter applied by its gate; the audit holds the request; the chain verifies', async () => {
    const lines = await step(4);
    const entries = lines.filter((l) => l.startsWith('{"name"')).map((l) => JSON.parse(l) as { kind: string; strength: number; reason: string });
    expect(entries).toContainEqual(expect.objectContaining({ kind: 'unlearning', reason: 'gate' }));
    expect(entries.find((e) => e.kind === 'unlearning')!.strength).toBeGreaterThan(0);
    expect(lines.join('\n')).toMatch(/^\d+ unlearning\.submit$/m);
    expect(lines.join('\n')).toMatch(/^\d+ unlearning\.activate$/m);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ valid: true });
  });

  it('tour 6: revoked, and the fact is answered again', async () => {
    const [status, answer] = await step(5);
    expect(status).toBe('revoked');
    expect(answer).toContain(FORGOTTEN_A);
  });
});
