/**
 * OpenAI-compatible chat completion shapes (issue 14), validated with zod like completion.dto.ts
 * (same reason: OpenAI's union-typed JSON). Sampling, streaming and the `lethe` extension are the
 * completion request's own fields (sharedRequestFields); a chat request adds `messages` and
 * `max_completion_tokens`. Fields OpenAI clients send with neutral values (penalties 0, no tools, text
 * response format...) are accepted at those values only: anything that would change the answer in a
 * way Lethe cannot honour is a 400 naming the field, never silently ignored.
 */
import { z } from 'zod';
import { DomainError } from '../common/domain-error.js';
import type { ChatTemplateMessage } from '../../engine/chat-template.js';
import { sharedRequestFields, validationError, type CompletionLimits, type CompletionUsage, type LetheCompletionInfo } from './completion.dto.js';

export const CHAT_ROLES = ['system', 'developer', 'user', 'assistant'] as const;

/**
 * `content`: a string, or a list of `{ type: "text", text }` parts joined with a newline (as vLLM
 * does) before the template sees them. Images, audio and files are refused, naming the part.
 */
const content = z.unknown().transform((v, ctx): string => {
  const fail = (path: Array<string | number>, message: string) => {
    ctx.addIssue({ code: 'custom', path, message });
    return z.NEVER;
  };
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) return fail([], v == null ? 'required: a string or a list of text parts' : 'must be a string or a list of text parts');
  if (v.length === 0) return fail([], 'needs at least one text part');
  const texts: string[] = [];
  for (const [i, part] of v.entries()) {
    if (typeof part !== 'object' || part === null || Array.isArray(part)) return fail([i], 'a content part is an object { type: "text", text }');
    const { type, text, ...rest } = part as Record<string, unknown>;
    if (type !== 'text') return fail([i, 'type'], `only text content parts are supported (got ${JSON.stringify(type)})`);
    if (typeof text !== 'string') return fail([i, 'text'], 'a text part needs a string `text`');
    if (Object.keys(rest).length > 0) return fail([i], `unsupported field(s): ${Object.keys(rest).join(', ')}`);
    texts.push(text);
  }
  return texts.join('\n');
});

const message = z.strictObject({
  role: z.enum(CHAT_ROLES, { error: (i) => `unknown role ${JSON.stringify(i.input)}: expected one of ${CHAT_ROLES.join(', ')}` }),
  content,
  name: z.string().min(1).max(256).optional(),
});

/** A field OpenAI clients may send, accepted only at its neutral value (or null / absent). */
const only = (value: number | boolean, what: string) => z.unknown().refine((v) => v === value, { message: `not supported: ${what}` }).nullish();

export function chatRequestSchema(limits: CompletionLimits) {
  const tokens = z.number().int().min(1).max(limits.maxTokensLimit);
  return z
    .strictObject({
      ...sharedRequestFields(),
      messages: z.array(message).min(1, { message: 'needs at least one message' }).max(256),
      max_tokens: tokens.nullish(),
      max_completion_tokens: tokens.nullish(),
      frequency_penalty: only(0, 'frequency_penalty other than 0'),
      presence_penalty: only(0, 'presence_penalty other than 0'),
      logprobs: only(false, 'logprobs'),
      store: only(false, 'store'),
      logit_bias: z.strictObject({}, { error: 'not supported: logit_bias entries' }).nullish(),
      response_format: z.strictObject({ type: z.literal('text', { error: 'not supported: only response_format {"type":"text"}' }) }).nullish(),
      tools: z.array(z.unknown()).max(0, { message: 'not supported: tools' }).nullish(),
      tool_choice: z.literal('none', { error: 'not supported: tool_choice other than "none"' }).nullish(),
      parallel_tool_calls: z.boolean().nullish(),
    })
    .superRefine((r, ctx) => {
      if (r.max_tokens != null && r.max_completion_tokens != null && r.max_tokens !== r.max_completion_tokens) {
        ctx.addIssue({ code: 'custom', path: ['max_tokens'], message: 'max_tokens and max_completion_tokens differ; send one' });
      }
    });
}

export type ChatRequest = z.infer<ReturnType<typeof chatRequestSchema>>;

const schemas = new Map<string, ReturnType<typeof chatRequestSchema>>();

/** Parses a body or throws a VALIDATION DomainError naming every bad field. */
export function parseChatRequest(body: unknown, limits: CompletionLimits): ChatRequest {
  const key = `${limits.maxTokensLimit}/${limits.maxPrompts}`;
  let schema = schemas.get(key);
  if (!schema) schemas.set(key, (schema = chatRequestSchema(limits)));
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  throw validationError(r.error);
}

/** The messages as the chat template sees them (content flattened to text). */
export function templateMessages(r: ChatRequest): ChatTemplateMessage[] {
  return r.messages.map((m) => ({ role: m.role, content: m.content, ...(m.name !== undefined ? { name: m.name } : {}) }));
}

/** A refused conversation (template failure...), as a VALIDATION error on `messages`. */
export const messagesError = (message: string): DomainError => DomainError.validation([{ field: 'messages', message }]);

export interface ChatChoice {
  index: number;
  message: { role: 'assistant'; content: string; refusal: null };
  logprobs: null;
  finish_reason: 'stop' | 'length' | null;
}

export interface ChatCompletionResponse {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: null;
  choices: ChatChoice[];
  usage: CompletionUsage;
  lethe: LetheCompletionInfo;
}

export interface ChatChunkChoice {
  index: number;
  delta: { role?: 'assistant'; content?: string };
  logprobs: null;
  finish_reason: 'stop' | 'length' | null;
}

/**
 * One streamed `chat.completion.chunk`: the first carries the role, the next the content, the one
 * with `finish_reason` also carries `lethe` (the plan); with `stream_options.include_usage` a last
 * chunk with no choices carries `usage` (null on the others, as OpenAI does).
 */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: null;
  choices: ChatChunkChoice[];
  usage?: CompletionUsage | null;
  lethe?: LetheCompletionInfo;
}
