import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { runInWorker } from '../../engine/worker/run-in-worker.js';
import { AdapterRegistryService } from '../adapters/adapter-registry.service.js';
import { AuditService, auditSubject } from '../audit/audit.service.js';
import type { JobPayloads } from '../jobs/job-catalog.js';
import { JobProcessor, type JobContext, type JobHandlerFor } from '../jobs/job-handler.js';
import { TaskRepository } from '../tasks/task.repository.js';
import { GENERATOR_TRAIN_DEFAULTS } from './generator-jobs.js';
import { GeneratorRepository } from './generator.repository.js';
import { GENERATOR_WORKER, newGeneratorId } from './generator.service.js';
import type { GeneratorWorkerInput, GeneratorWorkerOutput, GeneratorWorkerProgress } from './generator.worker.js';

export interface GeneratorTrainResult {
  status: 'ready';
  generatorId: string;
  version: number;
  storageRatio: number;
}

/**
 * `generator.train`: a new generator version over every trained task's checkpoint set. The version
 * row is created in status `training` (never used for generation) keyed by the job id, so a retry
 * reuses it; only a finished run stores the bytes and metrics and makes it `ready`.
 */
@JobProcessor()
@Injectable()
export class GeneratorTrainingHandler implements JobHandlerFor<'generator.train', GeneratorTrainResult> {
  readonly name = 'generator.train' as const;
  private readonly log = new Logger('GeneratorTraining');

  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(GeneratorRepository) private readonly repo: GeneratorRepository,
    @Inject(TaskRepository) private readonly tasks: TaskRepository,
    @Inject(AdapterRegistryService) private readonly registry: AdapterRegistryService,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  async handle(payload: JobPayloads['generator.train'], ctx: JobContext): Promise<GeneratorTrainResult> {
    const options = { ...GENERATOR_TRAIN_DEFAULTS, ...payload.options };
    const { row } = await this.ds.transaction((m) => this.repo.findOrCreateForJob(newGeneratorId(), ctx.jobId, options, m));
    const subject = auditSubject('generator', row.id);
    const actor = payload.actor;
    await ctx.progress({ phase: 'load', message: `generator version ${row.version}` });
    try {
      const sets: Extract<GeneratorWorkerInput, { mode: 'train' }>['sets'] = [];
      const compose = options.design === 'compose';
      // compose: each labelled task's final adapter (the pieces are fitted to trained adapters, not checkpoint spreads).
      for (const t of compose ? await this.tasks.trainedWithParts() : []) {
        const adapter = await this.registry.get(t.adapterId!);
        sets.push({
          task: t.name,
          condition: t.condition ?? [],
          examples: t.examples,
          peft: { rank: adapter.rank, alpha: adapter.alpha, targetModules: adapter.targetModules },
          checkpoints: [new Uint8Array(await this.registry.readWeights(adapter.id))],
          parts: t.parts!,
        });
      }
      for (const t of compose ? [] : await this.tasks.trained()) {
        const adapter = await this.registry.get(t.adapterId!);
        const checkpoints = await this.tasks.checkpoints(adapter.id);
        if (checkpoints.length === 0 || !t.condition) continue;
        sets.push({
          task: t.name,
          condition: t.condition,
          examples: t.examples,
          peft: { rank: adapter.rank, alpha: adapter.alpha, targetModules: adapter.targetModules },
          checkpoints: checkpoints.map((c) => new Uint8Array(c.bytes)),
        });
      }
      if (sets.length < 2) throw new Error(`the generator needs ${compose ? 'trained tasks with parts' : 'checkpoint sets'} of at least 2 tasks, found ${sets.length}`);
      const input: GeneratorWorkerInput = {
        mode: 'train',
        modelDir: this.config.inference.modelDir,
        backend: this.config.backend,
        sets,
        design: options.design,
        epochs: options.epochs,
        seed: options.seed,
        architecture: { latentDim: options.latentDim, width: options.width, basisRank: options.basisRank },
        basis: { rank: options.rank, bits: options.bits },
        compose: { rank: options.rank, bits: options.bits, residualRank: options.residualRank },
        extra: { generatorId: row.id, version: String(row.version) },
      };
      const out = await runInWorker<GeneratorWorkerInput, GeneratorWorkerOutput, GeneratorWorkerProgress>(GENERATOR_WORKER, input, {
        signal: ctx.signal,
        nice: this.config.inference.tensorThreadNice,
        onProgress: (p) => void ctx.progress({ phase: 'train', step: p.epoch, total: p.epochs, loss: p.loss }).catch(() => undefined),
      });
      if (out.mode !== 'train') throw new Error('generator worker answered the wrong mode');
      const metrics = { ...out.metrics, adapters: sets.map((s) => s.task) };
      await this.ds.transaction(async (m) => {
        const sha256 = await this.repo.markReady(row.id, out.bytes, metrics, m);
        await this.audit.record({ actor, action: 'generator.trained', subject, details: { jobId: ctx.jobId, version: row.version, sha256, ...out.metrics } }, m);
      });
      const m = out.metrics;
      const steps = m.design === 'cvae' ? options.epochs : 1; // basis and compose are fitted in one closed-form step
      await ctx.progress({ phase: 'done', step: steps, total: steps, ...('finalLoss' in m && Number.isFinite(m.finalLoss) && { loss: m.finalLoss }) });
      this.log.log(`generator v${row.version} (${out.metrics.design}): ${out.metrics.samples} checkpoints of ${sets.length} tasks, ${out.metrics.generatorBytes} bytes (ratio ${out.metrics.storageRatio.toFixed(4)})`);
      return { status: 'ready', generatorId: row.id, version: row.version, storageRatio: out.metrics.storageRatio };
    } catch (error) {
      if (ctx.signal.aborted) throw error; // handed back or expired: the retry reuses the training row
      const reason = error instanceof Error ? error.message : String(error);
      await this.ds.transaction(async (m) => {
        await this.repo.markFailed(row.id, reason, m);
        await this.audit.record({ actor, action: 'generator.train_failed', subject, details: { jobId: ctx.jobId, version: row.version, reason } }, m);
      });
      throw error;
    }
  }
}
