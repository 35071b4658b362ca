import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { appliedEntries } from '../../routing/router.js';
import type { AdapterSelection, CallerRole, RoutingPlan } from '../../routing/routing-types.js';
import { QueueFullError, RequestCancelledError, RequestTimeoutError } from '../../routing/micro-batcher.js';
import { AuditService } from '../audit/audit.service.js';
import type { AuthPrincipal } from '../auth/auth.decorators.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { parseCompletionRequest, type CompletionChoice, type CompletionRequest, type CompletionResponse } from './completion.dto.js';
import type { EngineRowResult } from '../../serving/inference-engine.js';
import { InferenceMetrics } from './inference-metrics.js';
import { ModelHost } from './model-host.service.js';
import { RoutingDecisionRepository } from './routing-decision.repository.js';
import { RoutingService } from './routing.service.js';

/** Which OpenAI endpoint a request came through (kept on its routing decisions). */
export type InferenceEndpoint = 'completions' | 'chat.completions';

/** How prepareRequest() names what it is given (the chat endpoint passes a rendered prompt). */
export interface PrepareOptions {
  endpoint?: InferenceEndpoint;
  /** Field that prompt errors (too long, no tokens) name; default `prompt` / `prompt.<i>`. */
  promptField?: string;
}

/** A validated, tokenized and routed request, ready to run. */
export interface PreparedCompletion {
  id: string;
  endpoint: InferenceEndpoint;
  requestId: string;
  created: number;
  model: string;
  request: CompletionRequest;
  prompts: number[][];
  /**
   * One plan per prompt, still being computed when prepare() returns (features pass, gates): run()
   * queues the prompts at once and each waits for its plan inside the micro-batcher's window.
   */
  plans: Promise<RoutingPlan[]>;
  /** The adapters the request names (model suffix and lethe.adapters): prefetched when queued. */
  adapters?: AdapterSelection[];
  principal: AuthPrincipal;
  startedAt: number;
}

/** A streamed piece of text of choice `index`. */
export interface CompletionDelta {
  index: number;
  text: string;
  finishReason?: 'stop' | 'length';
}

/**
 * POST /v1/completions behind the controller: validation, model and adapter resolution, routing
 * (one plan per prompt), the model host, decisions on record (sampled), audit of `routing: none`,
 * metrics. Errors are DomainErrors (4xx for every input problem). /v1/chat/completions comes in
 * through prepareRequest() with its rendered prompt, so both endpoints share all of it.
 */
