import { disposeRowPrefill, rowPrefillBytes, type RowPrefill } from '../engine/generate-prefill.js';

/**
 * Base-model prefills of prompts the router just scored (DESIGN §3.2-3.3: features come from the
 * prefill the request runs anyway), keyed by token ids, waiting for the generation of the same
 * prompt. Each entry is taken once; a bound in bytes and entries evicts the oldest (a prompt whose
 * plan applied adapters, or whose generation ran on another engine, never comes back for it).
 */
export class PrefillStore {
  private readonly entries = new Map<string, { row: RowPrefill; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly maxBytes = 32 * 2 ** 20,
    private readonly maxEntries = 256,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Keeps a prompt's base prefill (takes ownership; replaces an older one of the same prompt). */
  put(prompt: readonly number[], row: RowPrefill): void {
    const key = keyOf(prompt);
    this.drop(key);
    const bytes = rowPrefillBytes(row);
    if (bytes > this.maxBytes) {
      disposeRowPrefill(row);
      return;
    }
    this.entries.set(key, { row, bytes });
    this.bytes += bytes;
    while (this.bytes > this.maxBytes || this.entries.size > this.maxEntries) this.drop(this.entries.keys().next().value!);
  }

  /** Removes and returns a prompt's base prefill (the caller owns it), or undefined. */
  take(prompt: readonly number[]): RowPrefill | undefined {
    if (this.entries.size === 0) return undefined;
    const key = keyOf(prompt);
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.bytes -= e.bytes;
    return e.row;
  }

  dispose(): void {
    for (const key of [...this.entries.keys()]) this.drop(key);
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    disposeRowPrefill(e.row);
    this.entries.delete(key);
    this.bytes -= e.bytes;
  }
}

function keyOf(prompt: readonly number[]): string {
  return prompt.join(',');
}
