import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Inject, Post, Query, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiHeader, ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { Principal, Roles, type AuthPrincipal } from '../auth/auth.decorators.js';
import { DomainError } from '../common/domain-error.js';
import { startSsePings } from '../common/sse.js';
import { UuidParam } from '../common/validation.js';
import {
  ActivateUnlearningDto,
  CreateUnlearningRequestDto,
  mapUnlearningRequest,
  RevokeUnlearningDto,
  UNLEARNING_LIMITS,
  UnlearningAcceptedDto,
  UnlearningPageDto,
  UnlearningQueryDto,
  UnlearningRequestDto,
} from './unlearning.dto.js';
import { FINAL_UNLEARNING_STATUSES } from './unlearning-request.entity.js';
import { UnlearningService } from './unlearning.service.js';

/** How often the event stream re-reads the request (works across replicas: the row is the truth). */
const EVENTS_POLL_MS = 300;

@ApiTags('unlearning')
@ApiBearerAuth()
@Controller('v1/unlearning-requests')
export class UnlearningController {
  constructor(
    @Inject(UnlearningService) private readonly service: UnlearningService,
    @Inject(CONFIG) private readonly config: LetheConfig,
  ) {}

  @Post()
  @Roles('operator')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'a retry with the same key returns the same request' })
  @ApiAcceptedResponse({ type: UnlearningAcceptedDto })
  async create(
    @Body() dto: CreateUnlearningRequestDto,
    @Principal() principal: AuthPrincipal,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<UnlearningAcceptedDto> {
    if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > UNLEARNING_LIMITS.maxIdempotencyKeyChars)) {
      throw DomainError.validation([{ field: 'Idempotency-Key', message: `must be 1-${UNLEARNING_LIMITS.maxIdempotencyKeyChars} characters` }]);
    }
    const { request, duplicate } = await this.service.submit(dto, principal.keyId, idempotencyKey);
    return { id: request.id, status: request.status, duplicate };
  }

  @Get()
  @Roles('operator')
  @ApiOkResponse({ type: UnlearningPageDto })
  async list(@Query() q: UnlearningQueryDto): Promise<UnlearningPageDto> {
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    const page = await this.service.list({ status: q.status, name: q.name, limit, offset });
    return { items: page.items.map(mapUnlearningRequest), total: page.total, limit, offset };
  }

  @Get(':id')
  @Roles('operator')
  @ApiOkResponse({ type: UnlearningRequestDto })
  async get(@UuidParam('id') id: string): Promise<UnlearningRequestDto> {
    return mapUnlearningRequest(await this.service.get(id));
  }

  /**
   * Server-sent events: `progress` with the whole request on every change, then `end` once final;
   * a `: ping` comment every LETHE_SSE_PING_SECONDS in between.
   */
  @Get(':id/events')
  @Roles('operator')
  @ApiProduces('text/event-stream')
  async events(@UuidParam('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const closed = new AbortController();
    req.on('close', () => closed.abort());
    const updates = this.service.watch(id, closed.signal, EVENTS_POLL_MS);
    const first = await updates.next(); // NOT_FOUND before any header is sent
    res.status(200);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache, no-transform');
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    const stopPings = startSsePings(res, this.config.ssePingSeconds * 1000);
    try {
      let status = first.value?.status;
      if (first.value) res.write(`event: progress\ndata: ${JSON.stringify(mapUnlearningRequest(first.value))}\n\n`);
      for await (const r of updates) {
        status = r.status;
        res.write(`event: progress\ndata: ${JSON.stringify(mapUnlearningRequest(r))}\n\n`);
      }
      if (status && FINAL_UNLEARNING_STATUSES.includes(status)) res.write(`event: end\ndata: ${JSON.stringify({ id, status })}\n\n`);
    } finally {
      stopPings();
    }
    res.end();
  }

  /**
   * An admin accepts a needs_review request (its checks failed) and activates its stored adapter
   * and detector; the reason is audited. 409 unless the request is needs_review.
   */
  @Post(':id/activate')
  @Roles('admin')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: UnlearningRequestDto })
  async activate(@UuidParam('id') id: string, @Body() dto: ActivateUnlearningDto, @Principal() principal: AuthPrincipal): Promise<UnlearningRequestDto> {
    return mapUnlearningRequest(await this.service.activateReviewed(id, principal.keyId, dto.reason));
  }

  @Post(':id/revoke')
  @Roles('admin')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: UnlearningRequestDto })
  async revoke(@UuidParam('id') id: string, @Body() dto: RevokeUnlearningDto, @Principal() principal: AuthPrincipal): Promise<UnlearningRequestDto> {
    return mapUnlearningRequest(await this.service.revoke(id, principal.keyId, dto.reason));
  }
}
