import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { OffsetPageQueryDto } from '../common/offset-page-query.dto.js';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Max,
  Matches,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import type { RelabelMode } from '../../ood/relabel.js';
import type { ActivationCheck, ActivationVerdict } from '../../unlearning/activation.js';
import {
  RELABEL_MODES,
  UNLEARNING_STATUSES,
  type StoredUnlearningOptions,
  type UnlearningProgressRecord,
  type UnlearningRequestEntity,
  type UnlearningStatus,
} from './unlearning-request.entity.js';

/** Input limits of a request (bounded so one request cannot monopolise a worker). */
export const UNLEARNING_LIMITS = {
  maxItems: 500,
  maxPromptChars: 2000,
  maxAnswerChars: 1000,
  maxOptions: 10,
  maxOptionChars: 200,
  maxNameChars: 200,
  maxIdempotencyKeyChars: 200,
  /** The request's own reference prompts for the activation checks (beside the bundled set). */
  maxReferencePrompts: 200,
  maxReferencePromptChars: 1000,
  maxReasonChars: 1000,
} as const;

export class ForgetItemDto {
  @ApiProperty({ maxLength: UNLEARNING_LIMITS.maxPromptChars, example: 'Question: Where was Liker Sheseal born?\nAnswer:' })
  @IsString()
  @MinLength(1)
  @MaxLength(UNLEARNING_LIMITS.maxPromptChars)
  prompt: string;

  @ApiPropertyOptional({ maxLength: UNLEARNING_LIMITS.maxAnswerChars, example: 'Zeazeas' })
  @IsOptional()
  @IsString()
  @MaxLength(UNLEARNING_LIMITS.maxAnswerChars)
  answer?: string;

