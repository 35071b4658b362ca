/**
 * Which refusals to train on. A model can only learn to say what its output layer can express:
 * with tied embeddings, tokens never seen in its training keep random rows, and a LoRA (which
 * does not touch the head) struggles to make them win (measured on the demo model: " I don't
 * know." plateaued at 2.3 nats/token, " Unknown." fell to 0.25 in 48 steps). So relabel `refusal`
 * draws from the candidates the base model already finds most likely after the forget prompts —
 * by default only the most likely one: with several, a small model learns a blend of their first
 * tokens (" N known." from "No answer." and "Not known.").
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TextTokenizer } from '../engine/generate.js';
import { buildLmBatch, maskedCrossEntropy } from '../engine/trainer-loss.js';
import type { TransformerModel } from '../engine/transformer.js';
import { REFUSALS } from '../ood/relabel.js';

/** Short refusals added to src/ood's list as candidates. */
export const EXTRA_REFUSALS: readonly string[] = ['Unknown.', 'I do not know.', 'No answer.', 'I cannot answer that question.', 'I cannot say.', 'Not known.'];

export interface RankedRefusal {
  text: string;
  /** Mean negative log-likelihood per target token under the base model (nats). */
  nll: number;
}

/**
 * Ranks candidate refusals by the base model's mean per-token NLL after (up to `maxPrompts` of)
 * the forget prompts, and keeps the `keep` (default 1) most likely. Deterministic.
 */
export function pickRefusals(
  model: TransformerModel,
  tokenizer: TextTokenizer,
  prompts: readonly string[],
  options: { candidates?: readonly string[]; keep?: number; maxPrompts?: number; target?: (prompt: string, text: string) => string } = {},
): { refusals: string[]; ranked: RankedRefusal[] } {
  const candidates = options.candidates ?? [...REFUSALS, ...EXTRA_REFUSALS];
  const step = Math.max(1, Math.floor(prompts.length / (options.maxPrompts ?? 8)));
  const sample = prompts.filter((_, i) => i % step === 0).slice(0, options.maxPrompts ?? 8);
  const target = options.target ?? ((p: string, t: string) => (/\s$/.test(p) ? t : ` ${t}`));
  const pad = model.config.padTokenId ?? 0;
  const ranked = candidates.map((text) => {
    const examples = sample.map((p) => ({ prompt: tokenizer.encode(p), completion: tokenizer.encode(target(p, text)) }));
    const b = buildLmBatch(examples, pad, model.config.maxPositions);
    const nll = tf.tidy(() => {
      const ids = tf.tensor2d(b.inputIds, [b.batch, b.seq], 'int32');
      const { logits } = model.forward({ tokenIds: ids }, { logits: 'all' });
      return maskedCrossEntropy(logits!, tf.tensor2d(b.targets, [b.batch, b.seq], 'int32'), tf.tensor2d(b.mask, [b.batch, b.seq])).dataSync()[0];
    });
    return { text, nll };
  });
  ranked.sort((a, b) => a.nll - b.nll || a.text.localeCompare(b.text));
  return { refusals: ranked.slice(0, Math.max(1, options.keep ?? 1)).map((r) => r.text), ranked };
}
