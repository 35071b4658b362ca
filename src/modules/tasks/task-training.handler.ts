import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { runInWorker } from '../../engine/worker/run-in-worker.js';
import { AdapterRegistryService } from '../adapters/adapter-registry.service.js';
import { AuditService, auditSubject } from '../audit/audit.service.js';
import type { JobPayloads } from '../jobs/job-catalog.js';
import { JobProcessor, type JobContext, type JobHandlerFor } from '../jobs/job-handler.js';
import { taskTrainSettings } from './task-jobs.js';
import { conditionHash, TaskRepository } from './task.repository.js';
import { taskSubject } from './tasks.service.js';
import type { TaskTrainingWorkerInput, TaskTrainingWorkerOutput, TaskTrainingWorkerProgress } from './task-training.worker.js';

const WORKER = new URL('./task-training.worker.js', import.meta.url);

export interface TaskTrainResult {
  status: 'trained';
  adapterId: string;
  checkpoints: number;
  finalLoss: number;
}

/**
 * `tasks.train`. Crash-safe: the adapter row is created in status `training` (never served) with
 * lineage.jobId, a retried job reuses it, and only a finished run stores the checkpoints, the
 * weights, activates the adapter and marks the task trained. A failed run marks the adapter failed.
 */
@JobProcessor()
@Injectable()
export class TaskTrainingHandler implements JobHandlerFor<'tasks.train', TaskTrainResult> {
  readonly name = 'tasks.train' as const;
  private readonly log = new Logger('TaskTraining');

  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(TaskRepository) private readonly tasks: TaskRepository,
    @Inject(AdapterRegistryService) private readonly registry: AdapterRegistryService,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  async handle(payload: JobPayloads['tasks.train'], ctx: JobContext): Promise<TaskTrainResult> {
    const task = await this.tasks.findById(payload.taskId);
    if (!task) throw new Error(`task ${payload.taskId} no longer exists`);
    const settings = taskTrainSettings(payload.options);
    const actor = payload.actor;
    let adapterId = await this.tasks.trainingAdapterOfJob(ctx.jobId);
    if (!adapterId) {
      const created = await this.registry.create(
        {
          name: task.name,
          kind: 'task',
          status: 'training',
          baseModel: this.config.inference.modelId,
          rank: settings.rank,
          alpha: 2 * settings.rank,
          targetModules: [], // set from the trained adapter before the weights land
          lineage: { taskId: task.id, task: task.name, jobId: ctx.jobId, settings },
        },
        actor,
      );
      adapterId = created.id;
    }
    await this.tasks.setStatus(task.id, 'training', ctx.jobId);
    await ctx.progress({ phase: 'train', step: 0, total: settings.steps });
    let out: TaskTrainingWorkerOutput;
    try {
      const input: TaskTrainingWorkerInput = {
        modelDir: this.config.inference.modelDir,
        backend: this.config.backend,
        examples: task.examples,
        trainingData: task.trainingData,
        settings,
      };
      out = await runInWorker<TaskTrainingWorkerInput, TaskTrainingWorkerOutput, TaskTrainingWorkerProgress>(WORKER, input, {
        signal: ctx.signal,
        nice: this.config.inference.tensorThreadNice,
        onProgress: (p) => void ctx.progress({ phase: 'train', step: p.step, total: p.total, loss: p.loss, etaSeconds: p.etaSeconds }).catch(() => undefined),
      });
    } catch (error) {
      if (ctx.signal.aborted) throw error; // handed back or expired: the retry reuses the training adapter
      const reason = error instanceof Error ? error.message : String(error);
      await this.registry.markFailed(adapterId, actor, reason);
      await this.tasks.setStatus(task.id, 'failed', ctx.jobId);
      await this.audit.record({ actor, action: 'task.train_failed', subject: taskSubject(task.id), details: { jobId: ctx.jobId, adapterId, reason } });
      throw error;
    }
    await ctx.progress({ phase: 'store', step: settings.steps, total: settings.steps, loss: out.finalLoss });
    const centroid = Array.from(out.condition);
    await this.ds.transaction(async (m) => {
      await this.tasks.replaceCheckpoints(task.id, adapterId, out.checkpoints, m);
      // The condition doubles as the routing centroid (auto routing by cosine).
      const extra = { conditionSha256: conditionHash(out.condition), checkpoints: out.checkpoints.map((c) => c.step), targetModules: out.targetModules };
      await m.query(`UPDATE adapter SET lineage = lineage || $2::jsonb, target_modules = $3 WHERE id = $1 AND status = 'training'`, [
        adapterId,
        JSON.stringify({ centroid, ...extra }),
        out.targetModules,
      ]);
      await this.audit.record({ actor, action: 'adapter.lineage', subject: auditSubject('adapter', adapterId), details: { taskId: task.id, jobId: ctx.jobId, ...extra } }, m);
    });
    await this.registry.completeTraining(adapterId, out.weights, actor);
    // One active version per task name: older ones step back.
    const older = await this.registry.list({ name: task.name, kind: 'task', status: 'active', limit: 100, offset: 0 });
    for (const a of older.items) if (a.id !== adapterId) await this.registry.deactivate(a.id, actor);
    await this.registry.activate(adapterId, actor);
    await this.tasks.markTrained(task.id, adapterId, out.condition);
    await this.audit.record({
      actor,
      action: 'task.trained',
      subject: taskSubject(task.id),
      details: { jobId: ctx.jobId, adapterId, checkpoints: out.checkpoints.length, firstLoss: out.firstLoss, finalLoss: out.finalLoss, seconds: out.seconds },
    });
    await ctx.progress({ phase: 'done', step: settings.steps, total: settings.steps, loss: out.finalLoss });
    this.log.log(`task ${task.name}: adapter ${adapterId} trained (loss ${out.firstLoss.toFixed(3)} → ${out.finalLoss.toFixed(3)})`);
    return { status: 'trained', adapterId, checkpoints: out.checkpoints.length, finalLoss: out.finalLoss };
  }
}
