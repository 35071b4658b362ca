import { disposeRowPrefill, rowPrefillBytes, type RowPrefill } from '../engine/generate-prefill.js';

/**
 * Prefills of prompts the router just scored (DESIGN §3.2-3.3: features come from the prefill the
 * request runs anyway), keyed by token ids and the plan they ran with (`''`: the base model; else
 * the plan's signature, a speculative adapted prefill of the routing pass), waiting for the
 * generation of the same prompt with the same plan. Each entry is taken once; a bound in bytes and
 * entries evicts the oldest (a guess the router did not take, or a generation that ran on another
 * engine, never comes back for it).
 */
export class PrefillStore {
  /** prompt key → plan signature → entry; insertion order of `order` is age. */
  private readonly byPrompt = new Map<string, Map<string, { row: RowPrefill; bytes: number }>>();
  private readonly order = new Map<string, { prompt: string; plan: string }>();
  private bytes = 0;

  constructor(
    private readonly maxBytes = 32 * 2 ** 20,
    private readonly maxEntries = 256,
  ) {}

  get size(): number {
    return this.order.size;
  }

  /** Keeps a prompt's prefill under `plan` (takes ownership; replaces an older one of the same prompt and plan). */
  put(prompt: readonly number[], row: RowPrefill, plan = ''): void {
    const p = prompt.join(',');
    this.drop(p, plan);
    const bytes = rowPrefillBytes(row);
    if (bytes > this.maxBytes) {
      disposeRowPrefill(row);
      return;
    }
    let plans = this.byPrompt.get(p);
    if (!plans) this.byPrompt.set(p, (plans = new Map()));
    plans.set(plan, { row, bytes });
    this.order.set(`${p}|${plan}`, { prompt: p, plan });
    this.bytes += bytes;
    while (this.bytes > this.maxBytes || this.order.size > this.maxEntries) {
      const oldest = this.order.values().next().value!;
      this.drop(oldest.prompt, oldest.plan);
    }
  }

  /**
   * Removes and returns a prompt's prefill under `plan` (the caller owns it), or undefined. The
   * prompt's prefills under other plans are dropped: its generation is starting, so they are
   * guesses the router did not take (or a base prefill its adapters make useless).
   */
  take(prompt: readonly number[], plan = ''): RowPrefill | undefined {
    if (this.order.size === 0) return undefined;
    const p = prompt.join(',');
    const plans = this.byPrompt.get(p);
    if (!plans) return undefined;
    const e = plans.get(plan);
    if (e) {
      plans.delete(plan);
      this.order.delete(`${p}|${plan}`);
      this.bytes -= e.bytes;
    }
    for (const other of [...plans.keys()]) this.drop(p, other);
    this.byPrompt.delete(p);
    return e?.row;
  }

  dispose(): void {
    for (const { prompt, plan } of [...this.order.values()]) this.drop(prompt, plan);
  }

  private drop(prompt: string, plan: string): void {
    const plans = this.byPrompt.get(prompt);
    const e = plans?.get(plan);
    if (!plans || !e) return;
    disposeRowPrefill(e.row);
    plans.delete(plan);
    if (plans.size === 0) this.byPrompt.delete(prompt);
    this.order.delete(`${prompt}|${plan}`);
    this.bytes -= e.bytes;
  }
}

/** A plan's signature as prefills are kept under it: `key*strength` in plan order, `+`-joined; `''` for none. */
export function planSignature(plan: ReadonlyArray<{ key: string; strength: number }>): string {
  return plan.map((e) => `${e.key}*${e.strength}`).join('+');
}
