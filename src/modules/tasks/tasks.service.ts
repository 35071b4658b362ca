import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, auditSubject } from '../audit/audit.service.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { JobProgressRepository, type JobProgressRow } from '../jobs/job-progress.repository.js';
import { JobQueue } from '../jobs/job-queue.service.js';
import type { CreateTaskDto, TrainTaskDto } from './task.dto.js';
import { TaskRepository, type TaskRow } from './task.repository.js';

export const taskSubject = (id: string): string => auditSubject('task', id);

/** Tasks: definitions, training requests, progress. Training itself runs in TaskTrainingHandler. */
@Injectable()
export class TasksService {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(TaskRepository) private readonly repo: TaskRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(JobProgressRepository) private readonly progress: JobProgressRepository,
  ) {}

  /** Creates a task (409 when the name is taken), audited as `task.create`. */
  async create(dto: CreateTaskDto, actor: string): Promise<TaskRow> {
    try {
      return await this.ds.transaction(async (m) => {
        const row = await this.repo.insert(
          { id: randomUUID(), name: dto.name, description: dto.description, examples: plain(dto.examples), trainingData: plain(dto.trainingData ?? dto.examples),
            parts: dto.parts ? { content: dto.parts.content, format: dto.parts.format } : null },
          m,
        );
        await this.audit.record(
          { actor, action: 'task.create', subject: taskSubject(row.id), details: { name: row.name, examples: row.examples.length, trainingExamples: row.trainingData.length, ...(row.parts && { parts: row.parts }) } },
          m,
        );
        return row;
      });
    } catch (e) {
      const code = (e as { driverError?: { code?: string }; code?: string }).driverError?.code ?? (e as { code?: string }).code;
      if (code === '23505') throw new DomainError(ErrorCode.CONFLICT, `a task named "${dto.name}" exists`, { field: 'name' });
      throw e;
    }
  }

  list(limit: number, offset: number): Promise<{ items: TaskRow[]; total: number }> {
    return this.repo.list(limit, offset);
  }

  /** The task, or 404. */
  async get(id: string): Promise<TaskRow> {
    const row = await this.repo.findById(id);
    if (!row) throw DomainError.notFound('task', id);
    return row;
  }

  /** The latest training job's progress row of a task, if any. */
  async latestProgress(id: string): Promise<JobProgressRow | null> {
    return (await this.progress.findBySubject(taskSubject(id), 1))[0] ?? null;
  }

  /** Enqueues `tasks.train`; 409 while a training job of the task is queued or running. */
  async requestTraining(id: string, dto: TrainTaskDto, actor: string): Promise<{ taskId: string; jobId: string }> {
    const task = await this.get(id);
    const last = await this.latestProgress(id);
    if (last && ['queued', 'active', 'retry'].includes(last.state)) {
      throw new DomainError(ErrorCode.CONFLICT, `task ${task.name} is already being trained (job ${last.jobId})`, { jobId: last.jobId });
    }
    const options = Object.fromEntries(Object.entries(dto).filter(([, v]) => v !== undefined));
    const jobId = await this.jobs.enqueue('tasks.train', { taskId: id, actor, options }, { subject: taskSubject(id) });
    await this.audit.record({ actor, action: 'task.train_requested', subject: taskSubject(id), details: { name: task.name, jobId, options } });
    return { taskId: id, jobId };
  }
}

/** Class instances (from the validation pipe) to plain JSON objects. */
function plain<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
