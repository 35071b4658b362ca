import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/auth.decorators.js';
import type { ChainVerdict } from './audit-chain.js';
import { AuditPageDto, AuditQueryDto, AuditVerifyDto, mapAuditEvent } from './audit.dto.js';
import { AuditService } from './audit.service.js';

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/admin/audit')
export class AuditController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  @Get()
  @ApiOkResponse({ type: AuditPageDto })
  async list(@Query() q: AuditQueryDto): Promise<AuditPageDto> {
    const page = await this.audit.list({
      actor: q.actor,
      action: q.action,
      subject: q.subject,
      from: q.from ? new Date(q.from) : undefined,
      to: q.to ? new Date(q.to) : undefined,
      after: q.after,
      limit: q.limit ?? 100,
    });
    return { items: page.items.map(mapAuditEvent), nextCursor: page.nextCursor };
  }

  @Get('verify')
  @ApiOkResponse({ type: AuditVerifyDto })
  verify(): Promise<ChainVerdict> {
    return this.audit.verify();
  }
}