@Injectable()
export class CompletionsService {
  private readonly log = new Logger('Completions');

  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(ModelHost) private readonly host: ModelHost,
    @Inject(RoutingService) private readonly routing: RoutingService,
    @Inject(RoutingDecisionRepository) private readonly decisions: RoutingDecisionRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(InferenceMetrics) private readonly metrics: InferenceMetrics,
  ) {}

  /** Validates and tokenizes, checks the routing request and starts routing; nothing is queued yet. */
  async prepare(body: unknown, principal: AuthPrincipal, requestId: string | undefined): Promise<PreparedCompletion> {
    const startedAt = performance.now();
    this.assertReady();
    const i = this.config.inference;
    const request = parseCompletionRequest(body, { maxTokensLimit: i.maxTokensLimit, maxPrompts: i.maxPrompts });
    return this.prepareRequest(request, principal, requestId, {}, startedAt);
  }

  /** 503 until the model host has loaded the model (with Retry-After while it loads). */
  assertReady(): void {
    const notReady = this.host.notReadyError();
    if (notReady) throw notReady;
  }

  /**
   * prepare() for a request already validated: the chat endpoint renders its messages into one
   * prompt and comes in here, so both endpoints share model and adapter resolution, routing (with
   * its gates), limits, metrics, decisions on record and the audit of `routing: none`.
   */
  async prepareRequest(
    request: CompletionRequest,
    principal: AuthPrincipal,
    requestId: string | undefined,
    options: PrepareOptions = {},
    startedAt = performance.now(),
  ): Promise<PreparedCompletion> {
    this.assertReady();
    const selections: AdapterSelection[] = [...request.lethe.adapters];
    const base = this.host.modelId;
    if (request.model !== base) {
      const sep = request.model.indexOf(':');
      if (sep < 0 || request.model.slice(0, sep) !== base) {
        throw new DomainError(ErrorCode.NOT_FOUND, `model "${request.model}" not found; this server serves "${base}" and "${base}:<adapter>"`, {
          field: 'model',
          model: request.model,
        });
      }
      selections.unshift({ name: request.model.slice(sep + 1) });
    }
    const prompts = this.tokenize(request.prompt, options.promptField);
    const role = principal.role as CallerRole;
    const { plans } = this.routing.begin({ mode: request.lethe.routing, adapters: selections, role, prompts: prompts.map((p) => ({ text: p.text, tokens: p.tokens })) });
    plans.catch(() => undefined); // a routing failure reaches the caller through run()
    const endpoint = options.endpoint ?? 'completions';
    const id = `${endpoint === 'chat.completions' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    return {
      id,
      endpoint,
      requestId: requestId ?? id,
      created: Math.floor(Date.now() / 1000),
      model: request.model,
      request,
      prompts: prompts.map((p) => p.tokens),
      plans,
      adapters: selections,
      principal,
      startedAt,
    };
  }

  /**
   * Runs a prepared completion: every prompt is queued at once (the micro-batcher batches them with
   * other requests). `onDelta` receives streamed text. Maps queue/timeout errors to DomainErrors.
   */
  async run(p: PreparedCompletion, signal: AbortSignal, onDelta?: (d: CompletionDelta) => void): Promise<CompletionResponse> {
    const r = p.request;
    // Each prompt listens on the request's signal in the queue and in its running batch: more than
    // Node's default 10 for a request of several prompts, and all removed when they end.
    setMaxListeners(Math.max(10, 3 * p.prompts.length), signal);
    const options = { maxTokens: r.max_tokens, temperature: r.temperature, topP: r.top_p, stop: r.stop, seed: r.seed ?? undefined };
    let firstToken = true;
    const genStart = performance.now();
    let results: EngineRowResult[];
    let plans: RoutingPlan[];
    try {
      results = await Promise.all(
        p.prompts.map((prompt, index) =>
          this.host.submit(
            {
              prompt,
              plan: p.plans.then((all) => appliedEntries(all[index]).map((e) => ({ id: e.adapterId, version: e.version, strength: e.strength }))),
              adapters: p.adapters,
              options,
              onToken: onDelta
                ? (e) => {
                    if (firstToken) {
                      firstToken = false;
                      this.metrics.recordFirstToken((performance.now() - p.startedAt) / 1000);
                    }
                    onDelta({ index, text: e.delta, finishReason: e.done ? e.finishReason : undefined });
                  }
                : undefined,
            },
            signal,
          ),
        ),
      );
      plans = await p.plans;
    } catch (e) {
      throw this.mapRunError(e);
    }
    const now = performance.now();
    const choices: CompletionChoice[] = results.map((res, index) => ({ index, text: res.text, logprobs: null, finish_reason: res.finishReason }));
    const promptTokens = results.reduce((s, x) => s + x.promptTokens, 0);
    const completionTokens = results.reduce((s, x) => s + x.completionTokens, 0);
    const latencyMs = now - p.startedAt;
    for (const plan of plans) this.metrics.recordPlan(plan);
    this.metrics.recordRequest('ok', latencyMs / 1000, onDelta !== undefined, promptTokens, completionTokens, (now - genStart) / 1000);
    await this.record(p, plans, results, latencyMs);
    return {
      id: p.id,
      object: 'text_completion',
      created: p.created,
      model: p.model,
      choices,
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      lethe: {
        requestId: p.requestId,
        routing: plans[0],
        ...(plans.length > 1 ? { choices: plans.map((routing, index) => ({ index, routing })) } : {}),
      },
    };
  }

  private tokenize(prompt: CompletionRequest['prompt'], promptField?: string): Array<{ text: string; tokens: number[] }> {
    const tok = this.host.tokenizer!;
    const cfg = this.host.modelConfig!;
    const list: Array<string | number[]> =
      typeof prompt === 'string' ? [prompt] : prompt.length > 0 && typeof prompt[0] === 'number' ? [prompt as number[]] : (prompt as Array<string | number[]>);
    return list.map((p, idx) => {
      const field = promptField ?? (list.length === 1 && typeof prompt === 'string' ? 'prompt' : `prompt.${idx}`);
      let tokens: number[];
      let text: string;
      if (typeof p === 'string') {
        tokens = tok.encode(p);
        text = p;
      } else {
        const bad = p.find((t) => t >= cfg.vocabSize);
        if (bad !== undefined) throw DomainError.validation([{ field, message: `token id ${bad} is outside the vocabulary (${cfg.vocabSize})` }]);
        tokens = p;
        text = tok.decode(p);
      }
      if (tokens.length === 0) throw DomainError.validation([{ field, message: 'the prompt encodes to no tokens' }]);
      if (tokens.length >= cfg.maxPositions) {
        throw DomainError.validation([{ field, message: `the prompt has ${tokens.length} tokens; the model's context is ${cfg.maxPositions}` }]);
      }
      return { text, tokens };
    });
  }

  private async record(p: PreparedCompletion, plans: RoutingPlan[], results: EngineRowResult[], latencyMs: number): Promise<void> {
    const admin = p.principal.role === 'admin';
    const store = admin || Math.random() < this.config.inference.routingSampleRate;
    try {
      if (p.request.lethe.routing === 'none') {
        await this.audit.record({
          actor: p.principal.keyId,
          action: 'inference.routing_none',
          subject: `completion:${p.requestId}`,
          details: { model: p.model, endpoint: p.endpoint, plans },
        });
      }
      if (!store) return;
      // Written off the request path, batched with other requests' (RoutingDecisionRepository.enqueue).
      this.decisions.enqueue(
        plans.map((plan, index) => ({
          requestId: p.requestId,
          endpoint: p.endpoint,
          promptIndex: index,
          apiKeyId: p.principal.keyId,
          model: p.model,
          mode: plan.mode,
          plan,
          adapterIds: plan.entries.map((e) => e.adapterId),
          registryVersion: plan.registryVersion,
          policy: plan.policy.gatePolicy,
          latencyMs,
          promptTokens: results[index].promptTokens,
          completionTokens: results[index].completionTokens,
        })),
      );
    } catch (e) {
      // The answer is computed; losing its record is logged, not turned into a failed request.
      this.log.error(`could not record routing decision ${p.requestId}: ${(e as Error).message}`);
    }
  }

  private mapRunError(e: unknown): unknown {
    if (e instanceof QueueFullError) {
      this.metrics.recordFailure('queue_full');
      return new DomainError(ErrorCode.TOO_MANY_REQUESTS, e.message, { retryAfterSeconds: e.retryAfterSeconds, queued: e.queued }).retryAfter(e.retryAfterSeconds);
    }
    if (e instanceof RequestTimeoutError) {
      this.metrics.recordFailure('timeout');
      return new DomainError(ErrorCode.TIMEOUT, e.message, { timeoutMs: e.timeoutMs });
    }
    if (e instanceof RequestCancelledError) this.metrics.recordFailure('cancelled');
    else this.metrics.recordFailure('error');
    return e;
  }
}
