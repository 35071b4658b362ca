/**
 * PEFT LoRA adapters: `adapter_config.json` + `adapter_model.safetensors` with keys
 * `base_model.model.<module>.lora_A.weight` [r, dIn] and `.lora_B.weight` [dOut, r], the layout
 * PEFT writes for both nn.Linear (LLaMA) and GPT-2's Conv1D (fan_in_fan_out only changes merging).
 * Imports are validated against the base model's modules before any tensor is created.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter, LoraModuleWeights } from './lora-types.js';
import type { ModelConfig } from './model-config.js';
import { parseSafetensors, SafetensorsError, serializeSafetensors, type SafetensorsTensor } from './safetensors.js';
import { linearModules } from './transformer-weights.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
const KEY_PREFIX = 'base_model.model.';

/** An adapter that PEFT or Lethe cannot exchange; `reason` says why. */
export class PeftError extends Error {
  constructor(readonly reason: string) {
    super(`invalid PEFT adapter: ${reason}`);
    this.name = 'PeftError';
  }
}

/** Which magnitude check refused an adapter (PeftMagnitudeError). */
export type PeftMagnitudeCheck = 'scale' | 'weight_norm';

/**
 * An adapter whose values are finite but too large to apply safely (issue 12): its effective
 * scale or a module's update bound exceeds the limit. `details` names the file or tensor.
 */
export class PeftMagnitudeError extends PeftError {
  constructor(
    readonly check: PeftMagnitudeCheck,
    reason: string,
    readonly details: { field: string; value: number; limit: number },
  ) {
    super(reason);
    this.name = 'PeftMagnitudeError';
  }
}

/**
 * Bounds of imported adapters (issue 12), documented in docs/service.md "Input validation and fuzzing":
 * - scale: the effective LoRA scale α/r (α/√r with use_rslora) ≤ 1024, the largest the service
 *   itself trains (unlearning alpha ≤ 1024 at rank ≥ 1);
 * - module gain: (α/r)·‖B‖_F·‖A‖_F ≤ 10⁴ per module. It bounds the update's spectral norm
 *   ‖ΔW‖₂ ≤ ‖B‖₂‖A‖₂ ≤ ‖B‖_F‖A‖_F times the scale, i.e. how much a module can amplify its input;
 *   a trained LoRA is in the tens to hundreds. Larger gains compound across layers towards float32
 *   overflow (3.4e38) and the completions return "" or garbage. The probe forward pass (finite
 *   logits) then covers what per-module bounds cannot.
 */
export const PEFT_MAGNITUDE_LIMITS = Object.freeze({ maxScale: 1024, maxModuleGain: 1e4 });

export interface PeftLimits {
  /** Largest rank accepted (default 256). */
  maxRank?: number;
  /** Largest adapter_model.safetensors accepted, bytes (default 512 MiB). */
  maxBytes?: number;
  /** Largest effective scale α/r (α/√r with use_rslora); default: unbounded (stored adapters). */
  maxScale?: number;
  /** Largest per-module gain (α/r)·‖B‖_F·‖A‖_F; default: unbounded (stored adapters). */
  maxModuleGain?: number;
}

export interface PeftExportOptions {
  /** `base_model_name_or_path` written to adapter_config.json. */
  baseModelNameOrPath?: string;
}

/** The files of an exported adapter. */
export interface PeftFiles {
  adapterConfig: Record<string, unknown>;
  /** adapter_model.safetensors bytes. */
  weights: Uint8Array;
}

/** Exports an adapter as PEFT files (deterministic: sorted keys, fixed config field order). */
export function exportPeftAdapter(adapter: LoraAdapter, model: ModelConfig, options: PeftExportOptions = {}): PeftFiles {
  validateRankAlpha(adapter.rank, adapter.alpha, Infinity);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [module, { a, b }] of adapter.modules) {
    tensors.set(`${KEY_PREFIX}${module}.lora_A.weight`, { shape: a.shape, data: Float32Array.from(a.dataSync()) });
    tensors.set(`${KEY_PREFIX}${module}.lora_B.weight`, { shape: b.shape, data: Float32Array.from(b.dataSync()) });
  }
  const adapterConfig: Record<string, unknown> = {
    alpha_pattern: {},
    base_model_name_or_path: options.baseModelNameOrPath ?? null,
    bias: 'none',
    fan_in_fan_out: model.family === 'gpt2',
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: adapter.alpha,
    lora_dropout: 0,
    modules_to_save: null,
    peft_type: 'LORA',
    r: adapter.rank,
    rank_pattern: {},
    revision: null,
    target_modules: [...adapter.targetModules].sort(),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: false,
  };
  return { adapterConfig, weights: serializeSafetensors(tensors, { format: 'pt' }) };
}

