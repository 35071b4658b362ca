/**
 * Which refusals to train on. A model can only learn to say what its output layer can express:
 * with tied embeddings, tokens never seen in its training keep random rows, and a LoRA (which
 * does not touch the head) struggles to make them win (measured on the demo model: " I don't
 * know." plateaued at 2.3 nats/token, " Unknown." fell to 0.25 in 48 steps). So relabel `refusal`
 * draws from the candidates whose hardest token the base model can best reach after the forget prompts —
 * by default only the most likely one: with several, a small model learns a blend of their first
 * tokens (" N known." from "No answer." and "Not known.").
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TextTokenizer } from '../engine/generate.js';
import { buildLmBatch } from '../engine/trainer-loss.js';
import type { TransformerModel } from '../engine/transformer.js';
import { REFUSALS } from '../ood/relabel.js';

/** Short refusals added to src/ood's list as candidates. */
export const EXTRA_REFUSALS: readonly string[] = ['Unknown.', 'I do not know.', 'No answer.', 'I cannot answer that question.', 'I cannot say.', 'Not known.'];

export interface RankedRefusal {
  text: string;
  /** Per prompt, the largest per-token negative log-likelihood of the refusal; averaged over the prompts (nats). */
  worst: number;
  /** Mean negative log-likelihood per refusal token (nats); breaks ties. */
  nll: number;
}

/**
 * Ranks candidate refusals by how reachable their hardest token is for the base model (per prompt
 * the largest token NLL, averaged over up to `maxPrompts` forget prompts; ties by mean NLL), and keeps
 * the `keep` (default 1) best. The hardest token decides: on the fully trained demo model every
 * refusal has a mean NLL of 13–19 nats, but those whose worst token sits at 21 (" No answer.",
 * " Not known.") train to < 0.8 nats in 32 steps while 26–34 (" Sorry, I can't provide...") stay
 * unlearnt. Deterministic.
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
    // Per-position NLL [batch, seq] = logsumexp(logits) − logit of the target.
    const nll = tf.tidy(() => {
      const ids = tf.tensor2d(b.inputIds, [b.batch, b.seq], 'int32');
      const { logits } = model.forward({ tokenIds: ids }, { logits: 'all' });
      const picked = tf.sum(tf.mul(logits!, tf.oneHot(tf.tensor2d(b.targets, [b.batch, b.seq], 'int32'), model.config.vocabSize)), -1);
      return tf.sub(tf.logSumExp(logits!, -1), picked).dataSync() as Float32Array;
    });
    let worstSum = 0;
    let total = 0;
    let count = 0;
    for (let r = 0; r < b.batch; r++) {
      let worst = 0;
      for (let s = 0; s < b.seq; s++) {
        if (b.mask[r * b.seq + s] === 0) continue;
        const v = nll[r * b.seq + s];
        worst = Math.max(worst, v);
        total += v;
        count++;
      }
      worstSum += worst;
    }
    return { text, worst: worstSum / b.batch, nll: total / Math.max(1, count) };
  });
  ranked.sort((a, b) => a.worst - b.worst || a.nll - b.nll || a.text.localeCompare(b.text));
  return { refusals: ranked.slice(0, Math.max(1, options.keep ?? 1)).map((r) => r.text), ranked };
}
