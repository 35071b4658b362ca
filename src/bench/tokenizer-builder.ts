/**
 * Deterministic byte-level BPE trainer that writes a Hugging Face `tokenizer.json` (GPT-2 style:
 * ByteLevel pre-tokenizer and decoder, BPE model). The 256 byte symbols are always in the vocabulary,
 * so any text encodes and decodes exactly; merges are learned from the world's texts.
 */

/** Special tokens, ids 0.. in this order. `<|endoftext|>` ends every trained completion. */
export const SPECIAL_TOKENS = ['<|endoftext|>', '<|pad|>'] as const;

/** GPT-2's pre-tokenization pattern (what the HF ByteLevel pre-tokenizer uses with use_regex). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's reversible byte → printable character table. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table: string[] = new Array(256);
  bs.forEach((b, i) => (table[b] = String.fromCharCode(cs[i])));
  return table;
}

/** The shape of the `tokenizer.json` we write (only the fields we set). */
export interface TokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: { id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean; special: boolean }[];
  normalizer: null;
  pre_tokenizer: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  post_processor: null;
  decoder: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  model: {
    type: 'BPE'; dropout: null; unk_token: null; continuing_subword_prefix: null; end_of_word_suffix: null;
    fuse_unk: boolean; byte_fallback: boolean; ignore_merges: boolean;
    vocab: Record<string, number>; merges: [string, string][];
  };
}

/**
 * Trains byte-level BPE on `texts` up to `vocabSize` entries (specials + 256 bytes + merges).
 * Deterministic: the most frequent adjacent pair merges first, ties broken by the pair's string order.
 */
export function trainByteLevelBpe(texts: readonly string[], vocabSize: number): TokenizerJson {
  const byteChar = bytesToUnicode();
  const encoder = new TextEncoder();
  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    for (const m of text.matchAll(GPT2_SPLIT)) {
      const w = Array.from(encoder.encode(m[0]), (b) => byteChar[b]).join('');
      wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
    }
  }
  // words as symbol arrays, in a fixed order so counting is deterministic
  const words = [...wordCounts.keys()].sort().map((w) => ({ symbols: [...w], count: wordCounts.get(w) ?? 0 }));
  const vocab: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((t, i) => (vocab[t] = i));
  for (const c of [...byteChar].sort()) vocab[c] = Object.keys(vocab).length;
  const merges: [string, string][] = [];

  while (Object.keys(vocab).length < vocabSize) {
    const pairs = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let best = '';
    let bestCount = 1; // a pair seen once is not worth a token
    for (const [key, count] of pairs) {
      if (count > bestCount || (count === bestCount && best !== '' && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best === '') break;
    const [a, b] = best.split(' ');
    merges.push([a, b]);
    vocab[a + b] = Object.keys(vocab).length;
    for (const word of words) {
      const s = word.symbols;
      const out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(s[i]);
      }
      word.symbols = out;
    }
  }

  const byteLevel = { type: 'ByteLevel' as const, add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

/**
 * The demo model's chat template (issue 14). The model only knows `Question: …\nAnswer: ….` (see
 * formatPrompt): a user turn becomes a question, an assistant turn an answer, a system (or
 * developer) turn a plain line before them, and the generation prompt is `Answer:`, so a one-question
 * chat renders exactly the prompt the model was trained on. Other roles are refused by the template.
 */
export const DEMO_CHAT_TEMPLATE = [
  '{%- for message in messages -%}',
  "{%- if message.role == 'system' or message.role == 'developer' -%}{{ message.content + '\\n' }}",
  "{%- elif message.role == 'user' -%}{{ 'Question: ' + message.content + '\\n' }}",
  "{%- elif message.role == 'assistant' -%}{{ 'Answer: ' + message.content + '\\n' }}",
  "{%- else -%}{{ raise_exception('the demo model has no role ' + message.role) }}",
  '{%- endif -%}',
  '{%- endfor -%}',
  "{%- if add_generation_prompt -%}{{ 'Answer:' }}{%- endif -%}",
].join('\n');

/** Minimal `tokenizer_config.json` companion (special tokens, no BOS added, the chat template). */
export function tokenizerConfig(): Record<string, unknown> {
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: '<|endoftext|>',
    eos_token: '<|endoftext|>',
    pad_token: '<|pad|>',
    unk_token: null,
    add_bos_token: false,
    add_eos_token: false,
    model_max_length: 128,
    clean_up_tokenization_spaces: false,
    chat_template: DEMO_CHAT_TEMPLATE,
  };
}
