/**
 * OpenAI-compatible completion request/response shapes (issue 5). Requests are validated with zod
 * (not class-validator) because the body is OpenAI's union-typed JSON (`prompt` string or list,
 * `stop` string or list); every problem is reported with its field path.
 */
import { z } from 'zod';
import type { RoutingPlan } from '../../routing/routing-types.js';
import { DomainError } from '../common/domain-error.js';

const adapterSelection = z
  .strictObject({
    name: z.string().min(1).max(200).optional(),
    id: z.string().min(1).max(100).optional(),
    strength: z.number().optional(),
  })
  .refine((s) => s.name !== undefined || s.id !== undefined, { message: 'needs a name or an id' });

const tokenList = z.array(z.number().int().min(0)).min(1);

/** Limits that come from configuration and the model. */
export interface CompletionLimits {
  maxTokensLimit: number;
  maxPrompts: number;
}

/**
 * The fields /v1/completions and /v1/chat/completions share (sampling, streaming, Lethe's
 * extension), so both endpoints validate them alike.
 */
export function sharedRequestFields() {
  return {
    model: z.string().min(1).max(300),
    temperature: z.number().min(0).max(2).default(1),
    top_p: z.number().gt(0).max(1).default(1),
    stop: z
      .union([z.string().min(1), z.array(z.string().min(1)).max(4)])
      .nullish()
      .transform((s) => (s == null ? [] : typeof s === 'string' ? [s] : s)),
    seed: z.number().int().min(0).max(2 ** 32 - 1).nullish(),
    n: z.literal(1).default(1),
    stream: z.boolean().nullish().transform((s) => s === true),
    stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullish(),
    user: z.string().max(256).optional(),
    lethe: z
      .strictObject({
        routing: z.enum(['auto', 'manual', 'none']).default('auto'),
        adapters: z.array(adapterSelection).max(64).default([]),
      })
      .default({ routing: 'auto', adapters: [] }),
  };
}

export function completionRequestSchema(limits: CompletionLimits) {
  return z.strictObject({
    ...sharedRequestFields(),
    prompt: z.union([z.string(), z.array(z.string()).min(1).max(limits.maxPrompts), tokenList, z.array(tokenList).min(1).max(limits.maxPrompts)]),
    max_tokens: z.number().int().min(1).max(limits.maxTokensLimit).default(16),
  });
}

export type CompletionRequest = z.infer<ReturnType<typeof completionRequestSchema>>;

// Building a zod schema costs more than parsing with it: one per distinct limits.
const schemas = new Map<string, ReturnType<typeof completionRequestSchema>>();

/** Parses a body or throws a VALIDATION DomainError naming every bad field. */
export function parseCompletionRequest(body: unknown, limits: CompletionLimits): CompletionRequest {
  const key = `${limits.maxTokensLimit}/${limits.maxPrompts}`;
  let schema = schemas.get(key);
  if (!schema) schemas.set(key, (schema = completionRequestSchema(limits)));
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  throw validationError(r.error);
}

/** A zod error as the service's VALIDATION error, each issue with its field path. */
export function validationError(error: z.ZodError): DomainError {
  return DomainError.validation(
    error.issues.map((i) => ({
      field: i.path.length > 0 ? i.path.join('.') : 'body',
      message: i.code === 'unrecognized_keys' ? `unsupported field(s): ${(i as { keys?: string[] }).keys?.join(', ')}` : i.message,
    })),
  );
}

export interface CompletionChoice {
  index: number;
  text: string;
  logprobs: null;
  finish_reason: 'stop' | 'length' | null;
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Lethe's addition to the OpenAI shape: the routing plan (per prompt when several). */
export interface LetheCompletionInfo {
  requestId: string;
  /** The plan of the first prompt (the only one, usually). */
  routing: RoutingPlan;
  /** One plan per prompt, by choice index, when the request had several prompts. */
  choices?: Array<{ index: number; routing: RoutingPlan }>;
}

export interface CompletionResponse {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage: CompletionUsage;
  lethe: LetheCompletionInfo;
}

/** One streamed chunk (`data: <json>`); the last one carries usage and lethe with no choices. */
export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: CompletionUsage | null;
  lethe?: LetheCompletionInfo;
}

/** GET /v1/models entry (OpenAI list shape + what vLLM/LoRAX add for adapters). */
export interface ModelCard {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  /** The base model id for adapters (vLLM: `parent`); null for the base itself. */
  parent: string | null;
  root: string;
  max_model_len?: number;
  lethe?: { adapterId: string; kind: string; version: number; rank: number };
}
