import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import type { LoraAdapter } from './lora-types.js';
import type { ModelConfig, ModelFamily } from './model-config.js';
import { exportPeftAdapter, importPeftAdapter, loadPeftAdapter, PEFT_MAGNITUDE_LIMITS, PeftError, PeftMagnitudeError, savePeftAdapter } from './peft.js';
import { serializeSafetensors, type SafetensorsTensor } from './safetensors.js';
import { randomCheckpoint } from './testing/random-checkpoint.js';
import { linearModules } from './transformer-weights.js';
import { createRng } from './trainer.js';

function modelConfig(family: ModelFamily): ModelConfig {
  const ckpt = randomCheckpoint(family, { dModel: 16, nLayers: 2 });
  ckpt.weights.forEach((t) => t.dispose());
  return ckpt.modelConfig;
}

/** A random adapter on the given short names, with shapes from the model's modules. */
function randomAdapter(config: ModelConfig, targets: string[], rank = 4, alpha = 8, seed = 1): LoraAdapter {
  const rng = createRng(seed);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng() * 2 - 1);
  const modules = new Map<string, { a: tf.Tensor2D; b: tf.Tensor2D }>();
  for (const m of linearModules(config).filter((x) => targets.includes(x.short))) {
    modules.set(m.name, { a: tf.tensor2d(rand(rank * m.dIn), [rank, m.dIn]), b: tf.tensor2d(rand(m.dOut * rank), [m.dOut, rank]) });
  }
  return { rank, alpha, targetModules: targets, modules };
}

function reasonOf(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    if (error instanceof PeftError) return error.reason;
    throw error;
  }
  return 'imported';
}

// The validation table below builds tensors while the suite is collected.
await initBackend();

const TARGETS: Record<ModelFamily, string[]> = { gpt2: ['c_attn', 'c_fc', 'c_proj'], llama: ['q_proj', 'v_proj', 'down_proj'] };

