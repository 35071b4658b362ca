import { Body, Controller, Get, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { Principal, Roles, type AuthPrincipal } from '../auth/auth.decorators.js';
import { ErrorFilter, requestIdOf } from '../common/error.filter.js';
import type { CompletionChunk, ModelCard } from './completion.dto.js';
import { CompletionsService } from './completions.service.js';
import { AdapterStore } from './adapter-store.service.js';
import { ModelHost } from './model-host.service.js';
import { respondWithInference } from './inference-response.js';

/** OpenAI-compatible inference routes (issue 5). */
@ApiTags('inference')
@ApiBearerAuth()
@Controller('v1')
export class CompletionsController {
  private readonly errors = new ErrorFilter();

  constructor(
    @Inject(CompletionsService) private readonly completions: CompletionsService,
    @Inject(ModelHost) private readonly host: ModelHost,
    @Inject(AdapterStore) private readonly store: AdapterStore,
    @Inject(CONFIG) private readonly config: LetheConfig,
  ) {}

  @Post('completions')
  @Roles('client')
  @HttpCode(200)
  @ApiOperation({
    summary: 'OpenAI-compatible text completion; `stream: true` answers server-sent events ending with [DONE]',
    description:
      '`model` is the base model id or `<base>:<adapter name>`. Optional `lethe: { routing: "auto"|"manual"|"none", adapters: [{ name|id, strength }] }`; ' +
      'the response (and the last stream chunk) carries `lethe.routing`, the plan. 429 with Retry-After when the queue is full.',
  })
  @ApiBody({ schema: { type: 'object', additionalProperties: true } })
  @ApiOkResponse({ description: 'An OpenAI `text_completion` object with `lethe.routing`.' })
  @ApiTooManyRequestsResponse({ description: 'Queue full; retry after `Retry-After` seconds.' })
  async create(@Body() body: unknown, @Principal() who: AuthPrincipal, @Req() req: Request, @Res() res: Response): Promise<void> {
    await respondWithInference(req, res, this.errors, this.config.ssePingSeconds * 1000, async (io) => {
      const prepared = await this.completions.prepare(body, who, requestIdOf(req));
      if (!prepared.request.stream) {
        io.json(await this.completions.run(prepared, io.signal));
        return;
      }
      const base = { id: prepared.id, object: 'text_completion' as const, created: prepared.created, model: prepared.model };
      const out = await this.completions.run(prepared, io.signal, (d) => {
        if (d.text === '' && !d.finishReason) return;
        io.send({ ...base, choices: [{ index: d.index, text: d.text, logprobs: null, finish_reason: d.finishReason ?? null }] } satisfies CompletionChunk);
      });
      io.send({ ...base, choices: [], usage: out.usage, lethe: out.lethe } satisfies CompletionChunk);
      io.done();
    });
  }

  @Get('models')
  @ApiOperation({ summary: 'The base model and the active task, generated and imported adapters, as `<base>:<adapter name>`' })
  @ApiOkResponse({ description: '`{ object: "list", data: [ModelCard] }`' })
  async models(): Promise<{ object: 'list'; data: ModelCard[] }> {
    const base = this.host.modelId;
    const status = this.host.status();
    if (status.state !== 'ready') return { object: 'list', data: [] };
    const created = Math.floor(Date.now() / 1000);
    const data: ModelCard[] = [
      { id: base, object: 'model', created, owned_by: 'lethe', parent: null, root: base, max_model_len: this.host.modelConfig?.maxPositions },
    ];
    // One card per adapter name (the router serves the active version of a name).
    const seen = new Set<string>();
    for (const a of [...this.store.selectable()].sort((x, y) => x.name.localeCompare(y.name) || y.version - x.version)) {
      if (seen.has(a.name)) continue;
      seen.add(a.name);
      data.push({
        id: `${base}:${a.name}`,
        object: 'model',
        created,
        owned_by: 'lethe',
        parent: base,
        root: base,
        lethe: { adapterId: a.id, kind: a.kind, version: a.version, rank: a.rank },
      });
    }
    return { object: 'list', data };
  }
}
