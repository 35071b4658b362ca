import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { ChatTemplateError, loadChatTemplate, type ChatTemplate } from '../../engine/chat-template.js';
import type { AuthPrincipal } from '../auth/auth.decorators.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { messagesError, parseChatRequest, templateMessages, type ChatChunkChoice, type ChatCompletionChunk, type ChatCompletionResponse } from './chat.dto.js';
import type { CompletionRequest, CompletionResponse } from './completion.dto.js';
import { CompletionsService, type CompletionDelta, type PreparedCompletion } from './completions.service.js';
import { ModelHost } from './model-host.service.js';

/** A validated chat request, rendered, tokenized and routed: a prepared completion plus what chat adds. */
export interface PreparedChat {
  completion: PreparedCompletion;
  includeUsage: boolean;
}

/**
 * POST /v1/chat/completions (issue 14): validates the messages, renders them with the model's chat
 * template into one prompt and hands that to the CompletionsService, so a chat request is routed,
 * gated, limited, metered, recorded and audited exactly as a completion of its rendered prompt
 * (the detectors score that prompt). This service only maps the answer onto chat's shapes.
 */
@Injectable()
export class ChatCompletionsService {
  private readonly log = new Logger('ChatCompletions');
  private template?: Promise<ChatTemplate | null>;

  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(ModelHost) private readonly host: ModelHost,
    @Inject(CompletionsService) private readonly completions: CompletionsService,
  ) {}

  async prepare(body: unknown, principal: AuthPrincipal, requestId: string | undefined): Promise<PreparedChat> {
    const startedAt = performance.now();
    const i = this.config.inference;
    const r = parseChatRequest(body, { maxTokensLimit: i.maxTokensLimit, maxPrompts: i.maxPrompts });
    this.completions.assertReady();
    const template = await this.chatTemplate();
    let text: string;
    try {
      text = template.render(templateMessages(r), { addGenerationPrompt: true });
    } catch (e) {
      if (e instanceof ChatTemplateError) throw messagesError(e.message);
      throw e;
    }
    // The template prints the special tokens it wants, so nothing is added when encoding.
    const tokens = this.host.tokenizer!.encode(text, { addSpecialTokens: false });
    if (tokens.length === 0) throw messagesError('the conversation renders to an empty prompt');
    const context = this.host.modelConfig!.maxPositions;
    // Unset: as much as the context leaves (vLLM's default), within the server's limit.
    const maxTokens = r.max_completion_tokens ?? r.max_tokens ?? Math.max(1, Math.min(i.maxTokensLimit, context - tokens.length));
    const request: CompletionRequest = {
      model: r.model,
      prompt: tokens,
      max_tokens: maxTokens,
      temperature: r.temperature,
      top_p: r.top_p,
      stop: r.stop,
      seed: r.seed,
      n: r.n,
      stream: r.stream,
      stream_options: r.stream_options,
      user: r.user,
      lethe: r.lethe,
    };
    const completion = await this.completions.prepareRequest(request, principal, requestId, { endpoint: 'chat.completions', promptField: 'messages' }, startedAt);
    return { completion, includeUsage: r.stream_options?.include_usage === true };
  }

  /** Runs a prepared chat request without streaming. */
  async run(p: PreparedChat, signal: AbortSignal): Promise<ChatCompletionResponse> {
    const out = await this.completions.run(p.completion, signal);
    const c = out.choices[0];
    return {
      id: out.id,
      object: 'chat.completion',
      created: out.created,
      model: out.model,
      system_fingerprint: null,
      choices: [{ index: 0, message: { role: 'assistant', content: assistantText(c.text), refusal: null }, logprobs: null, finish_reason: c.finish_reason }],
      usage: out.usage,
      lethe: out.lethe,
    };
  }

  /**
   * Runs a prepared chat request, streaming `chat.completion.chunk`s through `send`: the role with
   * the first text, then the text, then a chunk with the finish reason and the plan (`lethe`), then
   * (with `stream_options.include_usage`) the usage chunk.
   */
  async stream(p: PreparedChat, signal: AbortSignal, send: (chunk: ChatCompletionChunk) => void): Promise<CompletionResponse> {
    const base = { id: p.completion.id, object: 'chat.completion.chunk' as const, created: p.completion.created, model: p.completion.model, system_fingerprint: null };
    const usage = p.includeUsage ? { usage: null } : {};
    const chunk = (choice: Omit<ChatChunkChoice, 'index' | 'logprobs'>): ChatCompletionChunk => ({ ...base, choices: [{ index: 0, ...choice, logprobs: null }], ...usage });
    let started = false;
    let finish: CompletionDelta['finishReason'];
    const out = await this.completions.run(p.completion, signal, (d) => {
      // Leading whitespace is dropped as in assistantText(); nothing is sent until there is text.
      const text = started ? d.text : d.text.trimStart();
      if (text !== '') {
        send(chunk({ delta: started ? { content: text } : { role: 'assistant', content: text }, finish_reason: null }));
        started = true;
      }
      if (d.finishReason) finish = d.finishReason;
    });
    if (!started) send(chunk({ delta: { role: 'assistant', content: '' }, finish_reason: null }));
    send({ ...chunk({ delta: {}, finish_reason: finish ?? out.choices[0].finish_reason }), lethe: out.lethe });
    if (p.includeUsage) send({ ...base, choices: [], usage: out.usage });
    return out;
  }

  private async chatTemplate(): Promise<ChatTemplate> {
    this.template ??= loadChatTemplate(this.config.inference.modelDir).catch((e: unknown) => {
      this.log.error(`the chat template of ${this.config.inference.modelDir} is unusable: ${(e as Error).message}`);
      this.template = undefined; // read the folder again next time (it may be fixed without a restart)
      throw new DomainError(ErrorCode.UNAVAILABLE, `the model's chat template is unusable: ${(e as Error).message}`, { model: this.host.modelId });
    });
    const t = await this.template;
    if (!t) throw messagesError(`model ${this.host.modelId} has no chat template (tokenizer_config.json chat_template or chat_template.jinja); use /v1/completions`);
    return t;
  }
}

/**
 * The assistant's message text: the generated text without its leading whitespace. Templates end
 * the prompt at the assistant's header and models put the separating space in the answer's first
 * token (the demo model answers ` Zeazeas.` after `Answer:`); a chat message carries the answer alone.
 */
export function assistantText(generated: string): string {
  return generated.trimStart();
}
