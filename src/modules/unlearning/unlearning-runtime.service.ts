import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { initBackend, type BackendName } from '../../engine/backend.js';
import { disposeAdapter } from '../../engine/lora-trainable.js';
import { importPeftAdapter } from '../../engine/peft.js';
import { deserializeDetector } from '../../ood/detector-codec.js';
import { gatedAnswer, type GatedAdapter, type GatedAnswer, type GatedAnswerOptions } from '../../unlearning/gated-answer.js';
import { loadModel, type LoadedModel } from '../../unlearning/load-model.js';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { AdapterRegistryService } from '../adapters/adapter-registry.service.js';
import { UnlearningRepository } from './unlearning.repository.js';

/**
 * Gated answers in this process (DESIGN §3.3): the base model loaded once, the active unlearning
 * adapters and detectors read from Postgres on every call (loaded tensors are cached by adapter id
 * and freed once the adapter stops being active). Used by the request tests and the benchmark
 * path; /v1/completions serves the same gates through its inference engines.
 */
@Injectable()
export class UnlearningRuntime implements OnModuleDestroy {
  private model?: Promise<LoadedModel>;
  private readonly loaded = new Map<string, GatedAdapter>();

  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(UnlearningRepository) private readonly repo: UnlearningRepository,
    @Inject(AdapterRegistryService) private readonly registry: AdapterRegistryService,
  ) {}

  private loadedModel(): Promise<LoadedModel> {
    this.model ??= (async () => {
      await initBackend(this.config.backend as BackendName | undefined);
      return loadModel(this.config.inference.modelDir);
    })();
    return this.model;
  }

  /** The active unlearning adapters with their detectors, loaded (cached by adapter id). */
  async activeAdapters(): Promise<GatedAdapter[]> {
    const { model } = await this.loadedModel();
    const rows = await this.repo.activeUnlearning();
    const ids = new Set(rows.map((r) => r.adapter.id));
    for (const [id, g] of this.loaded) {
      if (!ids.has(id)) {
        disposeAdapter(g.adapter);
        this.loaded.delete(id);
      }
    }
    for (const { adapter, detector } of rows) {
      if (this.loaded.has(adapter.id)) continue;
      const weights = await this.registry.readWeights(adapter.id);
      const lora = importPeftAdapter(
        { peft_type: 'LORA', r: adapter.rank, lora_alpha: adapter.alpha, target_modules: adapter.targetModules },
        new Uint8Array(weights),
        model.config,
      );
      this.loaded.set(adapter.id, { id: adapter.id, name: adapter.name, version: adapter.version, adapter: lora, detector: deserializeDetector(new Uint8Array(detector.bytes)) });
    }
    return rows.map((r) => this.loaded.get(r.adapter.id)!);
  }

  /** Answers prompts through the gated path with every active unlearning adapter. */
  async answer(prompts: string[], options: Partial<GatedAnswerOptions> = {}): Promise<GatedAnswer[]> {
    const { model, tokenizer } = await this.loadedModel();
    const adapters = await this.activeAdapters();
    return gatedAnswer(model, tokenizer, prompts, adapters, { maxTokens: 16, ...options });
  }

  async onModuleDestroy(): Promise<void> {
    for (const g of this.loaded.values()) disposeAdapter(g.adapter);
    this.loaded.clear();
    if (this.model) (await this.model.catch(() => undefined))?.dispose();
  }
}
