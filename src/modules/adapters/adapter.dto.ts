import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { AuditEventDto } from '../audit/audit.dto.js';
import { OffsetPageQueryDto } from '../common/offset-page-query.dto.js';
import { ADAPTER_KINDS, ADAPTER_STATUSES, type AdapterEntity, type AdapterKind, type AdapterStatus } from './adapter.entity.js';

export class AdapterQueryDto extends OffsetPageQueryDto {
  @ApiPropertyOptional({ enum: ADAPTER_KINDS })
  @IsOptional()
  @IsIn(ADAPTER_KINDS)
  kind?: AdapterKind;

  @ApiPropertyOptional({ enum: ADAPTER_STATUSES })
  @IsOptional()
  @IsIn(ADAPTER_STATUSES)
  status?: AdapterStatus;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(200)
  name?: string;

}

export class AdapterDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ADAPTER_KINDS }) kind: AdapterKind;
  @ApiProperty({ enum: ADAPTER_STATUSES }) status: AdapterStatus;
  @ApiProperty() version: number;
  @ApiProperty() baseModel: string;
  @ApiProperty() rank: number;
  @ApiProperty() alpha: number;
  @ApiProperty({ type: [String] }) targetModules: string[];
  @ApiProperty({ nullable: true, type: String, description: 'sha256 of the safetensors weights' }) blobSha256: string | null;
  @ApiProperty() sizeBytes: number;
  @ApiProperty({ type: 'object', additionalProperties: true }) lineage: Record<string, unknown>;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

export class AdapterPageDto {
  @ApiProperty({ type: [AdapterDto] }) items: AdapterDto[];
  @ApiProperty() total: number;
  @ApiProperty() limit: number;
  @ApiProperty() offset: number;
}

export class AdapterHistoryDto {
  @ApiProperty({ type: [AuditEventDto] }) items: AuditEventDto[];
}

export function mapAdapter(a: AdapterEntity): AdapterDto {
  return {
    id: a.id,
    name: a.name,
    kind: a.kind,
    status: a.status,
    version: a.version,
    baseModel: a.baseModel,
    rank: a.rank,
    alpha: a.alpha,
    targetModules: a.targetModules,
    blobSha256: a.blobSha256,
    sizeBytes: a.sizeBytes,
    lineage: a.lineage,
    createdAt: a.createdAt.toISOString(),
    updatedAt: a.updatedAt.toISOString(),
  };
}