/**
 * Imports PEFT files for `model`. Refuses (PeftError) anything Lethe cannot apply exactly:
 * non-LoRA types, DoRA, bias training, modules_to_save, per-module rank/alpha patterns, regex
 * target_modules, unknown or unexpected keys, shape mismatches, non-finite values.
 * use_rslora (scale α/√r) is converted exactly to alpha' = α·√r. The caller owns the tensors.
 */
export function importPeftAdapter(adapterConfig: unknown, weights: Uint8Array, model: ModelConfig, limits: PeftLimits = {}): LoraAdapter {
  const maxRank = limits.maxRank ?? 256;
  const maxBytes = limits.maxBytes ?? 512 * 1024 * 1024;
  const cfg = checkConfig(adapterConfig);
  validateRankAlpha(cfg.r, cfg.lora_alpha, maxRank);
  // Lethe stores α' = α·√r for rsLoRA: it must stay finite (1e308·√r does not), and so must α'/r.
  const alpha = cfg.use_rslora ? cfg.lora_alpha * Math.sqrt(cfg.r) : cfg.lora_alpha;
  const scale = alpha / cfg.r;
  const scaleName = cfg.use_rslora ? 'lora_alpha/√r (use_rslora)' : 'lora_alpha/r';
  if (!Number.isFinite(alpha) || !Number.isFinite(scale)) {
    throw new PeftMagnitudeError('scale', `effective scale ${scaleName} overflows`, { field: 'lora_alpha', value: cfg.lora_alpha, limit: limits.maxScale ?? Number.MAX_VALUE });
  }
  if (limits.maxScale !== undefined && scale > limits.maxScale) {
    throw new PeftMagnitudeError('scale', `effective scale ${scaleName} = ${scale} exceeds ${limits.maxScale}`, { field: 'lora_alpha', value: scale, limit: limits.maxScale });
  }
  const targets = cfg.target_modules;
  const modules = new Map(linearModules(model).map((m) => [m.name, m]));
  const knownShorts = new Set([...modules.values()].map((m) => m.short));
  const unknownTargets = targets.filter((t) => !knownShorts.has(t));
  if (unknownTargets.length > 0) throw new PeftError(`target_modules ${unknownTargets.join(', ')} do not exist in this ${model.family} model`);

  if (weights.length > maxBytes) throw new PeftError(`${ADAPTER_WEIGHTS_FILE} is ${weights.length} bytes, over the ${maxBytes} limit`);
  let tensors: Map<string, SafetensorsTensor>;
  try {
    tensors = parseSafetensors(weights).tensors;
  } catch (error) {
    if (error instanceof SafetensorsError) throw new PeftError(`${ADAPTER_WEIGHTS_FILE}: ${error.reason}`);
    throw error;
  }
  const pairs = new Map<string, { a?: SafetensorsTensor; b?: SafetensorsTensor }>();
  for (const [key, t] of tensors) {
    const match = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(key);
    if (!match) throw new PeftError(`unexpected tensor "${key}" (only ${KEY_PREFIX}<module>.lora_A/lora_B.weight)`);
    const [, name, which] = match;
    const m = modules.get(name);
    if (!m) throw new PeftError(`tensor "${key}" names no linear module of this ${model.family} model`);
    if (!targets.includes(m.short)) throw new PeftError(`module ${name} is not in target_modules [${targets.join(', ')}]`);
    const want = which === 'A' ? [cfg.r, m.dIn] : [m.dOut, cfg.r];
    if (t.shape.join() !== want.join()) throw new PeftError(`"${key}" has shape [${t.shape}], expected [${want}]`);
    if (!allFinite(t.data)) throw new PeftError(`"${key}" has non-finite values`);
    const pair = pairs.get(name) ?? {};
    pair[which === 'A' ? 'a' : 'b'] = t;
    pairs.set(name, pair);
  }
  if (pairs.size === 0) throw new PeftError(`${ADAPTER_WEIGHTS_FILE} holds no LoRA tensors`);
  for (const [name, p] of pairs) if (!p.a || !p.b) throw new PeftError(`module ${name} lacks lora_${p.a ? 'B' : 'A'}.weight`);
  if (limits.maxModuleGain !== undefined) {
    for (const [name, p] of pairs) {
      const gain = scale * frobenius(p.b!.data) * frobenius(p.a!.data);
      if (!(gain <= limits.maxModuleGain)) {
        throw new PeftMagnitudeError('weight_norm', `module ${name}: scale·‖B‖·‖A‖ = ${gain.toPrecision(3)} exceeds ${limits.maxModuleGain}`, {
          field: `${KEY_PREFIX}${name}`,
          value: gain,
          limit: limits.maxModuleGain,
        });
      }
    }
  }

  const out = new Map<string, LoraModuleWeights>();
  // Keep the base model's module order so adapters compare and export identically.
  for (const name of modules.keys()) {
    const p = pairs.get(name);
    if (p) out.set(name, { a: tf.tensor2d(p.a!.data, p.a!.shape as [number, number]), b: tf.tensor2d(p.b!.data, p.b!.shape as [number, number]) });
  }
  return { rank: cfg.r, alpha, targetModules: [...targets], modules: out };
}

