import { randomInt, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { runInWorker } from '../../engine/worker/run-in-worker.js';
import { AdapterRegistryService } from '../adapters/adapter-registry.service.js';
import type { AdapterEntity } from '../adapters/adapter.entity.js';
import { AuditService, auditSubject } from '../audit/audit.service.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { JobQueue } from '../jobs/job-queue.service.js';
import { conditionHash, TaskRepository, type TaskRow } from '../tasks/task.repository.js';
import type { GenerateAdapterDto, TrainGeneratorDto } from './generator.dto.js';
import { GeneratorRepository, type GeneratorRow } from './generator.repository.js';
import type { GeneratorWorkerInput, GeneratorWorkerOutput } from './generator.worker.js';
import { ShippedGeneratorService } from './shipped-generator.service.js';

export const GENERATOR_WORKER = new URL('./generator.worker.js', import.meta.url);
export const GENERATOR_SUBJECT = 'generator';

const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

/** Generator versions and adapter generation (ICM-LoRA). Training runs in GeneratorTrainingHandler. */
@Injectable()
export class GeneratorService {
  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(GeneratorRepository) private readonly repo: GeneratorRepository,
    @Inject(TaskRepository) private readonly tasks: TaskRepository,
    @Inject(AdapterRegistryService) private readonly registry: AdapterRegistryService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(ShippedGeneratorService) private readonly shipped: ShippedGeneratorService,
  ) {}

  /**
   * Enqueues `generator.train`; 409 unless at least two tasks are trained (compose: two trained
   * tasks with part labels).
   */
  async requestTraining(dto: TrainGeneratorDto, actor: string): Promise<{ jobId: string; tasks: string[] }> {
    if (dto.design === 'compose') {
      const labelled = await this.tasks.trainedWithParts();
      if (labelled.length < 2) {
        const trained = await this.tasks.trained();
        throw new DomainError(
          ErrorCode.CONFLICT,
          `the compose generator needs at least 2 trained tasks with parts ({"content", "format"} on POST /v1/tasks), ${labelled.length} so far`,
          { field: 'parts', labelledTasks: labelled.map((t) => t.name), trainedTasks: trained.map((t) => t.name) },
        );
      }
      return this.enqueueTraining(dto, actor, labelled.map((t) => t.name));
    }
    const trained = await this.tasks.trained();
    if (trained.length < 2) {
      throw new DomainError(ErrorCode.CONFLICT, `the generator needs at least 2 trained tasks, ${trained.length} trained so far: train tasks first (POST /v1/tasks/:id/train)`, {
        trainedTasks: trained.map((t) => t.name),
      });
    }
    return this.enqueueTraining(dto, actor, trained.map((t) => t.name));
  }

  private async enqueueTraining(dto: TrainGeneratorDto, actor: string, tasks: string[]): Promise<{ jobId: string; tasks: string[] }> {
    const options = Object.fromEntries(Object.entries(dto).filter(([, v]) => v !== undefined));
    const jobId = await this.jobs.enqueue('generator.train', { actor, options }, { subject: GENERATOR_SUBJECT });
    await this.audit.record({ actor, action: 'generator.train_requested', subject: GENERATOR_SUBJECT, details: { jobId, options, tasks } });
    return { jobId, tasks };
  }

  list(limit = 50): Promise<GeneratorRow[]> {
    return this.repo.list(limit);
  }

  /**
   * Generates an adapter (kind `generated`, active) for a task's condition, or for in-context
   * examples, with the generator version `dto.generator` (number or id) or by default the newest
   * ready version. 404 naming `generator` for an unknown version, 409 for one that is not ready or
   * when no version is ready at all.
   */
  async generate(dto: GenerateAdapterDto, actor: string): Promise<AdapterEntity> {
    if ((dto.task === undefined) === (dto.examples === undefined)) {
      throw DomainError.validation([{ field: dto.task === undefined ? 'task' : 'examples', message: 'give either task or examples (with an optional description), not both' }]);
    }
    const task = dto.task !== undefined ? await this.findTask(dto.task) : undefined;
    const generator = await this.chooseGenerator(dto.generator);
    const seed = dto.seed ?? randomInt(0, 2 ** 31 - 1);
    const input: GeneratorWorkerInput = {
      mode: 'generate',
      modelDir: this.config.inference.modelDir,
      backend: this.config.backend,
      generator: new Uint8Array(await this.repo.readBytes(generator.id)),
      seed,
      // Both: the CVAE reads a trained task's condition, the basis and compose generators the examples.
      ...(task?.condition && { condition: task.condition }),
      examples: task?.examples ?? dto.examples!.map((e) => ({ prompt: e.prompt, completion: e.completion })),
    };
    const out = await runInWorker<GeneratorWorkerInput, GeneratorWorkerOutput>(GENERATOR_WORKER, input, { nice: this.config.inference.tensorThreadNice });
    if (out.mode !== 'generate') throw new Error('generator worker answered the wrong mode');
    const condSha = conditionHash(out.condition);
    const lineage = {
      generatorId: generator.id,
      generatorVersion: generator.version,
      generatorSha256: generator.sha256,
      ...(generator.source && { generatorSource: generator.source }),
      design: out.design,
      ...(task ? { task: task.name, taskId: task.id } : { description: dto.description ?? null, examples: dto.examples!.length }),
      conditionSha256: condSha,
      seed,
      // compose: what the examples were taken for, and how well the adapter fits them (the seed changes nothing).
      ...(out.compose && {
        inferredParts: { mapping: out.compose.mapping, template: out.compose.template, seenTask: out.compose.seenTask },
        exampleLoss: { inferred: out.compose.inferredLoss, refined: out.compose.loss },
        composeSettings: out.compose.settings,
      }),
    };
    const adapter = await this.registry.create(
      {
        name: dto.name ?? (task ? `${task.name}-generated` : `generated-${condSha.slice(0, 12)}`),
        kind: 'generated',
        baseModel: this.config.inference.modelId,
        rank: out.rank,
        alpha: out.alpha,
        targetModules: out.targetModules,
        // The routing centroid is the ICM condition (what auto routing compares prompts with), whatever the generator read.
        lineage: { ...lineage, centroid: Array.from(out.centroid) },
        weights: out.weights,
      },
      actor,
    );
    await this.audit.record({ actor, action: 'adapter.generate', subject: auditSubject('adapter', adapter.id), details: lineage });
    return this.registry.activate(adapter.id, actor);
  }

  private async chooseGenerator(ref: number | string | undefined): Promise<GeneratorRow> {
    await this.shipped.ensure(); // a shipped generator is a version like any other (normally registered at start)
    if (ref === undefined) {
      const newest = await this.repo.latestReady();
      if (!newest) {
        throw new DomainError(ErrorCode.CONFLICT, 'no generator is trained yet: train one with POST /v1/generator/train first', { field: 'generator' });
      }
      return newest;
    }
    const row = typeof ref === 'number' ? await this.repo.findByVersion(ref) : await this.repo.findById(ref);
    if (!row) throw new DomainError(ErrorCode.NOT_FOUND, `unknown generator ${typeof ref === 'number' ? `version ${ref}` : `"${ref}"`}`, { field: 'generator' });
    if (row.status !== 'ready') {
      throw new DomainError(ErrorCode.CONFLICT, `generator version ${row.version} is ${row.status}, not ready`, { field: 'generator', status: row.status });
    }
    return row;
  }

  private async findTask(ref: string): Promise<TaskRow> {
    const task = isUuid(ref) ? await this.tasks.findById(ref) : await this.tasks.findByName(ref);
    if (!task) throw new DomainError(ErrorCode.NOT_FOUND, `unknown task "${ref}"`, { field: 'task' });
    return task;
  }
}

/** A fresh id for a generator version row. */
export const newGeneratorId = (): string => randomUUID();
