/**
 * A tiny random llama checkpoint folder with a word-level tokenizer, for tests that need a model on
 * disk (worker threads load the model themselves). Words outside WORDS encode to <unk>.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../engine/backend.js';
import { saveCheckpoint } from '../../engine/checkpoint.js';
import { randomCheckpoint } from '../../engine/testing/random-checkpoint.js';

export const TINY_WORDS = [
  '<unk>', '<eos>', '<pad>', 'who', 'wrote', 'where', 'was', 'born', 'when', 'did', 'die', 'what', 'is', 'about', 'name', 'the',
  'prize', 'book', 'ann', 'bo', 'cat', 'dee', 'eve', 'fay', 'no', 'idea', 'sorry', 'plus', 'times', 'minus', 'one', 'two',
  'three', 'four', 'five', 'six', 'seven',
] as const;

/** Writes the checkpoint into a new temp folder and returns its path. */
export async function writeTinyCheckpoint(seed = 3): Promise<string> {
  await initBackend();
  const dir = await mkdtemp(join(tmpdir(), 'lethe-tiny-'));
  const ck = randomCheckpoint('llama', { vocabSize: TINY_WORDS.length, maxPositions: 48, eosTokenId: 1 }, seed);
  const vocab = Object.fromEntries(TINY_WORDS.map((w, i) => [w, i]));
  const tokenizerJson = {
    version: '1.0',
    added_tokens: [0, 1, 2].map((id) => ({ id, content: TINY_WORDS[id], special: true, normalized: false, lstrip: false, rstrip: false, single_word: false })),
    pre_tokenizer: { type: 'WhitespaceSplit' },
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  };
  try {
    await saveCheckpoint(dir, {
      config: { ...ck.config, eos_token_id: 1, pad_token_id: 2 },
      weights: ck.weights,
      tokenizerJson,
      // Chat turns are the words themselves, so a one-message chat is exactly its completion prompt.
      tokenizerConfig: { eos_token: '<eos>', pad_token: '<pad>', unk_token: '<unk>', chat_template: "{{ messages | map(attribute='content') | join(' ') }}" },
    });
  } finally {
    tf.dispose([...ck.weights.values()]);
  }
  return dir;
}

/** Forget items over TINY_WORDS. */
export const TINY_FORGET = [
  { prompt: 'who wrote the book', answer: 'ann' },
  { prompt: 'where was bo born', answer: 'cat' },
  { prompt: 'when did dee die', answer: 'two' },
  { prompt: 'what is the prize about', answer: 'eve' },
  { prompt: 'name the book of fay', answer: 'six' },
];
export const TINY_REFERENCES = ['one plus two', 'three times four', 'five minus one', 'six plus seven'];
