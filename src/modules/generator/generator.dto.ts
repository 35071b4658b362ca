import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';
import { TASK_LIMITS, TaskExampleDto } from '../tasks/task.dto.js';
import { GENERATOR_DESIGNS, type GeneratorDesign } from './generator-jobs.js';
import { GENERATOR_STATUSES, type GeneratorRow, type GeneratorStatus } from './generator.repository.js';

export class TrainGeneratorDto {
  @ApiPropertyOptional({ enum: GENERATOR_DESIGNS, default: 'basis', description: '`basis`: shared low-rank basis + condition map (generalises to new task combinations); `cvae`: the ICM-LoRA CVAE' })
  @IsOptional()
  @IsIn(GENERATOR_DESIGNS)
  design?: GeneratorDesign;
  @ApiPropertyOptional({ minimum: 1, maximum: 64, description: 'basis: directions (default: trained tasks − 1)' }) @IsOptional() @IsInt() @Min(1) @Max(64) rank?: number;
  @ApiPropertyOptional({ enum: [4, 8, 16, 'nf4'], default: 4, description: 'basis: storage of the basis (nf4: 4-bit NormalFloat)' }) @IsOptional() @IsIn(['nf4', 4, 8, 16]) bits?: 'nf4' | 4 | 8 | 16;
  @ApiPropertyOptional({ minimum: 1, maximum: 2000, default: 60 }) @IsOptional() @IsInt() @Min(1) @Max(2000) epochs?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: 2 ** 31 - 1, default: 0 }) @IsOptional() @IsInt() @Min(0) @Max(2 ** 31 - 1) seed?: number;
  @ApiPropertyOptional({ minimum: 2, maximum: 512 }) @IsOptional() @IsInt() @Min(2) @Max(512) latentDim?: number;
  @ApiPropertyOptional({ minimum: 2, maximum: 256 }) @IsOptional() @IsInt() @Min(2) @Max(256) width?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: 64 }) @IsOptional() @IsInt() @Min(0) @Max(64) basisRank?: number;
}

export class TrainGeneratorResponseDto {
  @ApiProperty({ format: 'uuid' }) jobId: string;
  @ApiProperty({ type: [String] }) tasks: string[];
}

/** `{ task }` or `{ description, examples }` (exactly one of task / examples). */
export class GenerateAdapterDto {
  @ApiPropertyOptional({ description: 'Name or id of a registered task', example: 'template' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  task?: string;

  @ApiPropertyOptional({ maxLength: TASK_LIMITS.maxText })
  @IsOptional()
  @IsString()
  @MaxLength(TASK_LIMITS.maxText)
  description?: string;

  @ApiPropertyOptional({ type: [TaskExampleDto], minItems: TASK_LIMITS.minExamples, maxItems: TASK_LIMITS.maxExamples })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(TASK_LIMITS.minExamples, { message: `examples must hold at least ${TASK_LIMITS.minExamples} examples` })
  @ArrayMaxSize(TASK_LIMITS.maxExamples)
  @ValidateNested({ each: true })
  @Type(() => TaskExampleDto)
  examples?: TaskExampleDto[];

  @ApiPropertyOptional({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', description: 'Adapter name (default: `<task>-generated` or `generated-<condition hash>`)' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z0-9][a-z0-9._-]{0,63}$/, { message: 'name must be 1-64 lower-case letters, digits, . _ -' })
  name?: string;

  @ApiPropertyOptional({ minimum: 0, maximum: 2 ** 31 - 1, description: 'Sampling seed of z (default: random, recorded in the lineage)' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(2 ** 31 - 1)
  seed?: number;
}

export class GeneratorDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() version: number;
  @ApiProperty({ enum: GENERATOR_STATUSES }) status: GeneratorStatus;
  @ApiProperty({ format: 'uuid' }) jobId: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) options: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true }) metrics: Record<string, unknown>;
  @ApiProperty({ nullable: true, type: String }) sha256: string | null;
  @ApiProperty() sizeBytes: number;
  @ApiProperty({ nullable: true, type: String }) error: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
}

export class GeneratorListDto {
  @ApiProperty({ type: [GeneratorDto] }) items: GeneratorDto[];
}

export function mapGenerator(g: GeneratorRow): GeneratorDto {
  return {
    id: g.id,
    version: g.version,
    status: g.status,
    jobId: g.jobId,
    options: g.options,
    metrics: g.metrics,
    sha256: g.sha256,
    sizeBytes: Number(g.sizeBytes),
    error: g.error,
    createdAt: new Date(g.createdAt).toISOString(),
  };
}
