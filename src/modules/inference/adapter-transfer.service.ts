import { Inject, Injectable } from '@nestjs/common';
import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter } from '../../engine/lora-types.js';
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  exportPeftAdapter,
  importPeftAdapter,
  PEFT_MAGNITUDE_LIMITS,
  PeftError,
  PeftMagnitudeError,
} from '../../engine/peft.js';
import { AdapterRegistryService } from '../adapters/adapter-registry.service.js';
import type { AdapterEntity } from '../adapters/adapter.entity.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { findJsonIssue } from '../common/input-guard.js';
import { ModelHost } from './model-host.service.js';
import { createTar } from './tar.js';

/** Limits of imported adapters (magnitudes: PEFT_MAGNITUDE_LIMITS, documented there). */
export const IMPORT_LIMITS = { maxRank: 256, maxWeightBytes: 64 * 1024 * 1024, maxConfigBytes: 64 * 1024, ...PEFT_MAGNITUDE_LIMITS };

const NAME_RE = /^[A-Za-z0-9][\w.-]{0,99}$/;

/** An uploaded file (multipart part). */
export interface UploadedPart {
  field: string;
  filename: string | null;
  data: Uint8Array;
}

/**
 * PEFT adapters in and out (issue 5). Imports are checked against the served base model before
 * anything is stored (PeftError reasons become 400s) and stored as kind `imported`, inactive, in
 * canonical PEFT layout (float32, sorted keys). Exports are a tar of the two PEFT files.
 */
@Injectable()
export class AdapterTransferService {
  constructor(
    @Inject(ModelHost) private readonly host: ModelHost,
    @Inject(AdapterRegistryService) private readonly registry: AdapterRegistryService,
  ) {}

  async import(parts: UploadedPart[], actor: string): Promise<AdapterEntity> {
    const model = this.requireModel();
    const byName = new Map<string, UploadedPart>();
    for (const p of parts) {
      if (p.filename === null) continue;
      if (p.filename !== ADAPTER_CONFIG_FILE && p.filename !== ADAPTER_WEIGHTS_FILE) {
        throw bad('files', `unexpected file "${p.filename}": upload exactly ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE}`);
      }
      if (byName.has(p.filename)) throw bad('files', `${p.filename} uploaded twice`);
      byName.set(p.filename, p);
    }
    const cfgPart = byName.get(ADAPTER_CONFIG_FILE);
    const wPart = byName.get(ADAPTER_WEIGHTS_FILE);
    if (!cfgPart || !wPart) throw bad('files', `missing ${!cfgPart ? ADAPTER_CONFIG_FILE : ADAPTER_WEIGHTS_FILE}`);
    const nameField = parts.find((p) => p.filename === null && p.field === 'name');
    const name = nameField ? Buffer.from(nameField.data).toString('utf8').trim() : '';
    if (!NAME_RE.test(name)) throw bad('name', 'name is required: 1-100 letters, digits, _ . - (no colon: clients write <base>:<name>)');
    if (cfgPart.data.length > IMPORT_LIMITS.maxConfigBytes) throw bad(ADAPTER_CONFIG_FILE, `over ${IMPORT_LIMITS.maxConfigBytes} bytes`);
    if (wPart.data.length > IMPORT_LIMITS.maxWeightBytes) throw bad(ADAPTER_WEIGHTS_FILE, `over ${IMPORT_LIMITS.maxWeightBytes} bytes`);
    let config: unknown;
    try {
      config = JSON.parse(Buffer.from(cfgPart.data).toString('utf8'));
    } catch (e) {
      throw bad(ADAPTER_CONFIG_FILE, `not valid JSON (${(e as Error).message})`);
    }
    // The JSON body rules (the config's strings end up in the lineage, jsonb); its numbers are
    // PEFT's to judge, with the code that names the check (ADAPTER_OUT_OF_RANGE).
    const issue = findJsonIssue(config, { root: ADAPTER_CONFIG_FILE, numbers: false });
    if (issue) throw DomainError.validation([issue]);
    let adapter: LoraAdapter;
    try {
      adapter = importPeftAdapter(config, wPart.data, model, {
        maxRank: IMPORT_LIMITS.maxRank,
        maxBytes: IMPORT_LIMITS.maxWeightBytes,
        maxScale: IMPORT_LIMITS.maxScale,
        maxModuleGain: IMPORT_LIMITS.maxModuleGain,
      });
    } catch (e) {
      if (e instanceof PeftMagnitudeError) throw outOfRange(e.check, e.message, e.details);
      if (e instanceof PeftError) throw bad('files', e.message);
      throw e;
    }
    try {
      let canonical: ReturnType<typeof exportPeftAdapter>;
      try {
        canonical = exportPeftAdapter(adapter, model, { baseModelNameOrPath: this.host.modelId });
      } catch (e) {
        if (e instanceof PeftError) throw bad('files', e.message);
        throw e;
      }
      // Per-module bounds cannot see how updates compound across layers: run the model with it.
      if (this.host.status().state !== 'ready') throw new DomainError(ErrorCode.UNAVAILABLE, `model ${this.host.modelId} is still loading: retry the import`, null);
      const probe = await this.host.probeAdapter({ key: 'import-probe', rank: adapter.rank, alpha: adapter.alpha, targetModules: adapter.targetModules, weights: canonical.weights });
      if (!probe.finite) {
        throw outOfRange('probe_logits', `a forward pass with the adapter on a ${probe.promptTokens}-token prompt gives non-finite logits`, { field: 'files', value: null, limit: null });
      }
      const base = (config as { base_model_name_or_path?: unknown }).base_model_name_or_path;
      return await this.registry.create(
        {
          name,
          kind: 'imported',
          status: 'inactive',
          baseModel: this.host.modelId,
          rank: adapter.rank,
          alpha: adapter.alpha,
          targetModules: [...adapter.targetModules].sort(),
          lineage: { source: 'peft-import', uploadedBaseModel: typeof base === 'string' ? base.slice(0, 300) : null, uploadedBytes: wPart.data.length },
          weights: canonical.weights,
        },
        actor,
      );
    } finally {
      disposeAdapter(adapter);
    }
  }

