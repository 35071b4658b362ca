import * as tf from '@tensorflow/tfjs-core';
import { transpose2dJs } from './layers.js';
import type { LoraApplication, LoraModuleApply } from './lora-application.js';
import type { LoraAdapter, LoraBase, PlanEntry } from './lora-types.js';
import type { ModelConfig, ModelFamily } from './model-config.js';
import { linearModules, type LinearModule } from './transformer-weights.js';

export type { LoraApplication, LoraModuleApply } from './lora-application.js';

/** Default PEFT target_modules: every attention and MLP projection. */
export const DEFAULT_TARGET_MODULES: Record<ModelFamily, readonly string[]> = {
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  gpt2: ['c_attn', 'c_proj', 'c_fc'],
};

/** The model's linear modules whose short name is in `targets` (default: DEFAULT_TARGET_MODULES). */
export function targetLinearModules(config: ModelConfig, targets?: readonly string[]): LinearModule[] {
  const wanted = new Set(targets ?? DEFAULT_TARGET_MODULES[config.family]);
  const found = linearModules(config).filter((m) => wanted.has(m.short));
  const unknown = [...wanted].filter((t) => !found.some((m) => m.short === t));
  if (unknown.length > 0) throw new Error(`unknown LoRA target modules for ${config.family}: ${unknown.join(', ')}`);
  return found;
}

/** An adapter's factors in the fast layout: Aᵀ [dIn, r], Bᵀ [r, dOut]. */
export interface PreparedLora {
  rank: number;
  /** α / r */
  scale: number;
  modules: Map<string, { aT: tf.Tensor2D; bT: tf.Tensor2D }>;
}

/**
 * Caches adapters' transposed factors by adapter object identity, so a router that composes the
 * same adapters request after request transposes each one once. Owns the cached tensors.
 */
export class LoraFactorCache {
  private readonly entries = new Map<LoraAdapter, PreparedLora>();

  get size(): number {
    return this.entries.size;
  }

  get(adapter: LoraAdapter): PreparedLora {
    let prepared = this.entries.get(adapter);
    if (!prepared) {
      const modules = new Map<string, { aT: tf.Tensor2D; bT: tf.Tensor2D }>();
      for (const [name, { a, b }] of adapter.modules) modules.set(name, { aT: transpose2dJs(a), bT: transpose2dJs(b) });
      prepared = { rank: adapter.rank, scale: adapter.alpha / adapter.rank, modules };
      this.entries.set(adapter, prepared);
    }
    return prepared;
  }

  /** Frees one adapter's cached factors (call when an adapter is revoked or replaced). */
  evict(adapter: LoraAdapter): void {
    const prepared = this.entries.get(adapter);
    if (!prepared) return;
    for (const m of prepared.modules.values()) tf.dispose([m.aT, m.bT]);
    this.entries.delete(adapter);
  }

  dispose(): void {
    for (const adapter of [...this.entries.keys()]) this.evict(adapter);
  }
}

/** Checks an adapter against the model: known modules, A [r, dIn], B [dOut, r], finite α. */
export function validateAdapter(config: ModelConfig, adapter: LoraAdapter): void {
  const dims = new Map(linearModules(config).map((m) => [m.name, m]));
  const problems: string[] = [];
  if (!Number.isInteger(adapter.rank) || adapter.rank < 1) problems.push(`rank ${adapter.rank} must be a positive integer`);
  if (!Number.isFinite(adapter.alpha)) problems.push(`alpha ${adapter.alpha} must be finite`);
  for (const [name, { a, b }] of adapter.modules) {
    const m = dims.get(name);
    if (!m) problems.push(`module ${name} is not a linear module of this ${config.family} model`);
    else if (a.shape.join() !== `${adapter.rank},${m.dIn}` || b.shape.join() !== `${m.dOut},${adapter.rank}`) {
      problems.push(`${name}: A [${a.shape}] / B [${b.shape}] should be [${adapter.rank},${m.dIn}] / [${m.dOut},${adapter.rank}]`);
    }
  }
  if (problems.length > 0) throw new Error(`adapter does not fit the model: ${problems.join('; ')}`);
}

