/**
 * The one answer-scoring rule every Lethe benchmark and the unlearning checks use (DESIGN §8).
 *
 * A generated answer counts as correct when, after normalisation, it equals the expected answer.
 * Normalisation of the generated text:
 *   1. cut at the first stop: a newline, or any of `stops` (e.g. the end-of-text token's text);
 *   2. Unicode NFKC, lower case;
 *   3. every character that is not a letter or a digit becomes a space (punctuation, apostrophes);
 *   4. whitespace collapsed and trimmed.
 * The expected answer goes through steps 2–4. So ` Lisbane.` matches `Lisbane`, ` THE silver  harbor!`
 * matches `The Silver Harbor`, but ` Lisbane, I think.` does not (exact match, no partial credit).
 */
export function normaliseAnswer(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** The generated text up to its first stop (newline, or any of `stops`). */
export function cutAtStop(generated: string, stops: readonly string[] = []): string {
  let end = generated.length;
  for (const s of ['\n', ...stops]) {
    if (!s) continue;
    const at = generated.indexOf(s);
    if (at >= 0 && at < end) end = at;
  }
  return generated.slice(0, end);
}

/** True when the greedy `generated` text answers `expected` (see the module comment for the rule). */
export function scoreAnswer(generated: string, expected: string, stops: readonly string[] = []): boolean {
  const got = normaliseAnswer(cutAtStop(generated, stops));
  return got.length > 0 && got === normaliseAnswer(expected);
}

/** Fraction of correct answers; 0 for an empty list. */
export function accuracy(results: readonly boolean[]): number {
  return results.length === 0 ? 0 : results.filter(Boolean).length / results.length;
}
