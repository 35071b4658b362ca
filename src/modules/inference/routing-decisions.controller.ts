import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsIn, IsISO8601, IsInt, IsOptional, IsUUID, Max, Min } from 'class-validator';
import { Roles } from '../auth/auth.decorators.js';
import { RoutingDecisionRepository, type RoutingDecisionRecord } from './routing-decision.repository.js';

const blankToUndefined = ({ value }: { value: unknown }) => (value === '' ? undefined : value);

/** Filters of GET /v1/admin/routing-decisions (names as the admin console sends them). */
export class RoutingDecisionQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'Decisions whose plan names this adapter.' })
  @Transform(blankToUndefined)
  @IsOptional()
  @IsUUID()
  adapterId?: string;

  @ApiPropertyOptional({ format: 'uuid', description: 'Decisions of requests made with this API key.' })
  @Transform(blankToUndefined)
  @IsOptional()
  @IsUUID()
  keyId?: string;

  @ApiPropertyOptional({ description: 'Request id (one request may hold several prompts).' })
  @Transform(blankToUndefined)
  @IsOptional()
  requestId?: string;

  @ApiPropertyOptional({ enum: ['completions', 'chat.completions'], description: 'Only requests made through this endpoint.' })
  @Transform(blankToUndefined)
  @IsOptional()
  @IsIn(['completions', 'chat.completions'])
  endpoint?: 'completions' | 'chat.completions';

  @ApiPropertyOptional({ format: 'date-time', description: 'From this time (inclusive).' })
  @Transform(blankToUndefined)
  @IsOptional()
  @IsISO8601()
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Before this time.' })
  @Transform(blankToUndefined)
  @IsOptional()
  @IsISO8601()
  to?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @Transform(blankToUndefined)
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0, description: 'Rows to skip (newest first).' })
  @Transform(blankToUndefined)
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  offset?: number;

  @ApiPropertyOptional({ minimum: 0, description: 'Cursor from a previous page (`nextCursor`); same as offset.' })
  @Transform(blankToUndefined)
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  after?: number;
}

export interface RoutingDecisionPage {
  items: Array<RoutingDecisionRecord & { keyId: string | null }>;
  total: number;
  limit: number;
  offset: number;
  nextCursor: number | null;
}

/** Routing decisions on record (issue 5), admins only. */
@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/admin/routing-decisions')
export class RoutingDecisionsController {
  constructor(@Inject(RoutingDecisionRepository) private readonly repo: RoutingDecisionRepository) {}

  @Get()
  @ApiOkResponse({ description: '`{ items, total, limit, offset, nextCursor }`, newest first.' })
  async list(@Query() q: RoutingDecisionQueryDto): Promise<RoutingDecisionPage> {
    const limit = q.limit ?? 100;
    const offset = q.after ?? q.offset ?? 0;
    const page = await this.repo.list({
      adapterId: q.adapterId,
      apiKeyId: q.keyId,
      requestId: q.requestId,
      endpoint: q.endpoint,
      since: q.from ? new Date(q.from) : undefined,
      until: q.to ? new Date(q.to) : undefined,
      limit,
      offset,
    });
    return {
      items: page.items.map((d) => ({ ...d, keyId: d.apiKeyId })),
      total: page.total,
      limit,
      offset,
      nextCursor: offset + page.items.length < page.total ? offset + page.items.length : null,
    };
  }
}
