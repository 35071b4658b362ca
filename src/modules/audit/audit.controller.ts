import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/auth.decorators.js';
import { AuditHeadDto, AuditPageDto, AuditQueryDto, AuditVerifyDto, AuditVerifyQueryDto, mapAuditEvent, recordedHead } from './audit.dto.js';
import { AuditAnchorService } from './audit-anchor.service.js';
import { AuditService } from './audit.service.js';

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/admin/audit')
export class AuditController {
  constructor(
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(AuditAnchorService) private readonly anchor: AuditAnchorService,
  ) {}

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

  @Get('head')
  @ApiOperation({ summary: 'The newest event (seq, hash), signed by the server: record it outside Lethe to detect later deletions' })
  @ApiOkResponse({ type: AuditHeadDto })
  head(): Promise<AuditHeadDto> {
    return this.anchor.head();
  }

  @Get('verify')
  @ApiOperation({ summary: 'Recomputes the chain; with a recorded head (seq, hash, signedAt, signature) also checks the chain still reaches it' })
  @ApiOkResponse({ type: AuditVerifyDto })
  @ApiBadRequestResponse({ description: 'AUDIT_HEAD_SIGNATURE_INVALID: the head was not signed by this server' })
  async verify(@Query() q: AuditVerifyQueryDto): Promise<AuditVerifyDto> {
    const head = recordedHead(q);
    const verdict = await this.anchor.verify(head);
    return head ? { ...verdict, headSeq: head.seq } : verdict;
  }
}
