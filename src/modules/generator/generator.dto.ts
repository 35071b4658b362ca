import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsOptional, IsString, isInt, isUUID, Matches, Max, MaxLength, Min, MinLength, ValidateBy, ValidateNested,
} from 'class-validator';
import { TASK_LIMITS, TaskExampleDto } from '../tasks/task.dto.js';
import { GENERATOR_DESIGNS, type GeneratorDesign } from './generator-jobs.js';
import { GENERATOR_STATUSES, type GeneratorRow, type GeneratorStatus } from './generator.repository.js';

/** A generator version: its number (1, 2, ...) or its id. */
const IsGeneratorRef = () =>
  ValidateBy({
    name: 'isGeneratorRef',
    validator: {
      validate: (v: unknown) => (typeof v === 'number' && isInt(v) && v >= 1 && v <= 2 ** 31 - 1) || (typeof v === 'string' && isUUID(v)),
      defaultMessage: () => 'generator must be a version number (integer ≥ 1) or a generator id (UUID)',
    },
  });

export class TrainGeneratorDto {
  @ApiPropertyOptional({
    enum: GENERATOR_DESIGNS,
    default: 'basis',
    description:
      '`basis`: shared low-rank basis + condition map over every trained task; `cvae`: the ICM-LoRA CVAE; `compose`: part pieces over the trained tasks that carry `parts` (at least 2), generation infers the parts from the examples',
  })
  @IsOptional()
  @IsIn(GENERATOR_DESIGNS)
  design?: GeneratorDesign;
  @ApiPropertyOptional({ minimum: 1, maximum: 64, description: 'basis: directions (default: trained tasks − 1); compose: largest rank of every stored task or piece (default 4)' }) @IsOptional() @IsInt() @Min(1) @Max(64) rank?: number;
  @ApiPropertyOptional({ enum: [4, 8, 16, 'nf4'], description: 'basis / compose: storage of the basis or stored tasks (nf4: 4-bit NormalFloat; default basis 4, compose nf4)' }) @IsOptional() @IsIn(['nf4', 4, 8, 16]) bits?: 'nf4' | 4 | 8 | 16;
  @ApiPropertyOptional({ minimum: 0, maximum: 32, description: 'compose: store rank-4 part pieces and this many residual pieces instead of every task (the earlier design; at most labelled tasks − 1)' }) @IsOptional() @IsInt() @Min(0) @Max(32) residualRank?: number;
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

  @ApiPropertyOptional({ minimum: 0, maximum: 2 ** 31 - 1, description: 'Sampling seed (default: random, recorded in the lineage). The compose design is deterministic: its seed is recorded but changes nothing.' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(2 ** 31 - 1)
  seed?: number;

  @ApiPropertyOptional({
    oneOf: [{ type: 'integer', minimum: 1 }, { type: 'string', format: 'uuid' }],
    description: 'Generator version to use: its number or id (GET /v1/generator). Default: the newest ready version.',
    example: 1,
  })
  @IsOptional()
  @IsGeneratorRef()
  generator?: number | string;
}

export class GeneratorDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() version: number;
  @ApiProperty({ enum: GENERATOR_STATUSES }) status: GeneratorStatus;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'The training job (null for a version registered from a file)' }) jobId: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'Where a version no job trained comes from (`shipped with the model`)' }) source: string | null;
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
    source: g.source,
    options: g.options,
    metrics: g.metrics,
    sha256: g.sha256,
    sizeBytes: Number(g.sizeBytes),
    error: g.error,
    createdAt: new Date(g.createdAt).toISOString(),
  };
}
