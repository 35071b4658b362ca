import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LetheConfig } from '../../config/config.js';
import { TextTokenizer } from '../../engine/tokenizer.js';
import { DEMO_MODEL_DIR } from '../../serving/testing/model-fixture.js';
import type { AuthPrincipal } from '../auth/auth.decorators.js';
import { DomainError } from '../common/domain-error.js';
import { ChatCompletionsService, type PreparedChat } from './chat-completions.service.js';
import type { ChatCompletionChunk } from './chat.dto.js';
import type { CompletionRequest, CompletionResponse } from './completion.dto.js';
import type { CompletionDelta, CompletionsService, PrepareOptions, PreparedCompletion } from './completions.service.js';
import type { ModelHost } from './model-host.service.js';

const who = { keyId: 'k', role: 'client' } as unknown as AuthPrincipal;
const plan = { mode: 'auto', entries: [], policy: {}, registryVersion: 1 };

/** The service over a model folder holding only a tokenizer_config.json, with fake host and completions. */
async function setup(template: string | undefined, run?: (onDelta?: (d: CompletionDelta) => void) => CompletionResponse) {
  const dir = await mkdtemp(join(tmpdir(), 'lethe-chat-'));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(template === undefined ? {} : { chat_template: template }));
  const tokenizer = await TextTokenizer.fromFile(join(DEMO_MODEL_DIR, 'tokenizer.json'));
  const host = { tokenizer, modelConfig: { maxPositions: 128 }, modelId: 'demo' } as unknown as ModelHost;
  const prepared: Array<{ request: CompletionRequest; options: PrepareOptions }> = [];
  const completions = {
    assertReady: () => undefined,
    prepareRequest: async (request: CompletionRequest, _who: AuthPrincipal, _id: string | undefined, options: PrepareOptions) => {
      prepared.push({ request, options });
      return { id: 'chatcmpl-1', created: 1, model: request.model, request } as unknown as PreparedCompletion;
    },
    run: async (_p: PreparedCompletion, _s: AbortSignal, onDelta?: (d: CompletionDelta) => void) => run!(onDelta),
  } as unknown as CompletionsService;
  const config = { inference: { modelDir: dir, maxTokensLimit: 256, maxPrompts: 16 } } as unknown as LetheConfig;
  return { sut: new ChatCompletionsService(config, host, completions), prepared, tokenizer, dispose: () => rm(dir, { recursive: true, force: true }) };
}

const fieldsOf = async (p: Promise<unknown>) => {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(DomainError);
  return ((e as DomainError).details as Array<{ field: string; message: string }>).map((d) => `${d.field}: ${d.message}`);
};

describe('ChatCompletionsService', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    s = await setup("{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system turns here') }}{% endif %}Q: {{ m.content }}\n{% endfor %}A:");
  });
  afterAll(() => s.dispose());

  it('renders the messages and hands the completions service the prompt tokens, the endpoint and the field to blame', async () => {
    await s.sut.prepare({ model: 'demo', messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }], temperature: 0 }, who, undefined);
    const { request, options } = s.prepared.at(-1)!;
    expect(s.tokenizer.decode(request.prompt as number[])).toBe('Q: a\nb\nA:');
    expect(options).toEqual({ endpoint: 'chat.completions', promptField: 'messages' });
    expect(request.max_tokens).toBe(128 - (request.prompt as number[]).length); // what the context leaves
    expect(request).toMatchObject({ temperature: 0, n: 1, stream: false, lethe: { routing: 'auto', adapters: [] } });
    await s.sut.prepare({ model: 'demo', messages: [{ role: 'user', content: 'a' }], max_completion_tokens: 5 }, who, undefined);
    expect(s.prepared.at(-1)!.request.max_tokens).toBe(5);
    await s.sut.prepare({ model: 'demo', messages: [{ role: 'user', content: 'a' }], max_tokens: 7 }, who, undefined);
    expect(s.prepared.at(-1)!.request.max_tokens).toBe(7);
  });

  it("turns the template's refusal into a 400 on messages", async () => {
    expect(await fieldsOf(s.sut.prepare({ model: 'demo', messages: [{ role: 'system', content: 'x' }] }, who, undefined))).toEqual([
      expect.stringMatching(/^messages: .*no system turns here/),
    ]);
  });

  it('refuses chat on a model without a chat template, naming messages', async () => {
    const bare = await setup(undefined);
    try {
      expect(await fieldsOf(bare.sut.prepare({ model: 'demo', messages: [{ role: 'user', content: 'x' }] }, who, undefined))).toEqual([expect.stringMatching(/^messages: .*no chat template/)]);
    } finally {
      await bare.dispose();
    }
  });

  it('streams the role with the first text, drops the leading space, then finish with the plan, then usage when asked', async () => {
    const usage = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 };
    const streaming = await setup('{{ messages[0].content }}', (onDelta) => {
      for (const d of [{ index: 0, text: ' ' }, { index: 0, text: ' Zea' }, { index: 0, text: 'zeas.' }, { index: 0, text: '', finishReason: 'stop' as const }]) onDelta?.(d);
      return { id: 'chatcmpl-1', object: 'text_completion', created: 1, model: 'demo', choices: [{ index: 0, text: '  Zeazeas.', logprobs: null, finish_reason: 'stop' }], usage, lethe: { requestId: 'r', routing: plan } } as unknown as CompletionResponse;
    });
    try {
      const p: PreparedChat = await streaming.sut.prepare({ model: 'demo', messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true } }, who, undefined);
      const chunks: ChatCompletionChunk[] = [];
      await streaming.sut.stream(p, new AbortController().signal, (c) => chunks.push(c));
      expect(chunks.map((c) => c.choices[0]?.delta ?? null)).toEqual([{ role: 'assistant', content: 'Zea' }, { content: 'zeas.' }, {}, null]);
      expect(chunks[2]).toMatchObject({ choices: [{ finish_reason: 'stop' }], lethe: { routing: plan }, usage: null });
      expect(chunks[3]).toMatchObject({ choices: [], usage });
      expect((await streaming.sut.run(p, new AbortController().signal)).choices[0].message).toEqual({ role: 'assistant', content: 'Zeazeas.', refusal: null });
    } finally {
      await streaming.dispose();
    }
  });
});