describe('PEFT adapters', () => {
  it.each(['gpt2', 'llama'] as const)('round-trip exactly through files (%s)', async (family) => {
    const config = modelConfig(family);
    const adapter = randomAdapter(config, TARGETS[family]);
    const dir = await mkdtemp(join(tmpdir(), 'lethe-peft-'));
    await savePeftAdapter(dir, adapter, config, { baseModelNameOrPath: 'lethe/demo' });
    const written = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect(written).toMatchObject({
      peft_type: 'LORA',
      r: 4,
      lora_alpha: 8,
      bias: 'none',
      fan_in_fan_out: family === 'gpt2',
      base_model_name_or_path: 'lethe/demo',
      target_modules: [...TARGETS[family]].sort(),
    });
    const sut = await loadPeftAdapter(dir, config);
    expect([sut.rank, sut.alpha]).toEqual([4, 8]);
    expect([...sut.modules.keys()]).toEqual([...adapter.modules.keys()]);
    for (const [name, { a, b }] of adapter.modules) {
      expect(sut.modules.get(name)!.a.dataSync()).toEqual(a.dataSync());
      expect(sut.modules.get(name)!.b.dataSync()).toEqual(b.dataSync());
    }
    // Keys as PEFT names them, and byte-identical re-export.
    const files = exportPeftAdapter(sut, config, { baseModelNameOrPath: 'lethe/demo' });
    expect(files.weights).toEqual(new Uint8Array(await readFile(join(dir, 'adapter_model.safetensors'))));
    const firstModule = linearModules(config).find((m) => TARGETS[family].includes(m.short))!.name;
    expect(new TextDecoder().decode(files.weights)).toContain(`"base_model.model.${firstModule}.lora_A.weight"`);
    expect(firstModule).toBe(family === 'gpt2' ? 'transformer.h.0.attn.c_attn' : 'model.layers.0.self_attn.q_proj');
  });

  describe('validation', () => {
    const config = modelConfig('llama');
    const m = linearModules(config).find((x) => x.short === 'q_proj')!;
    const good = { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj'], bias: 'none' };
    const a: SafetensorsTensor = { shape: [2, m.dIn], data: new Float32Array(2 * m.dIn).fill(0.1) };
    const b: SafetensorsTensor = { shape: [m.dOut, 2], data: new Float32Array(2 * m.dOut).fill(0.2) };
    const key = (s: string) => `base_model.model.${m.name}.${s}`;
    const file = (t: Record<string, SafetensorsTensor>) => serializeSafetensors(t);
    const ok = file({ [key('lora_A.weight')]: a, [key('lora_B.weight')]: b });

    it('imports a well-formed adapter (and converts rsLoRA exactly)', () => {
      expect(importPeftAdapter(good, ok, config).modules.size).toBe(1);
      expect(importPeftAdapter({ ...good, use_rslora: true }, ok, config).alpha).toBeCloseTo(4 * Math.sqrt(2), 12);
    });

    const cases: [string, unknown, Uint8Array, RegExp][] = [
      ['not LoRA', { ...good, peft_type: 'IA3' }, ok, /peft_type "IA3"/],
      ['rank zero', { ...good, r: 0 }, ok, /r 0 must be an integer/],
      ['rank over the limit', { ...good, r: 1000 }, ok, /in \[1, 256\]/],
      ['alpha NaN-ish', { ...good, lora_alpha: 'x' }, ok, /lora_alpha/],
      ['DoRA', { ...good, use_dora: true }, ok, /DoRA/],
      ['bias training', { ...good, bias: 'all' }, ok, /bias "all"/],
      ['rank pattern', { ...good, rank_pattern: { q_proj: 4 } }, ok, /rank_pattern/],
      ['modules_to_save', { ...good, modules_to_save: ['lm_head'] }, ok, /modules_to_save/],
      ['regex targets', { ...good, target_modules: '.*proj' }, ok, /regex target_modules/],
      ['unknown target', { ...good, target_modules: ['q_proj', 'c_attn'] }, ok, /c_attn do not exist/],
      ['path trick key', good, file({ 'base_model.model.../../etc.lora_A.weight': a }), /names no linear module/],
      ['unexpected key', good, file({ [key('lora_A.weight')]: a, [key('lora_B.weight')]: b, 'lm_head.weight': a }), /unexpected tensor "lm_head.weight"/],
      ['module outside targets', { ...good, target_modules: ['v_proj'] }, ok, /not in target_modules/],
      ['missing B', good, file({ [key('lora_A.weight')]: a }), /lacks lora_B/],
      ['wrong shape', good, file({ [key('lora_A.weight')]: b, [key('lora_B.weight')]: a }), /expected \[2,16\]/],
      ['NaN values', good, file({ [key('lora_A.weight')]: { ...a, data: a.data.map((v, i) => (i === 3 ? NaN : v)) }, [key('lora_B.weight')]: b }), /non-finite/],
      ['no tensors', good, file({}), /holds no LoRA tensors/],
      ['broken file', good, ok.subarray(0, 20), /adapter_model\.safetensors: header length/],
    ];
    it.each(cases)('refuses %s', (_name, cfg, bytes, reason) => {
      expect(reasonOf(() => importPeftAdapter(cfg, bytes, config))).toMatch(reason);
    });

    it('refuses oversized files before parsing', () => {
      expect(reasonOf(() => importPeftAdapter(good, ok, config, { maxBytes: 100 }))).toMatch(/over the 100 limit/);
    });

    describe('magnitudes (issue 12)', () => {
      const bounded = { maxScale: PEFT_MAGNITUDE_LIMITS.maxScale, maxModuleGain: PEFT_MAGNITUDE_LIMITS.maxModuleGain };
      const refusal = (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          if (e instanceof PeftMagnitudeError) return { check: e.check, field: e.details.field, reason: e.reason };
          throw e;
        }
        return 'imported';
      };
      const scaled = (k: number) => file({ [key('lora_A.weight')]: { ...a, data: a.data.map((v) => v * k) }, [key('lora_B.weight')]: { ...b, data: b.data.map((v) => v * k) } });

      it('refuses an rsLoRA alpha whose stored α·√r overflows, even without bounds (was an uncaught throw)', () => {
        expect(refusal(() => importPeftAdapter({ ...good, lora_alpha: 1.5e308, use_rslora: true }, ok, config))).toMatchObject({ check: 'scale', field: 'lora_alpha', reason: expect.stringMatching(/√r.*overflows/) });
      });

      it('refuses an effective scale over the bound, with and without rsLoRA', () => {
        expect(refusal(() => importPeftAdapter({ ...good, lora_alpha: 1e30 }, ok, config, bounded))).toMatchObject({ check: 'scale', reason: expect.stringMatching(/lora_alpha\/r = 5e\+29 exceeds 1024/) });
        // α/√r: 2000/√2 ≈ 1414 > 1024, while α/r = 1000 would pass.
        expect(refusal(() => importPeftAdapter({ ...good, lora_alpha: 2000, use_rslora: true }, ok, config, bounded))).toMatchObject({ check: 'scale' });
        expect(refusal(() => importPeftAdapter({ ...good, lora_alpha: 2048 }, ok, config, bounded))).toBe('imported');
      });

      it('refuses finite weights whose update bound scale·‖B‖·‖A‖ is over the limit, naming the module', () => {
        // ‖A‖_F = 0.1·√(2·16), ‖B‖_F = 0.2·√(2·16), scale 2: gain 1.28; ×1e18 on both: 1.28e36.
        expect(refusal(() => importPeftAdapter(good, scaled(1e18), config, bounded))).toMatchObject({ check: 'weight_norm', field: `base_model.model.${m.name}` });
        expect(refusal(() => importPeftAdapter(good, scaled(80), config, bounded))).toBe('imported'); // gain 8192
        expect(refusal(() => importPeftAdapter(good, scaled(90), config, bounded))).toMatchObject({ check: 'weight_norm' }); // 10368
      });

      it('leaves stored adapters (no bounds given) alone', () => {
        expect(refusal(() => importPeftAdapter({ ...good, lora_alpha: 1e30 }, scaled(1e3), config))).toBe('imported');
      });
    });
  });
});