function emptyApplication(): LoraApplication {
  const app: LoraApplication = {
    modules: new Map(),
    weightOverrides: new Map(),
    dispose() {
      for (const m of app.modules.values()) tf.dispose([m.aT, m.bT, m.scale]);
      for (const w of app.weightOverrides.values()) w.dispose();
      app.modules.clear();
      app.weightOverrides.clear();
    },
  };
  return app;
}

export interface StackOptions {
  /** Reuse transposed factors across calls; without it they are prepared and freed here. */
  cache?: LoraFactorCache;
}

/**
 * Rank stacking: the exact sum Σ_i s_i(α_i/r_i)B_iA_i x as one rank-Σr update per module.
 * `plan` is one plan for every row (scale [1, Σr]) or one plan per batch row (scale [batch, Σr];
 * every adapter used anywhere in the batch gets a slot, and a row's slots for adapters it does not
 * use are 0). An adapter listed twice in a row adds its strengths. Never averages A's and B's.
 */
export function stackLora(model: LoraBase, plan: PlanEntry[] | PlanEntry[][], options: StackOptions = {}): LoraApplication {
  const rows: PlanEntry[][] = isPerRow(plan) ? plan : [plan];
  const cache = options.cache ?? new LoraFactorCache();
  const app = emptyApplication();
  try {
    const adapters: LoraAdapter[] = [];
    for (const row of rows) {
      for (const e of row) {
        if (!Number.isFinite(e.strength)) throw new Error(`strength ${e.strength} must be finite`);
        if (!adapters.includes(e.adapter)) {
          validateAdapter(model.config, e.adapter);
          adapters.push(e.adapter);
        }
      }
    }
    const moduleNames = new Set(adapters.flatMap((a) => [...a.modules.keys()]));
    for (const name of moduleNames) {
      const users = adapters.filter((a) => a.modules.has(name));
      const prepared = users.map((a) => cache.get(a));
      const totalRank = prepared.reduce((n, p) => n + p.rank, 0);
      const scale = new Float32Array(rows.length * totalRank);
      rows.forEach((row, r) => {
        let offset = 0;
        users.forEach((adapter, k) => {
          const s = row.filter((e) => e.adapter === adapter).reduce((acc, e) => acc + e.strength, 0);
          scale.fill(s * prepared[k].scale + 0, r * totalRank + offset, r * totalRank + offset + prepared[k].rank);
          offset += prepared[k].rank;
        });
      });
      const entry: LoraModuleApply = {
        aT: tf.concat(prepared.map((p) => p.modules.get(name)!.aT), 1),
        bT: tf.concat(prepared.map((p) => p.modules.get(name)!.bT), 0),
        scale: tf.tensor2d(scale, [rows.length, totalRank]),
      };
      app.modules.set(name, entry);
    }
    return app;
  } catch (error) {
    app.dispose();
    throw error;
  } finally {
    if (!options.cache) cache.dispose();
  }
}

/**
 * Merging: a cached W' = W + Σ_i s_i(α_i/r_i)(B_iA_i)ᵀ per module, in the fast layout, for a hot
 * plan shared by every row. Dispose the returned application to free the merged copies.
 * Computed as Aᵀ_stack·(scale ⊙ Bᵀ_stack): one [dIn, Σr]·[Σr, dOut] product, no transpose flags.
 */
export function mergeLora(model: LoraBase, plan: PlanEntry[], options: StackOptions = {}): LoraApplication {
  const stacked = stackLora(model, plan, options);
  const app = emptyApplication();
  try {
    for (const [name, m] of stacked.modules) {
      const merged = tf.tidy(() => {
        const delta = tf.matMul(m.aT, tf.mul(m.bT, tf.reshape(m.scale, [-1, 1])));
        return tf.add(model.params.get(`${name}.weight`)!, delta) as tf.Tensor2D;
      });
      app.weightOverrides.set(name, merged);
    }
    return app;
  } finally {
    stacked.dispose();
  }
}

function isPerRow(plan: PlanEntry[] | PlanEntry[][]): plan is PlanEntry[][] {
  return plan.length > 0 && Array.isArray(plan[0]);
}
