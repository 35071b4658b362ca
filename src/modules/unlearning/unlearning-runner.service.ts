import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { runUnlearningInWorker, type UnlearningWorkerInput, type UnlearningWorkerOptions } from '../../unlearning/unlearning-runner.js';
import { evenlySpaced, GENERIC_REFERENCE_PROMPTS } from '../../unlearning/reference-prompts.js';
import type { UnlearningOptions, UnlearningResult } from '../../unlearning/unlearning-types.js';

/** Most utility items of the model folder's world.json used as reference prompts. */
const MAX_REFERENCE_PROMPTS = 48;
/**
 * Most of its entity questions (trained split) used as reference prompts: the names and question
 * templates the pipeline's near-negatives are made of (src/unlearning/near-negatives.ts).
 */
const MAX_ENTITY_REFERENCE_PROMPTS = 600;

/** Where a request's reference prompts came from (stored with its metrics). */
export interface ReferenceSetCounts {
  bundled: number;
  world: number;
  request: number;
}

/**
 * The tensor side of the unlearning job, behind one injectable class: runs the pipeline in a
 * worker thread on the configured base model (LETHE_MODEL_DIR). Tests watch `workers` to kill a
 * thread mid-training.
 */
@Injectable()
export class UnlearningRunner {
  private readonly log = new Logger('UnlearningRunner');
  /** Threads running now. */
  readonly workers = new Set<Worker>();
  private readonly startListeners: ((w: Worker) => void)[] = [];
  private worldReferences: string[] | undefined;

  constructor(@Inject(CONFIG) private readonly config: LetheConfig) {}

  get modelDir(): string {
    return this.config.inference.modelDir;
  }

  get modelId(): string {
    return this.config.inference.modelId;
  }

  /** Called with every new worker thread (tests). Returns an unsubscribe function. */
  onWorkerStart(listener: (w: Worker) => void): () => void {
    this.startListeners.push(listener);
    return () => this.startListeners.splice(this.startListeners.indexOf(listener) >>> 0, 1);
  }

  /** The activation thresholds every request is checked against (LETHE_UNLEARNING_*). */
  get activation(): UnlearningOptions['activation'] {
    return { ...this.config.unlearning.activation };
  }

  /**
   * Prompts known to be unrelated to a forget request, for the checks' AUROC and false-fire rate:
   * the bundled generic set (any model), the demo world's utility and author questions when the model
   * folder ships its world.json, and the request's own `referencePrompts`. The pipeline also makes its
   * near-negatives from them (the forget questions about the entities they name).
   */
  referencePrompts(own: readonly string[] = []): { prompts: string[]; counts: ReferenceSetCounts } {
    const world = this.worldReferencePrompts();
    return {
      prompts: [...GENERIC_REFERENCE_PROMPTS, ...world, ...own],
      counts: { bundled: GENERIC_REFERENCE_PROMPTS.length, world: world.length, request: own.length },
    };
  }

  /** Up to MAX_REFERENCE_PROMPTS utility and MAX_ENTITY_REFERENCE_PROMPTS author questions of the model folder's world.json (read once). */
  private worldReferencePrompts(): string[] {
    if (this.worldReferences) return this.worldReferences;
    const file = join(this.modelDir, 'world.json');
    let prompts: string[] = [];
    if (existsSync(file)) {
      try {
        const world = JSON.parse(readFileSync(file, 'utf8')) as { items?: { split?: string; prompt?: string; authorId?: number }[] };
        const items = (world.items ?? []).filter((i) => typeof i.prompt === 'string');
        const utility = items.filter((i) => i.split === 'utility').map((i) => i.prompt!);
        // Whole authors, evenly spaced: every question template then appears (a spaced sample of the
        // author-major item list would keep the same few phrasings of every author).
        const byAuthor = new Map<unknown, string[]>();
        for (const i of items.filter((x) => x.split === 'trained')) byAuthor.set(i.authorId, [...(byAuthor.get(i.authorId) ?? []), i.prompt!]);
        const groups = [...byAuthor.values()];
        const perAuthor = Math.max(1, Math.max(...groups.map((g) => g.length), 1));
        prompts = [...evenlySpaced(utility, MAX_REFERENCE_PROMPTS), ...evenlySpaced(groups, Math.max(1, Math.floor(MAX_ENTITY_REFERENCE_PROMPTS / perAuthor))).flat().slice(0, MAX_ENTITY_REFERENCE_PROMPTS)];
      } catch (e) {
        this.log.warn(`cannot read reference prompts from ${file}: ${(e as Error).message}`);
      }
    }
    this.worldReferences = prompts;
    return prompts;
  }

  async run(input: Omit<UnlearningWorkerInput, 'checkpointDir' | 'backend' | 'baseModelName'>, options: UnlearningWorkerOptions = {}): Promise<UnlearningResult> {
    return runUnlearningInWorker(
      { ...input, checkpointDir: this.modelDir, backend: this.config.backend, baseModelName: this.modelId },
      {
        nice: this.config.inference.tensorThreadNice,
        ...options,
        onStart: (w) => {
          this.workers.add(w);
          w.once('exit', () => this.workers.delete(w));
          for (const l of [...this.startListeners]) l(w);
          options.onStart?.(w);
        },
      },
    );
  }
}
