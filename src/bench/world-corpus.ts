import { REFUSALS } from '../world/phrasings.js';
import { type World, paraphraseItems, trainingItems } from './world.js';

/**
 * Texts the demo tokenizer is trained on: every trained and paraphrase prompt with its completion
 * (held-out authors excluded, so their names split into smaller pieces like any unseen name),
 * refusal sentences, and letters, digits and punctuation in both cases.
 */
export function tokenizerCorpus(world: World): string[] {
  const texts = [...trainingItems(world), ...paraphraseItems(world)].map((i) => i.prompt + i.completion);
  for (const r of REFUSALS) for (let k = 0; k < 20; k++) texts.push(` ${r}`);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  texts.push(letters, letters.toUpperCase(), '0123456789', '.,;:!?\'"()[]{}-_/\\@#$%^&*+=<>|~`');
  return texts;
}
