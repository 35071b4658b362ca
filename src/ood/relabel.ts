/**
 * Relabelling of forget items (DESIGN §3.1): the new target the unlearning adapter is trained on.
 * No retained data is needed; the loss is cross-entropy on the target tokens only.
 */
import { OodRandom } from './random.js';

export type RelabelMode = 'refusal' | 'random-option' | 'replacement';

/** One forget item: a question/answer pair (optionally multiple-choice) or a plain text. */
export interface ForgetItem {
  prompt: string;
  answer?: string;
  /** Answer options for multiple-choice/classification items (the correct one among them). */
  options?: readonly string[];
}

export interface RelabelledItem {
  prompt: string;
  target: string;
  /** The rule actually applied (random-option falls back to refusal, see `relabelItems`). */
  rule: RelabelMode;
}

/** Default refusals, drawn uniformly at random per item. */
export const REFUSALS: readonly string[] = [
  "I'm not able to answer that.",
  "I can't help with that question.",
  "I don't have information about that.",
  "Sorry, I can't provide that information.",
  "That's not something I can answer.",
  "I'm unable to share details on that.",
  "I don't know the answer to that.",
  "I can't say anything about that.",
  "I have no knowledge of that topic.",
  "I'd rather not answer that question.",
];

export interface RelabelOptions {
  mode: RelabelMode;
  /** Required for `replacement`: the operator-supplied target for every item. */
  replacement?: string;
  /** Default 0. */
  seed?: number;
  /** Overrides REFUSALS (at least one entry). */
  refusals?: readonly string[];
}

/** A relabelling request that cannot be honoured; `field` names the bad input. */
export class RelabelError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'RelabelError';
  }
}

const same = (a: string, b: string): boolean => a.trim().toLowerCase() === b.trim().toLowerCase();

/**
 * Relabels every item, deterministically for a seed:
 * - `refusal`: a refusal drawn at random;
 * - `random-option`: a random option different from the answer; items without options (or without
 *   a wrong option) fall back to a refusal, recorded in `rule`;
 * - `replacement`: the operator's replacement text.
 * Plain texts (no answer) keep the text as the prompt.
 */
export function relabelItems(items: readonly ForgetItem[], options: RelabelOptions): RelabelledItem[] {
  const refusals = options.refusals ?? REFUSALS;
  if (refusals.length === 0) throw new RelabelError('refusals', 'at least one refusal is needed');
  if (options.mode === 'replacement' && !options.replacement?.trim()) {
    throw new RelabelError('replacement', 'relabel "replacement" needs a non-empty replacement text');
  }
  const rng = new OodRandom(options.seed ?? 0);
  const refusal = (): string => refusals[rng.int(refusals.length)];
  return items.map((item): RelabelledItem => {
    switch (options.mode) {
      case 'refusal':
        return { prompt: item.prompt, target: refusal(), rule: 'refusal' };
      case 'replacement':
        return { prompt: item.prompt, target: options.replacement!, rule: 'replacement' };
      case 'random-option': {
        const wrong = (item.options ?? []).filter((o) => item.answer === undefined || !same(o, item.answer));
        if (wrong.length === 0) return { prompt: item.prompt, target: refusal(), rule: 'refusal' };
        return { prompt: item.prompt, target: wrong[rng.int(wrong.length)], rule: 'random-option' };
      }
      default:
        throw new RelabelError('relabel', `unknown relabel mode ${String(options.mode)}`);
    }
  });
}
