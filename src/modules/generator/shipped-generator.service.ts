import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { AuditService, auditSubject } from '../audit/audit.service.js';
import { modelKeyOf, readComposeFileInfo, SHIPPED_COMPOSE_GENERATOR_FILE, type ComposeFileInfo } from './compose-file.js';
import { GeneratorRepository, SHIPPED_SOURCE, type GeneratorRow } from './generator.repository.js';

export type ShippedOutcome =
  | { status: 'absent' }
  | { status: 'skipped'; reason: string }
  | { status: 'registered' | 'exists'; generator: GeneratorRow };

const isUniqueViolation = (e: unknown): boolean =>
  ((e as { driverError?: { code?: string } }).driverError?.code ?? (e as { code?: string }).code) === '23505';

/**
 * The compose generator shipped in the model directory (`icm-compose-generator.safetensors`):
 * registered once as a ready generator version (design compose, source `shipped with the model`,
 * audited `generator.registered`) when the service starts, so a task the generator never saw gets an
 * adapter from its examples alone, with no training at all. Skipped (warn) when the file was trained
 * against other weights (`extra.modelKey` ≠ sha256 of model.safetensors). Idempotent across
 * restarts and replicas: one version per file content (sha256).
 */
@Injectable()
export class ShippedGeneratorService implements OnApplicationBootstrap {
  private readonly log = new Logger('ShippedGenerator');
  private pending: Promise<ShippedOutcome> | undefined;

  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(GeneratorRepository) private readonly repo: GeneratorRepository,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.ensure();
  }

  /** Registers the shipped generator once per process (a failed attempt is retried at the next call). */
  ensure(): Promise<ShippedOutcome> {
    this.pending ??= this.register().catch((e: unknown) => {
      this.pending = undefined;
      this.log.error(`registering the shipped generator failed: ${e instanceof Error ? e.message : String(e)}`);
      return { status: 'skipped', reason: 'error' } as const;
    });
    return this.pending;
  }

  private async register(): Promise<ShippedOutcome> {
    const dir = this.config.inference.modelDir;
    const path = join(dir, SHIPPED_COMPOSE_GENERATOR_FILE);
    const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!bytes) return { status: 'absent' };
    let info: ComposeFileInfo;
    try {
      info = readComposeFileInfo(bytes);
    } catch (e) {
      return this.skip(`${path} is not a compose generator this build reads: ${e instanceof Error ? e.message : String(e)}`);
    }
    const weights = await readFile(join(dir, 'model.safetensors')).catch(() => undefined);
    const modelKey = weights ? modelKeyOf(weights) : undefined;
    if (!modelKey || info.extra.modelKey !== modelKey) {
      return this.skip(
        `${path} was trained against other weights (modelKey ${info.extra.modelKey ?? 'none'}, model.safetensors ${modelKey ?? 'not found'}): not registered`,
      );
    }
    const metrics = {
      design: 'compose',
      source: SHIPPED_SOURCE,
      file: SHIPPED_COMPOSE_GENERATOR_FILE,
      modelKey,
      store: info.store,
      tasks: info.tasks,
      mappings: info.mappings,
      templates: info.templates,
      residualPieces: info.residualPieces,
      rank: info.rank,
      bits: info.bits,
      generatorBytes: bytes.byteLength,
    };
    const known = await this.repo.findRegistered(sha256Of(bytes));
    if (known) return { status: 'exists', generator: known };
    let outcome: { row: GeneratorRow; created: boolean };
    try {
      outcome = await this.ds.transaction(async (m) => {
        const r = await this.repo.registerFile(randomUUID(), bytes, { source: SHIPPED_SOURCE, options: { design: 'compose' }, metrics }, m);
        if (r.created) {
          const { tasks, ...rest } = metrics;
          await this.audit.record(
            { actor: 'system', action: 'generator.registered', subject: auditSubject('generator', r.row.id), details: { version: r.row.version, sha256: r.row.sha256, ...rest, tasks: tasks.length } },
            m,
          );
        }
        return r;
      });
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      // Another replica registered the same file between our check and insert.
      const row = await this.repo.findRegistered(sha256Of(bytes));
      if (!row) throw e;
      outcome = { row, created: false };
    }
    const { row, created } = outcome;
    if (created) {
      this.log.log(`registered the shipped compose generator as version ${row.version} (${info.mappings.length} mappings, ${info.templates.length} templates, ${info.tasks.length} seen tasks, ${bytes.byteLength} bytes)`);
    }
    return { status: created ? 'registered' : 'exists', generator: row };
  }

  private skip(reason: string): ShippedOutcome {
    this.log.warn(reason);
    return { status: 'skipped', reason };
  }
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
