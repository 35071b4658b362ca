import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TextTokenizer } from './tokenizer.js';

/** A tiny byte-level BPE tokenizer.json with a BOS template, written from scratch. */
function bpeJson(): Record<string, unknown> {
  const specials = ['<s>', '</s>', '<pad>'];
  const pieces = ['h', 'e', 'l', 'o', 'w', 'r', 'd', 'Ġ', 'he', 'll', 'hell', 'hello', 'Ġw', 'Ġwo'];
  const vocab = Object.fromEntries([...specials, ...pieces].map((p, i) => [p, i]));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    added_tokens: specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] } },
    },
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, vocab, merges: ['h e', 'l l', 'he ll', 'hell o', 'Ġ w', 'Ġw o'] },
  };
}

describe('TextTokenizer (BPE)', () => {
  const sut = TextTokenizer.fromJson(bpeJson());

  it('applies the merges in rank order and the BOS template', () => {
    // hello → h e l l o → he ll o → hell o → hello; " world" → Ġw o r l d → Ġwo r l d
    expect(sut.encode('hello world')).toEqual([0, 14, 16, 8, 5, 9]);
    expect(sut.encode('hello world', { addSpecialTokens: false })).toEqual([14, 16, 8, 5, 9]);
    expect(sut.encode('hello</s>', { addSpecialTokens: false })).toEqual([14, 1]);
  });

  it('decodes back to the text, with or without special tokens', () => {
    expect(sut.decode(sut.encode('hello world'))).toBe('<s>hello world');
    expect(sut.decode([0, 14, 16, 8, 5, 9, 1], { skipSpecialTokens: true })).toBe('hello world');
    expect(sut.decode([])).toBe('');
    expect(() => sut.decode([17])).toThrow(RangeError);
    expect(() => sut.decode([1.5])).toThrow(RangeError);
  });

  it('reports vocabulary size and special ids (by name fallback)', () => {
    expect(sut.vocabSize).toBe(17);
    expect([sut.bosId, sut.eosId, sut.padId, sut.eosTokenId]).toEqual([0, 1, 2, 1]);
    expect(sut.tokenToId('hello')).toBe(14);
    expect(sut.idToToken(16)).toBe('Ġwo');
  });

  it('takes special tokens from tokenizer_config.json / config.json when given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lethe-tok-'));
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(bpeJson()));
    const fromFile = await TextTokenizer.fromFile(join(dir, 'tokenizer.json'), { eosToken: { content: '<pad>' }, bosTokenId: 1 });
    expect([fromFile.bosId, fromFile.eosId, fromFile.padId]).toEqual([1, 2, 2]);
    await writeFile(join(dir, 'bad.json'), '{"model": ');
    await expect(TextTokenizer.fromFile(join(dir, 'bad.json'))).rejects.toThrow(/bad\.json: not valid JSON/);
  });
});

describe('TextTokenizer (WordLevel)', () => {
  it('maps whole words and unknown words to [UNK]', () => {
    const sut = TextTokenizer.fromJson({
      version: '1.0',
      added_tokens: [{ id: 0, content: '[UNK]', special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }],
      pre_tokenizer: { type: 'WhitespaceSplit' },
      model: { type: 'WordLevel', vocab: { '[UNK]': 0, the: 1, cat: 2 }, unk_token: '[UNK]' },
    });
    expect(sut.encode('the cat sat')).toEqual([1, 2, 0]);
    expect(sut.decode([1, 2])).toBe('the cat');
    expect(sut.vocabSize).toBe(3);
    expect(sut.bosId).toBeUndefined();
  });
});
