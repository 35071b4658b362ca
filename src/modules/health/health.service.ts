import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { initBackend } from '../../engine/backend.js';
import { ModelHost } from '../inference/model-host.service.js';
import { JobQueue } from '../jobs/job-queue.service.js';

/** One readiness check: ok or not, and a short word on why. */
export interface CheckResult {
  ok: boolean;
  detail: string;
}

export interface Readiness {
  ready: boolean;
  /**
   * `model` (the served base model, absent in the worker role) gates readiness (Kubernetes
   * semantics: no traffic until the model answers); liveness (/healthz) does not wait for it.
   */
  checks: { database: CheckResult; queue: CheckResult; backend: CheckResult; model?: CheckResult };
}

const DB_TIMEOUT_MS = 2_000;

/** Liveness is free; readiness asks the database, the queue, the tensor backend and the model host. */
@Injectable()
export class HealthService {
  private readonly startedAt = Date.now();

  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(DataSource) private readonly ds: DataSource,
    @Optional() @Inject(JobQueue) private readonly queue?: JobQueue,
    @Optional() @Inject(ModelHost) private readonly model?: ModelHost,
  ) {}

  uptimeSeconds(): number {
    return Math.round((Date.now() - this.startedAt) / 1000);
  }

  async readiness(): Promise<Readiness> {
    const [database, backend] = await Promise.all([this.checkDatabase(), this.checkBackend()]);
    const queue = this.checkQueue();
    const m = this.model?.status();
    const model = m && m.state !== 'disabled' ? { ok: m.state === 'ready', detail: `${m.state}: ${m.detail}` } : undefined;
    const ready = database.ok && queue.ok && backend.ok && (model?.ok ?? true);
    return { ready, checks: { database, queue, backend, ...(model ? { model } : {}) } };
  }

  private async checkDatabase(): Promise<CheckResult> {
    const started = Date.now();
    try {
      await withTimeout(this.ds.query('SELECT 1'), DB_TIMEOUT_MS);
      return { ok: true, detail: `query answered in ${Date.now() - started} ms` };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }

  // Every role runs a queue (the API enqueues); worker roles must also be running handlers.
  private checkQueue(): CheckResult {
    if (!this.queue) return { ok: false, detail: 'no job queue in this app' };
    const s = this.queue.status();
    if (!s.started) return { ok: false, detail: 'job queue not started' };
    if (this.config.runsWorker && !s.working) return { ok: false, detail: 'workers not running' };
    return { ok: true, detail: this.config.runsWorker ? `working (${s.running} running)` : 'enqueue only (api role)' };
  }

  private async checkBackend(): Promise<CheckResult> {
    try {
      const info = await initBackend(this.config.backend);
      return { ok: true, detail: info.name };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
