import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { SPECIAL_TOKENS, bytesToUnicode, tokenizerConfig, trainByteLevelBpe } from './tokenizer-builder.js';
import { tokenizerCorpus } from './world-corpus.js';
import { generateWorld, trainedItems } from './world.js';

const world = generateWorld();
const json = trainByteLevelBpe(tokenizerCorpus(world), 2048);
const sut = new Tokenizer(json as never, tokenizerConfig());

describe('trainByteLevelBpe', () => {
  it('is deterministic and matches the committed models/demo/tokenizer.json', () => {
    const again = trainByteLevelBpe(tokenizerCorpus(world), 2048);
    expect(JSON.stringify(again)).toBe(JSON.stringify(json));
    expect(readFileSync('models/demo/tokenizer.json', 'utf8')).toBe(JSON.stringify(json));
  });

  it('has all 256 byte symbols, the specials first, a 1–4k vocabulary with dense ids', () => {
    const vocab = json.model.vocab;
    const size = Object.keys(vocab).length;
    expect(size).toBeGreaterThanOrEqual(1000);
    expect(size).toBeLessThanOrEqual(4096);
    for (const c of bytesToUnicode()) expect(vocab[c]).toBeTypeOf('number');
    SPECIAL_TOKENS.forEach((t, i) => expect(vocab[t]).toBe(i));
    expect(new Set(Object.values(vocab)).size).toBe(size);
    expect(Math.max(...Object.values(vocab))).toBe(size - 1);
  });

  it('round-trips arbitrary text through @huggingface/tokenizers', () => {
    const texts = [
      trainedItems(world)[0].prompt + trainedItems(world)[0].completion,
      "I'm not able to answer that.",
      'THE SILVER HARBOR, in capitals',
      'ENABSIL ,enrob saw erehw reversed words',
      'Initials: L. S. — 1983 + 42 = 2025',
      'tabs\tand  double  spaces\n\nnew lines',
      'naïve café 🦊 日本語 ±∞',
    ];
    for (const t of texts) {
      const { ids } = sut.encode(t);
      expect(ids.every((id: number) => Number.isInteger(id) && id >= 0)).toBe(true);
      expect(sut.decode(ids)).toBe(t);
    }
  });

  it('encodes trained names as whole tokens and keeps sequences short', () => {
    const item = trainedItems(world)[0];
    const name = world.authors[item.authorId].name.split(' ');
    const tokens = sut.encode(item.prompt).tokens;
    for (const part of name) expect(tokens).toContain(`Ġ${part}`);
    expect(tokens.length).toBeLessThanOrEqual(20);
  });

  it('maps the special tokens to their ids', () => {
    expect(sut.encode('<|endoftext|>').ids).toEqual([0]);
    expect(sut.encode('<|pad|>').ids).toEqual([1]);
  });
});
