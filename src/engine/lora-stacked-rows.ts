/**
 * Per-row plans over a fixed set of adapters, stacked once (issue 13: the routing pass's
 * speculative rows). stackLora with per-row plans concatenates every module's factors on each call,
 * which on a small model costs as much as the forward pass it serves; here the factors are stacked
 * once for the set (stackLora at unit strengths) and each call builds only the [batch, Σr] scales.
 * The result equals stackLora(model, plans) to float32 rounding: same slots in the same order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { stackLora, type LoraFactorCache } from './lora.js';
import type { LoraApplication } from './lora-application.js';
import type { LoraAdapter, LoraBase, PlanEntry } from './lora-types.js';

export class StackedAdapters {
  private readonly unit: LoraApplication;
  /** Per module: the adapters holding it in slot order, with their rank and α/r. */
  private readonly slots = new Map<string, Array<{ adapter: LoraAdapter; rank: number; scale: number }>>();
  private readonly total = new Map<string, number>();

  /** `adapters`: distinct, in the order their slots take (as stackLora orders first appearances). */
  constructor(
    model: LoraBase,
    readonly adapters: readonly LoraAdapter[],
    cache: LoraFactorCache,
  ) {
    this.unit = stackLora(
      model,
      adapters.map((adapter) => ({ adapter, strength: 1 })),
      { cache },
    );
    for (const name of this.unit.modules.keys()) {
      const users = adapters.filter((a) => a.modules.has(name)).map((a) => {
        const p = cache.get(a);
        return { adapter: a, rank: p.rank, scale: p.scale };
      });
      this.slots.set(name, users);
      this.total.set(name, users.reduce((n, u) => n + u.rank, 0));
    }
  }

  /**
   * The application for one batch, row r running plans[r] (adapters of this set only; [] = base).
   * Borrows the stacked factors: disposing it frees only its scales.
   */
  rows(plans: PlanEntry[][]): LoraApplication {
    const owned: tf.Tensor[] = [];
    const app: LoraApplication = { modules: new Map(), weightOverrides: new Map(), dispose: () => tf.dispose(owned) };
    for (const [name, m] of this.unit.modules) {
      const users = this.slots.get(name)!;
      const width = this.total.get(name)!;
      const scale = new Float32Array(plans.length * width);
      plans.forEach((row, r) => {
        let offset = 0;
        for (const u of users) {
          let s = 0;
          for (const e of row) if (e.adapter === u.adapter) s += e.strength;
          scale.fill(s * u.scale + 0, r * width + offset, r * width + offset + u.rank);
          offset += u.rank;
        }
      });
      const t = tf.tensor2d(scale, [plans.length, width]);
      owned.push(t);
      app.modules.set(name, { aT: m.aT, bT: m.bT, scale: t });
    }
    return app;
  }

  /** True when the set holds `adapter`. */
  has(adapter: LoraAdapter): boolean {
    return this.adapters.includes(adapter);
  }

  dispose(): void {
    this.unit.dispose();
  }
}
