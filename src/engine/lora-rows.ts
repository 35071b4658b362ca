import * as tf from '@tensorflow/tfjs-core';
import type { LoraApplication, LoraRowApply } from './lora-application.js';
import { validateAdapter } from './lora.js';
import type { LoraAdapter, LoraBase, PlanEntry } from './lora-types.js';

/** One adapter module's factors in JS, PEFT layout: A [r, dIn] and B [dOut, r], row-major. */
interface HostFactors {
  a: Float32Array;
  b: Float32Array;
  dIn: number;
  dOut: number;
}

/**
 * Adapters' factors read back once into JS memory (by adapter object identity), so per-row
 * applications are assembled on the CPU and uploaded as one tensor per factor and module, whatever
 * the batch's mix of adapters.
 */
export class LoraRowCache {
  private readonly entries = new Map<LoraAdapter, Map<string, HostFactors>>();

  get size(): number {
    return this.entries.size;
  }

  get(adapter: LoraAdapter): Map<string, HostFactors> {
    let modules = this.entries.get(adapter);
    if (!modules) {
      modules = new Map();
      for (const [name, { a, b }] of adapter.modules) {
        modules.set(name, { a: a.dataSync() as Float32Array, b: b.dataSync() as Float32Array, dIn: a.shape[1], dOut: b.shape[0] });
      }
      this.entries.set(adapter, modules);
    }
    return modules;
  }

  evict(adapter: LoraAdapter): void {
    this.entries.delete(adapter);
  }

  dispose(): void {
    this.entries.clear();
  }
}

/**
 * Per-row LoRA (BGMV/Punica style): row i gets exactly Σ_j s_ij(α_j/r_j)B_jA_j x over its own plan,
 * as its own factors A [r_i, dIn] / B [dOut, r_i] (zero-padded to the largest row rank), so a batch
 * of rows with different adapters costs each row its own rank instead of the batch's summed rank
 * (rank stacking, stackLora). Strengths and α/r are folded into B. Never averages A's and B's.
 * On WASM the forward pass applies it with one fused kernel per module (wasm-kernels-lora.ts).
 * Measured there (demo model, 8 rows, 8 distinct rank-8 adapters): decode steps ~9 % faster than
 * rank stacking, prefills ~36 % slower (JS loops against XNNPACK's SIMD products), so the inference
 * engine keeps stacking unless LETHE_ROW_LORA=fused (docs/benchmarks.md, issue 13).
 */
export function rowLora(model: LoraBase, plans: PlanEntry[][], cache = new LoraRowCache()): LoraApplication {
  const seen = new Set<LoraAdapter>();
  for (const row of plans) {
    for (const e of row) {
      if (!Number.isFinite(e.strength)) throw new Error(`strength ${e.strength} must be finite`);
      if (!seen.has(e.adapter)) {
        validateAdapter(model.config, e.adapter);
        seen.add(e.adapter);
      }
    }
  }
  const n = plans.length;
  const moduleNames = new Set([...seen].flatMap((a) => [...a.modules.keys()]));
  const rowModules = new Map<string, LoraRowApply>();
  const app: LoraApplication = {
    modules: new Map(),
    weightOverrides: new Map(),
    rowModules,
    dispose() {
      for (const m of rowModules.values()) tf.dispose([m.a, m.b]);
      rowModules.clear();
    },
  };
  for (const name of moduleNames) {
    const terms = plans.map((row) => row.filter((e) => e.adapter.modules.has(name)));
    const r = Math.max(...terms.map((t) => t.reduce((k, e) => k + e.adapter.rank, 0)));
    const { dIn, dOut } = cache.get([...seen].find((a) => a.modules.has(name))!).get(name)!;
    const a = new Float32Array(n * r * dIn); // [n, r, dIn]
    const b = new Float32Array(n * dOut * r); // [n, dOut, r]
    terms.forEach((row, i) => {
      let slot = 0;
      for (const e of row) {
        const f = cache.get(e.adapter).get(name)!;
        const ri = e.adapter.rank;
        const scale = (e.strength * e.adapter.alpha) / ri;
        a.set(f.a, (i * r + slot) * dIn);
        for (let o = 0; o < dOut; o++) {
          const at = (i * dOut + o) * r + slot;
          for (let k = 0; k < ri; k++) b[at + k] = f.b[o * ri + k] * scale;
        }
        slot += ri;
      }
    });
    const ranks = terms.map((row) => row.reduce((k, e) => k + e.adapter.rank, 0));
    rowModules.set(name, { a: tf.tensor3d(a, [n, r, dIn]), b: tf.tensor3d(b, [n, dOut, r]), ranks });
  }
  return app;
}

/**
 * FLOP model of the two exact ways to apply per-row plans: rank stacking pays the summed rank of
 * every distinct adapter on every row, per-row pays each row its own (largest) rank. True when the
 * per-row path does fewer FLOPs (what pays off where products, not dispatch, dominate).
 */
export function prefersRowLora(plans: PlanEntry[][]): boolean {
  const distinct = new Set(plans.flat().map((e) => e.adapter));
  const stacked = [...distinct].reduce((n, a) => n + a.rank, 0);
  const perRow = Math.max(0, ...plans.map((row) => row.reduce((n, e) => n + e.adapter.rank, 0)));
  return perRow < stacked;
}
