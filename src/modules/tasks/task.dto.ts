import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { OffsetPageQueryDto } from '../common/offset-page-query.dto.js';
import {
  ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsNumber, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength, ValidateNested,
} from 'class-validator';
import type { JobProgressRow } from '../jobs/job-progress.repository.js';
import type { TaskRow, TaskStatus } from './task.repository.js';
import { TASK_STATUSES } from './task.repository.js';
import { TASK_LR_SCHEDULES, type TaskLrSchedule } from '../../icm/task-schedule.js';

/** Bounds of task input (bodies are also capped by LETHE_BODY_LIMIT). */
export const TASK_LIMITS = { minExamples: 3, maxExamples: 32, maxTrainingData: 2000, maxText: 1000 } as const;

export class TaskExampleDto {
  @ApiProperty({ maxLength: TASK_LIMITS.maxText, example: 'Question: Where was Liker Sheseal born?\nAnswer:' })
  @IsString()
  @MinLength(1)
  @MaxLength(TASK_LIMITS.maxText)
  prompt: string;

  @ApiProperty({ maxLength: TASK_LIMITS.maxText, example: ' The answer is Zeazeas.' })
  @IsString()
  @MinLength(1)
  @MaxLength(TASK_LIMITS.maxText)
  completion: string;
}

const PART_LABEL = /^[a-z0-9][a-z0-9 ._-]{0,63}$/;

/** Optional part labels (issue 15): the compose generator's mapping (`content`) and template (`format`). */
export class TaskPartsDto {
  @ApiProperty({ pattern: PART_LABEL.source, example: 'place-to-year', description: 'What the answer is (e.g. asked the birthplace, answer the birth year). Tasks with the same content share it.' })
  @IsString()
  @Matches(PART_LABEL, { message: 'parts.content must be 1-64 lower-case letters, digits, spaces, . _ - (starting with a letter or digit)' })
  content: string;

  @ApiProperty({ pattern: PART_LABEL.source, example: 'know', description: 'How the answer is written (e.g. "<x>, I know."). Tasks with the same format share it.' })
  @IsString()
  @Matches(PART_LABEL, { message: 'parts.format must be 1-64 lower-case letters, digits, spaces, . _ - (starting with a letter or digit)' })
  format: string;
}

export class CreateTaskDto {
  @ApiProperty({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', example: 'template', description: 'Also the task adapter\'s name (`model: "<base>:<name>"`).' })
  @IsString()
  @Matches(/^[a-z0-9][a-z0-9._-]{0,63}$/, { message: 'name must be 1-64 lower-case letters, digits, . _ - (starting with a letter or digit)' })
  name: string;

  @ApiProperty({ maxLength: TASK_LIMITS.maxText })
  @IsString()
  @MinLength(1)
  @MaxLength(TASK_LIMITS.maxText)
  description: string;

  @ApiProperty({ type: [TaskExampleDto], minItems: TASK_LIMITS.minExamples, maxItems: TASK_LIMITS.maxExamples, description: 'In-context examples: they define the task vector.' })
  @IsArray()
  @ArrayMinSize(TASK_LIMITS.minExamples, { message: `examples must hold at least ${TASK_LIMITS.minExamples} examples` })
  @ArrayMaxSize(TASK_LIMITS.maxExamples)
  @ValidateNested({ each: true })
  @Type(() => TaskExampleDto)
  examples: TaskExampleDto[];

