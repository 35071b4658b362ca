/**
 * Registers an active unlearning adapter with its O3 detector in the database, the way the
 * unlearning module stores them (adapter row + blob, unlearning_request, ood_detector), without
 * training: the detector is fitted on the base model's features of `forgetPrompts`. For tests and
 * the serving benchmark.
 */
import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { fitDetector } from '../../../ood/detector.js';
import { serializeDetector } from '../../../ood/detector-codec.js';
import { AdapterRegistryService } from '../../adapters/adapter-registry.service.js';
import type { AdapterEntity } from '../../adapters/adapter.entity.js';
import { UnlearningRepository } from '../../unlearning/unlearning.repository.js';
import { ModelHost } from '../model-host.service.js';
import type { PeftFiles } from '../../../engine/peft.js';

export interface GatedAdapterInput {
  name: string;
  files: PeftFiles;
  forgetPrompts: string[];
}

export async function registerGatedAdapter(app: INestApplication, input: GatedAdapterInput): Promise<AdapterEntity> {
  const host = app.get(ModelHost);
  const registry = app.get(AdapterRegistryService);
  const repo = app.get(UnlearningRepository);
  const ds = app.get(DataSource);
  const tokens = input.forgetPrompts.map((p) => host.tokenizer!.encode(p));
  const { detector: features } = await host.promptFeatures(tokens);
  const detector = fitDetector({ features }, { seed: 1 });
  const cfg = input.files.adapterConfig as { r: number; lora_alpha: number; target_modules: string[] };
  const adapter = await registry.create(
    { name: input.name, kind: 'unlearning', baseModel: host.modelId, rank: cfg.r, alpha: cfg.lora_alpha, targetModules: cfg.target_modules, weights: input.files.weights },
    'system',
  );
  const items = input.forgetPrompts.map((prompt) => ({ prompt }));
  await ds.transaction(async (m) => {
    const request = await repo.insert(m, {
      name: input.name,
      relabel: 'refusal',
      replacement: null,
      options: {},
      items,
      itemsSha256: createHash('sha256').update(JSON.stringify(items)).digest('hex'),
      itemCount: items.length,
      idempotencyKey: null,
      actor: 'system',
    });
    await repo.insertDetector(m, { requestId: request!.id, adapterId: adapter.id, bytes: serializeDetector(detector), metrics: {} });
  });
  return registry.activate(adapter.id, 'system');
}