/** Writes adapter_config.json and adapter_model.safetensors into `dir` (created if needed). */
export async function savePeftAdapter(dir: string, adapter: LoraAdapter, model: ModelConfig, options: PeftExportOptions = {}): Promise<void> {
  const files = exportPeftAdapter(adapter, model, options);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, ADAPTER_CONFIG_FILE), `${JSON.stringify(files.adapterConfig, null, 2)}\n`);
  await writeFile(join(dir, ADAPTER_WEIGHTS_FILE), files.weights);
}

/** Reads and imports a PEFT adapter folder; errors name the file. */
export async function loadPeftAdapter(dir: string, model: ModelConfig, limits: PeftLimits = {}): Promise<LoraAdapter> {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  let config: unknown;
  try {
    config = JSON.parse(await readFile(configPath, 'utf8'));
  } catch (error) {
    throw new PeftError(`${configPath}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message}`);
  }
  let weights: Uint8Array;
  try {
    weights = new Uint8Array(await readFile(join(dir, ADAPTER_WEIGHTS_FILE)));
  } catch (error) {
    throw new PeftError(`${join(dir, ADAPTER_WEIGHTS_FILE)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return importPeftAdapter(config, weights, model, limits);
}

interface CheckedConfig {
  r: number;
  lora_alpha: number;
  target_modules: string[];
  use_rslora: boolean;
}

function checkConfig(raw: unknown): CheckedConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new PeftError(`${ADAPTER_CONFIG_FILE} is not a JSON object`);
  const c = raw as Record<string, unknown>;
  if (c.peft_type !== 'LORA') throw new PeftError(`peft_type ${JSON.stringify(c.peft_type)} is not "LORA"`);
  if (c.bias !== undefined && c.bias !== 'none') throw new PeftError(`bias ${JSON.stringify(c.bias)} is not supported (only "none")`);
  if (c.use_dora) throw new PeftError('DoRA adapters (use_dora) are not supported');
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = c[key];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Object.keys(v).length > 0)) {
      throw new PeftError(`${key} (per-module rank/alpha) is not supported`);
    }
  }
  if (c.modules_to_save !== undefined && c.modules_to_save !== null && !(Array.isArray(c.modules_to_save) && c.modules_to_save.length === 0)) {
    throw new PeftError('modules_to_save (full module copies) is not supported');
  }
  if (c.task_type !== undefined && c.task_type !== null && c.task_type !== 'CAUSAL_LM') {
    throw new PeftError(`task_type ${JSON.stringify(c.task_type)} is not CAUSAL_LM`);
  }
  const t = c.target_modules;
  let targets: string[];
  if (Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string' && /^[A-Za-z0-9_]+$/.test(x))) targets = [...new Set(t as string[])];
  else if (typeof t === 'string' && /^[A-Za-z0-9_]+$/.test(t)) targets = [t];
  else if (typeof t === 'string') throw new PeftError('regex target_modules are not supported; list the module names');
  else throw new PeftError('target_modules must be a non-empty list of module names');
  return { r: c.r as number, lora_alpha: c.lora_alpha as number, target_modules: targets, use_rslora: c.use_rslora === true };
}

/** ‖x‖_F in float64 (float32 squares of values near 3.4e38 would overflow; float64 ones do not). */
function frobenius(data: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i] * data[i];
  return Math.sqrt(sum);
}

function validateRankAlpha(r: unknown, alpha: unknown, maxRank: number): void {
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > maxRank) {
    throw new PeftError(`r ${JSON.stringify(r)} must be an integer in [1, ${maxRank}]`);
  }
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) {
    throw new PeftError(`lora_alpha ${JSON.stringify(alpha)} must be a positive finite number`);
  }
}

/** Every value finite. A plain loop: `every(Number.isFinite)` took ~1.3 ms of a serving engine's ~3 ms cold adapter import (issue 13). */
function allFinite(data: ArrayLike<number>): boolean {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return false;
  return true;
}
