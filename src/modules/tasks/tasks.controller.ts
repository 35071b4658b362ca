import { Body, Controller, Get, HttpCode, Inject, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Principal, Roles, type AuthPrincipal } from '../auth/auth.decorators.js';
import { UuidParam } from '../common/validation.js';
import { CreateTaskDto, mapTask, TaskDto, TaskPageDto, TaskQueryDto, TrainTaskDto, TrainTaskResponseDto } from './task.dto.js';
import { TasksService } from './tasks.service.js';

/** Task definitions and task-adapter training (operator). */
@ApiTags('tasks')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/tasks')
export class TasksController {
  constructor(@Inject(TasksService) private readonly tasks: TasksService) {}

  @Post()
  @ApiCreatedResponse({ type: TaskDto })
  @ApiConflictResponse({ description: 'a task with this name exists' })
  async create(@Body() dto: CreateTaskDto, @Principal() who: AuthPrincipal): Promise<TaskDto> {
    return mapTask(await this.tasks.create(dto, who.keyId));
  }

  @Get()
  @ApiOkResponse({ type: TaskPageDto })
  async list(@Query() q: TaskQueryDto): Promise<TaskPageDto> {
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    const page = await this.tasks.list(limit, offset);
    return { items: page.items.map((t) => mapTask(t)), total: page.total, limit, offset };
  }

  @Get(':id')
  @ApiOkResponse({ type: TaskDto })
  async get(@UuidParam('id') id: string): Promise<TaskDto> {
    const task = await this.tasks.get(id);
    return mapTask(task, await this.tasks.latestProgress(id));
  }

  @Post(':id/train')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: TrainTaskResponseDto })
  @ApiConflictResponse({ description: 'the task is already being trained' })
  async train(@UuidParam('id') id: string, @Body() dto: TrainTaskDto, @Principal() who: AuthPrincipal): Promise<TrainTaskResponseDto> {
    return this.tasks.requestTraining(id, dto ?? {}, who.keyId);
  }
}
