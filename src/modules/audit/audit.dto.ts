import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsISO8601, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { DomainError } from '../common/domain-error.js';
import type { ChainedAuditEvent } from './audit-chain.js';
import type { SignedChainHead } from './audit-head.js';

export class AuditQueryDto {
  @ApiPropertyOptional({ description: 'API key id, or `system`' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  actor?: string;

  @ApiPropertyOptional({ example: 'adapter.activate' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  action?: string;

  @ApiPropertyOptional({ example: 'adapter:0b6b2f4e-5d1c-4b7e-9a57-3f1c8f0f2a11' })
  @IsOptional()
  @IsString()
  @MaxLength(300)
  subject?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Inclusive' })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Exclusive' })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;

  @ApiPropertyOptional({ minimum: 0, description: 'Cursor: events after this seq (nextCursor of the previous page)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  after?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

export class AuditEventDto {
  @ApiProperty() seq: number;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty() actor: string;
  @ApiProperty() action: string;
  @ApiProperty() subject: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) details: Record<string, unknown>;
  @ApiProperty() prevHash: string;
  @ApiProperty() hash: string;
}

export class AuditPageDto {
  @ApiProperty({ type: [AuditEventDto] }) items: AuditEventDto[];
  @ApiProperty({ nullable: true, type: Number, description: 'Pass as `after` for the next page; null at the end' })
  nextCursor: number | null;
}

export class AuditHeadDto {
  @ApiProperty({ description: 'seq of the newest event (0: empty chain)' }) seq: number;
  @ApiProperty({ description: 'hash of that event (the genesis hash for an empty chain)' }) hash: string;
  @ApiProperty({ format: 'date-time' }) signedAt: string;
  @ApiProperty({ description: 'hex HMAC-SHA256 with the server key over "lethe-audit-head/v1\\n" + canonical JSON of {hash, seq, signedAt}' })
  signature: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** A head recorded from GET /v1/admin/audit/head, passed back as query parameters (all four or none). */
export class AuditVerifyQueryDto {
  @ApiPropertyOptional({ minimum: 0, description: 'Recorded head: seq' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  seq?: number;

  @ApiPropertyOptional({ description: 'Recorded head: hash (64 hex)' })
  @IsOptional()
  @Matches(HEX64, { message: 'hash must be 64 lowercase hex characters' })
  hash?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Recorded head: signedAt' })
  @IsOptional()
  @IsISO8601({ strict: true })
  signedAt?: string;

  @ApiPropertyOptional({ description: 'Recorded head: signature (64 hex)' })
  @IsOptional()
  @Matches(HEX64, { message: 'signature must be 64 lowercase hex characters' })
  signature?: string;
}

/** The recorded head in `q`, undefined when none is given; a partial head is a 400 naming what is missing. */
export function recordedHead(q: AuditVerifyQueryDto): SignedChainHead | undefined {
  const fields = ['seq', 'hash', 'signedAt', 'signature'] as const;
  const missing = fields.filter((f) => q[f] === undefined);
  if (missing.length === fields.length) return undefined;
  if (missing.length > 0) throw DomainError.validation(missing.map((field) => ({ field, message: 'a recorded head needs seq, hash, signedAt and signature' })));
  return { seq: q.seq!, hash: q.hash!, signedAt: q.signedAt!, signature: q.signature! };
}

export class AuditVerifyDto {
  @ApiProperty() valid: boolean;
  @ApiPropertyOptional({ description: 'Events checked (when valid)' }) events?: number;
  @ApiPropertyOptional({ description: 'First event that fails (when not valid)' }) firstBadSeq?: number;
  @ApiPropertyOptional({ description: 'changed | removed | reordered, with details' }) reason?: string;
  @ApiPropertyOptional({ description: 'seq of the recorded head that was checked (when one was given)' }) headSeq?: number;
}

export function mapAuditEvent(e: ChainedAuditEvent): AuditEventDto {
  return { seq: e.seq, at: e.at, actor: e.actor, action: e.action, subject: e.subject, details: e.details, prevHash: e.prevHash, hash: e.hash };
}