  /** The adapter as a tar of adapter_config.json + adapter_model.safetensors. */
  async export(id: string): Promise<{ filename: string; tar: Uint8Array }> {
    const model = this.requireModel();
    const row = await this.registry.get(id);
    // A copy: parseSafetensors reads Float32 views that need the bytes at offset 0 of their buffer.
    const weights = new Uint8Array(await this.registry.readWeights(id));
    let adapter: LoraAdapter;
    try {
      adapter = importPeftAdapter({ peft_type: 'LORA', r: row.rank, lora_alpha: row.alpha, target_modules: row.targetModules }, weights, model);
    } catch (e) {
      throw new DomainError(ErrorCode.INTEGRITY, `stored adapter ${id} is not a valid PEFT adapter for ${this.host.modelId}: ${(e as Error).message}`, { id });
    }
    try {
      const files = exportPeftAdapter(adapter, model, { baseModelNameOrPath: row.baseModel });
      const config = Buffer.from(`${JSON.stringify(files.adapterConfig, null, 2)}\n`);
      const tar = createTar(
        [
          { name: ADAPTER_CONFIG_FILE, data: config },
          { name: ADAPTER_WEIGHTS_FILE, data: files.weights },
        ],
        Math.floor(row.updatedAt.getTime() / 1000),
      );
      return { filename: `${row.name}-v${row.version}.tar`.replace(/[^\w.-]/g, '_'), tar };
    } finally {
      disposeAdapter(adapter);
    }
  }

  private requireModel() {
    const cfg = this.host.modelConfig;
    if (!cfg) throw new DomainError(ErrorCode.UNAVAILABLE, `model ${this.host.modelId} is not loaded: adapters cannot be checked against it yet`, null);
    return cfg;
  }
}

function outOfRange(check: string, message: string, details: { field: string; value: number | null; limit: number | null }): DomainError {
  return new DomainError(ErrorCode.ADAPTER_OUT_OF_RANGE, message, { ...details, check });
}

function bad(field: string, message: string): DomainError {
  return DomainError.validation([{ field, message }]);
}

function disposeAdapter(a: LoraAdapter): void {
  for (const m of a.modules.values()) tf.dispose([m.a, m.b]);
}
