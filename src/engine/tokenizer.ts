/**
 * Text tokenizer over @huggingface/tokenizers (pure JS), reading a Hugging Face `tokenizer.json`.
 * Testable without model weights (CONVENTIONS §8).
 */
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';

/**
 * The parts of `tokenizer_config.json` (and `config.json` ids) that name special tokens.
 * Token strings may be given as in tokenizer_config.json: a string or `{ content }`.
 */
export interface TokenizerSpecials {
  bosToken?: string | { content: string } | null;
  eosToken?: string | { content: string } | null;
  padToken?: string | { content: string } | null;
  unkToken?: string | { content: string } | null;
  /** Ids win over token strings (config.json's bos_token_id...). */
  bosTokenId?: number | null;
  eosTokenId?: number | null;
  padTokenId?: number | null;
}

export interface EncodeOptions {
  /** Add the template's special tokens (BOS...); default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, PAD...) from the text; default false. */
  skipSpecialTokens?: boolean;
}

// Fallback names when no tokenizer_config.json says which token is which.
const BOS_NAMES = ['<s>', '<|begin_of_text|>', '<bos>', '[BOS]', '<|startoftext|>'];
const EOS_NAMES = ['</s>', '<|end_of_text|>', '<|endoftext|>', '<eos>', '[EOS]', '<|eot_id|>'];
const PAD_NAMES = ['<pad>', '[PAD]', '<|pad|>', '<|padding|>'];

/** A loaded tokenizer: encode/decode plus the special token ids and vocabulary size. */
export class TextTokenizer {
  /** Number of ids (largest id + 1, added tokens included); the embedding needs this many rows. */
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly padId: number | undefined;

  private constructor(private readonly inner: Tokenizer, specials: TokenizerSpecials) {
    let max = -1;
    for (const id of inner.get_vocab(true).values()) max = Math.max(max, id);
    this.vocabSize = max + 1;
    this.bosId = this.pick(specials.bosTokenId, specials.bosToken, BOS_NAMES);
    this.eosId = this.pick(specials.eosTokenId, specials.eosToken, EOS_NAMES);
    this.padId = this.pick(specials.padTokenId, specials.padToken, PAD_NAMES);
  }

  /** Builds a tokenizer from parsed tokenizer.json content (BPE, WordPiece, Unigram, WordLevel). */
  static fromJson(tokenizerJson: unknown, specials: TokenizerSpecials = {}): TextTokenizer {
    if (typeof tokenizerJson !== 'object' || tokenizerJson === null || Array.isArray(tokenizerJson)) {
      throw new Error('tokenizer.json is not a JSON object');
    }
    const json = { added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...tokenizerJson };
    const model = (json as { model?: { unk_token?: unknown } }).model;
    // The library reads unk/bos/eos names of WordLevel-style vocabularies from the config object.
    const config = {
      bos_token: tokenString(specials.bosToken),
      eos_token: tokenString(specials.eosToken),
      pad_token: tokenString(specials.padToken),
      unk_token: tokenString(specials.unkToken) ?? (typeof model?.unk_token === 'string' ? model.unk_token : undefined),
    };
    return new TextTokenizer(new Tokenizer(json, config), specials);
  }

  /** Reads `tokenizer.json` (and optional specials) from disk. */
  static async fromFile(path: string, specials: TokenizerSpecials = {}): Promise<TextTokenizer> {
    const text = await readFile(path, 'utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(`${path}: not valid JSON (${(error as Error).message})`);
    }
    return TextTokenizer.fromJson(json, specials);
  }

  /** Text → ids; with special tokens (the tokenizer's template, e.g. BOS) unless told otherwise. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /** Ids → text. Throws a RangeError for ids outside the vocabulary. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new RangeError(`token id ${id} outside [0, ${this.vocabSize})`);
    }
    return this.inner.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  /** Alias of eosId, the name generate() reads. */
  get eosTokenId(): number | undefined {
    return this.eosId;
  }

  /** The id of a token string, if it is in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  /** The token string of an id. */
  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }

  private pick(id: number | null | undefined, token: TokenizerSpecials['bosToken'], fallbacks: string[]): number | undefined {
    if (typeof id === 'number') return id;
    const name = tokenString(token);
    if (name !== undefined) return this.inner.token_to_id(name);
    const specials = new Set([...this.inner.get_added_tokens_decoder().values()].filter((t) => t.special).map((t) => t.content));
    for (const f of fallbacks) if (specials.has(f)) return this.inner.token_to_id(f);
    return undefined;
  }
}

function tokenString(t: TokenizerSpecials['bosToken']): string | undefined {
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && typeof t.content === 'string') return t.content;
  return undefined;
}