  @ApiPropertyOptional({ type: [String], description: 'answer options (multiple choice), for relabel random-option' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(UNLEARNING_LIMITS.maxOptions)
  @IsString({ each: true })
  @MaxLength(UNLEARNING_LIMITS.maxOptionChars, { each: true })
  options?: string[];
}

export class UnlearningOptionsDto implements StoredUnlearningOptions {
  @ApiPropertyOptional({ minimum: 1, maximum: 64, default: 8 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(64)
  rank?: number;

  @ApiPropertyOptional({ minimum: 0.001, maximum: 1024, default: 16 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.001)
  @Max(1024)
  alpha?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 100, default: 0.1, description: 'weight of the orthogonality loss' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100)
  lambda?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 12 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(200)
  epochs?: number;

  @ApiPropertyOptional({ default: false, description: 'keep the raw items after the job (default: deleted, sha256 kept)' })
  @IsOptional()
  @IsBoolean()
  keepData?: boolean;

  @ApiPropertyOptional({ default: false, description: 'train the detector CEL heads (default: training-free detector)' })
  @IsOptional()
  @IsBoolean()
  useCel?: boolean;
}

export class CreateUnlearningRequestDto {
  @ApiProperty({ maxLength: UNLEARNING_LIMITS.maxNameChars, example: 'forget-liker-sheseal' })
  @IsString()
  @MinLength(1)
  @MaxLength(UNLEARNING_LIMITS.maxNameChars)
  name: string;

  @ApiPropertyOptional({ type: [ForgetItemDto], description: 'question/answer pairs to forget (or give texts)' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(UNLEARNING_LIMITS.maxItems)
  @ValidateNested({ each: true })
  @Type(() => ForgetItemDto)
  items?: ForgetItemDto[];

  @ApiPropertyOptional({ type: [String], description: 'plain texts to forget (or give items)' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(UNLEARNING_LIMITS.maxItems)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(UNLEARNING_LIMITS.maxPromptChars, { each: true })
  texts?: string[];

  @ApiProperty({ enum: RELABEL_MODES })
  @IsIn(RELABEL_MODES)
  relabel: RelabelMode;

  @ApiPropertyOptional({ maxLength: UNLEARNING_LIMITS.maxAnswerChars, description: 'target text for relabel "replacement"' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(UNLEARNING_LIMITS.maxAnswerChars)
  replacement?: string;

  @ApiPropertyOptional({
    type: [String],
    maxItems: UNLEARNING_LIMITS.maxReferencePrompts,
    description:
      'prompts that must NOT be forgotten (e.g. questions like the forgotten ones about other people): added to the bundled generic reference set for the activation checks; the gate firing on more than LETHE_UNLEARNING_MAX_REFERENCE_FALSE_FIRE_RATE of them sends the request to needs_review',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(UNLEARNING_LIMITS.maxReferencePrompts)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(UNLEARNING_LIMITS.maxReferencePromptChars, { each: true })
  referencePrompts?: string[];

  @ApiPropertyOptional({ type: UnlearningOptionsDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => UnlearningOptionsDto)
  options?: UnlearningOptionsDto;
}

export class UnlearningQueryDto extends OffsetPageQueryDto {
  @ApiPropertyOptional({ enum: UNLEARNING_STATUSES })
  @IsOptional()
  @IsIn(UNLEARNING_STATUSES)
  status?: UnlearningStatus;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(UNLEARNING_LIMITS.maxNameChars)
  name?: string;

}

export class RevokeUnlearningDto {
  @ApiPropertyOptional({ maxLength: 1000 })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  reason?: string;
}

export class ActivateUnlearningDto {
  @ApiProperty({ minLength: 1, maxLength: UNLEARNING_LIMITS.maxReasonChars, description: 'why the failed checks are acceptable (audited)' })
  @IsString()
  @MinLength(1)
  @MaxLength(UNLEARNING_LIMITS.maxReasonChars)
  @Matches(/\S/, { message: 'reason must not be blank' })
  reason: string;
}

export class UnlearningAcceptedDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: UNLEARNING_STATUSES }) status: UnlearningStatus;
  /** True when an earlier request with the same Idempotency-Key was returned. */
  @ApiProperty() duplicate: boolean;
}

export class ActivationCheckDto {
  @ApiProperty({ enum: ['forgetAnswerRate', 'referenceFalseFireRate', 'nearNegativeCollateral'] }) name: ActivationCheck['name'];
  @ApiProperty({ nullable: true, type: Number, description: 'measured value; null = nothing to measure (passes)' }) value: number | null;
  @ApiProperty({ description: 'the configured maximum' }) threshold: number;
  @ApiProperty() passed: boolean;
}

export class ActivationReviewDto {
  @ApiProperty({ description: 'whether every check passed' }) passed: boolean;
  @ApiProperty({ type: [ActivationCheckDto] }) checks: ActivationCheckDto[];
  @ApiProperty({ type: [ActivationCheckDto], description: 'the checks that failed' }) failed: ActivationCheckDto[];
  @ApiProperty({ description: 'training rounds run (1 = no escalation)' }) attempts: number;
}

export class UnlearningRequestDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: UNLEARNING_STATUSES }) status: UnlearningStatus;
  @ApiProperty({ enum: RELABEL_MODES }) relabel: RelabelMode;
  @ApiProperty({ nullable: true, type: String }) replacement: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) options: StoredUnlearningOptions;
  @ApiProperty() itemCount: number;
  @ApiProperty({ description: 'sha256 of the canonical JSON of the items' }) itemsSha256: string;
  @ApiProperty({ description: 'whether the raw items are still stored (keepData)' }) itemsStored: boolean;
  @ApiProperty({ type: 'object', additionalProperties: true }) progress: UnlearningProgressRecord;
  @ApiProperty({ nullable: true, type: String, format: 'uuid' }) adapterId: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'uuid' }) detectorId: string | null;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true }) metrics: Record<string, unknown> | null;
  @ApiProperty({
    nullable: true,
    type: ActivationReviewDto,
    description: 'the activation checks of a trained request (null before training ends); failed checks leave it needs_review',
  })
  review: ActivationReviewDto | null;
  @ApiProperty({ nullable: true, type: String }) error: string | null;
  @ApiProperty() attempts: number;
  @ApiProperty() actor: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) finishedAt: string | null;
}

export class UnlearningPageDto {
  @ApiProperty({ type: [UnlearningRequestDto] }) items: UnlearningRequestDto[];
  @ApiProperty() total: number;
  @ApiProperty() limit: number;
  @ApiProperty() offset: number;
}

export function mapUnlearningRequest(r: UnlearningRequestEntity): UnlearningRequestDto {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    relabel: r.relabel,
    replacement: r.replacement,
    options: r.options,
    itemCount: r.itemCount,
    itemsSha256: r.itemsSha256,
    itemsStored: r.items !== null,
    progress: r.progress,
    adapterId: r.adapterId,
    detectorId: r.detectorId,
    metrics: r.metrics,
    review: reviewOf(r.metrics),
    error: r.error,
    attempts: r.attempts,
    actor: r.actor,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
  };
}

/** The activation verdict stored with a request's metrics (pipeline `metrics.activation`), or null. */
export function reviewOf(metrics: Record<string, unknown> | null): ActivationReviewDto | null {
  const v = metrics?.activation as ActivationVerdict | undefined;
  if (!v || typeof v !== 'object' || !Array.isArray(v.checks)) return null;
  const checks = v.checks.map((c) => ({ name: c.name, value: c.value, threshold: c.threshold, passed: c.passed }));
  return { passed: v.passed, checks, failed: checks.filter((c) => !c.passed), attempts: v.attempts };
}