  @ApiPropertyOptional({ type: [TaskExampleDto], maxItems: TASK_LIMITS.maxTrainingData, description: 'Training examples; default: the in-context examples.' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(TASK_LIMITS.maxTrainingData)
  @ValidateNested({ each: true })
  @Type(() => TaskExampleDto)
  trainingData?: TaskExampleDto[];

  @ApiPropertyOptional({ type: TaskPartsDto, description: 'Part labels: a `compose` generator (POST /v1/generator/train {"design": "compose"}) trains on the trained tasks that carry them.' })
  @IsOptional()
  @ValidateNested()
  @Type(() => TaskPartsDto)
  parts?: TaskPartsDto;
}

export class TrainTaskDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 64, default: 4 }) @IsOptional() @IsInt() @Min(1) @Max(64) rank?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 20000, default: 200 }) @IsOptional() @IsInt() @Min(1) @Max(20000) steps?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 256, default: 16 }) @IsOptional() @IsInt() @Min(1) @Max(256) batchSize?: number;
  @ApiPropertyOptional({ minimum: 1e-6, maximum: 1, default: 5e-3, description: 'Peak learning rate.' }) @IsOptional() @IsNumber() @Min(1e-6) @Max(1) learningRate?: number;
  @ApiPropertyOptional({ enum: TASK_LR_SCHEDULES, default: 'cosine', description: 'cosine: decays from the peak to minLearningRateRatio × peak by the last step; constant: the peak throughout.' })
  @IsOptional() @IsIn(TASK_LR_SCHEDULES) lrSchedule?: TaskLrSchedule;
  @ApiPropertyOptional({ minimum: 0, maximum: 1, default: 0.1, description: 'Floor of the cosine schedule as a fraction of the peak.' })
  @IsOptional() @IsNumber() @Min(0) @Max(1) minLearningRateRatio?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 10, description: 'Checkpoints kept for the generator (the last N).' })
  @IsOptional() @IsInt() @Min(1) @Max(100) keepCheckpoints?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 10000, description: 'Steps between kept checkpoints (default: steps / (6 × keepCheckpoints), at least 1: they span the last sixth of training).' })
  @IsOptional() @IsInt() @Min(1) @Max(10000) checkpointEvery?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: 2 ** 31 - 1, default: 0 }) @IsOptional() @IsInt() @Min(0) @Max(2 ** 31 - 1) seed?: number;
}

export class TaskQueryDto extends OffsetPageQueryDto {}

export class TaskProgressDto {
  @ApiProperty() jobId: string;
  @ApiProperty() state: string;
  @ApiPropertyOptional({ nullable: true, type: String }) phase: string | null;
  @ApiPropertyOptional({ nullable: true, type: Number }) step: number | null;
  @ApiPropertyOptional({ nullable: true, type: Number }) total: number | null;
  @ApiPropertyOptional({ nullable: true, type: Number }) loss: number | null;
  @ApiPropertyOptional({ nullable: true, type: String }) message: string | null;
}

export class TaskDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty() description: string;
  @ApiProperty({ enum: TASK_STATUSES }) status: TaskStatus;
  @ApiProperty({ type: [TaskExampleDto] }) examples: TaskExampleDto[];
  @ApiProperty() trainingExamples: number;
  @ApiProperty({ type: TaskPartsDto, nullable: true }) parts: TaskPartsDto | null;
  @ApiProperty({ nullable: true, type: String, format: 'uuid', description: 'The trained task adapter (kind task)' }) adapterId: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'sha256 of the float32 condition vector' }) conditionSha256: string | null;
  @ApiPropertyOptional({ type: TaskProgressDto, nullable: true }) training: TaskProgressDto | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

export class TaskPageDto {
  @ApiProperty({ type: [TaskDto] }) items: TaskDto[];
  @ApiProperty() total: number;
  @ApiProperty() limit: number;
  @ApiProperty() offset: number;
}

export class TrainTaskResponseDto {
  @ApiProperty({ format: 'uuid' }) taskId: string;
  @ApiProperty({ format: 'uuid' }) jobId: string;
}

export function mapTask(t: TaskRow, progress?: JobProgressRow | null): TaskDto {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    status: t.status,
    examples: t.examples,
    trainingExamples: t.trainingData.length,
    parts: t.parts,
    adapterId: t.adapterId,
    conditionSha256: t.conditionSha256,
    training: progress
      ? { jobId: progress.jobId, state: progress.state, phase: progress.phase, step: progress.step, total: progress.total, loss: progress.loss, message: progress.message }
      : null,
    createdAt: new Date(t.createdAt).toISOString(),
    updatedAt: new Date(t.updatedAt).toISOString(),
  };
}
