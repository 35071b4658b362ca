import { describe, expect, it } from 'vitest';
import { initBackend } from '../../engine/backend.js';
import { randomCheckpoint } from '../../engine/testing/random-checkpoint.js';
import type { AdapterRegistryService } from '../adapters/adapter-registry.service.js';
import { DomainError } from '../common/domain-error.js';
import { AdapterTransferService, type UploadedPart } from './adapter-transfer.service.js';
import type { ModelHost } from './model-host.service.js';
import type { EngineProbeResult } from '../../serving/inference-engine.js';
import { randomPeftFiles } from '../../serving/testing/model-fixture.js';

await initBackend();
const ckpt = randomCheckpoint('llama', { dModel: 16, nLayers: 2 });
ckpt.weights.forEach((t) => t.dispose());
const model = ckpt.modelConfig;

/** The service with a host whose probe answers `probe`, and a registry that records creates. */
function build(probe: EngineProbeResult) {
  const created: unknown[] = [];
  const host = { modelConfig: model, modelId: 'tiny', status: () => ({ state: 'ready' }), probeAdapter: async () => probe } as unknown as ModelHost;
  const registry = { create: async (input: unknown) => (created.push(input), { id: 'new' }) } as unknown as AdapterRegistryService;
  return { sut: new AdapterTransferService(host, registry), created };
}

function parts(config: Record<string, unknown>, weights: Uint8Array): UploadedPart[] {
  return [
    { field: 'name', filename: null, data: Buffer.from('probe-me') },
    { field: 'files', filename: 'adapter_config.json', data: Buffer.from(JSON.stringify(config)) },
    { field: 'files', filename: 'adapter_model.safetensors', data: weights },
  ];
}

async function refusal(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    if (e instanceof DomainError) return { status: e.status, code: e.code, details: e.details };
    throw e;
  }
  return 'stored';
}

describe('AdapterTransferService.import magnitude checks (issue 12)', () => {
  const files = randomPeftFiles(model, 2, 2, 4, 0.5);

  it('stores an adapter whose probe pass gives finite logits', async () => {
    const { sut, created } = build({ finite: true, maxAbsLogit: 3, promptTokens: 9 });
    expect(await refusal(sut.import(parts(files.adapterConfig, files.weights), 'op'))).toBe('stored');
    expect(created).toHaveLength(1);
  });

  it('refuses with ADAPTER_OUT_OF_RANGE (check probe_logits) and stores nothing when the probe sees non-finite logits', async () => {
    const { sut, created } = build({ finite: false, maxAbsLogit: 1e38, promptTokens: 9 });
    expect(await refusal(sut.import(parts(files.adapterConfig, files.weights), 'op'))).toMatchObject({ status: 400, code: 'ADAPTER_OUT_OF_RANGE', details: { check: 'probe_logits' } });
    expect(created).toHaveLength(0);
  });

  it('refuses the scale (1e30) and overflowing rsLoRA (1e308) with the check named, before the probe', async () => {
    const { sut, created } = build({ finite: true, maxAbsLogit: 3, promptTokens: 9 });
    expect(await refusal(sut.import(parts({ ...files.adapterConfig, lora_alpha: 1e30 }, files.weights), 'op'))).toMatchObject({ status: 400, code: 'ADAPTER_OUT_OF_RANGE', details: { check: 'scale', field: 'lora_alpha' } });
    expect(await refusal(sut.import(parts({ ...files.adapterConfig, lora_alpha: 1e308, use_rslora: true, r: 2 }, files.weights), 'op'))).toMatchObject({ status: 400, details: { check: 'scale' } });
    expect(created).toHaveLength(0);
  });

  it('refuses NUL in a config string (it would reach the jsonb lineage) with a 400 naming it', async () => {
    const { sut } = build({ finite: true, maxAbsLogit: 3, promptTokens: 9 });
    expect(await refusal(sut.import(parts({ ...files.adapterConfig, base_model_name_or_path: 'a\u0000' }, files.weights), 'op'))).toMatchObject({
      status: 400,
      code: 'VALIDATION',
      details: [{ field: 'adapter_config.json.base_model_name_or_path' }],
    });
  });
});
