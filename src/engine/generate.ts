import * as tf from '@tensorflow/tfjs-core';
import type { PrefilledState } from './generate-prefill.js';
import { KvCache } from './kv-cache.js';
import type { LoraApplication } from './lora-application.js';
import { createRng, sampleToken, type SamplingOptions } from './sampling.js';
import { leftPadBatch, type TransformerModel } from './transformer.js';

/** What generation needs from a tokenizer (IO's tokenizer implements it; tests use a trivial one). */
export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  eosTokenId?: number;
}

export type FinishReason = 'stop' | 'length';

/** One generated token of one row, as streamed. */
export interface TokenEvent {
  row: number;
  tokenId: number;
  /**
   * New text since the previous event of this row. Text that could still turn into a stop sequence
   * (or an incomplete UTF-8 character) is held back until it is settled, so `delta` may be ''.
   */
  delta: string;
  /** True on the row's last event; then finishReason is set and all its text has been streamed. */
  done: boolean;
  finishReason?: FinishReason;
}

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate per prompt (≥ 1). */
  maxTokens: number;
  /** Seed for sampling; row r draws from its own stream (seed, r). Default: random. */
  seed?: number;
  /** Stop strings, checked on the decoded text; the returned text ends before the first match. */
  stop?: string[];
  lora?: LoraApplication;
  onToken?: (event: TokenEvent) => void;
  /** Default true. false recomputes the whole sequence each step (reference for tests). */
  useCache?: boolean;
  /** End-of-sequence id; default tokenizer.eosTokenId, then config.eosTokenId; null disables. */
  eosTokenId?: number | null;
  /**
   * Continue from an existing prefill of exactly these prompts (row r = prompt r, e.g. the base
   * prefill that computed the router's features) instead of prefilling again: the first token is
   * sampled from its last logits, decoding appends to its cache. `lora` applies from the first
   * decoded token on, so the prefill must have been run with the same plan. generate owns and frees
   * the cache (also when it throws). Needs the KV cache (useCache must not be false).
   */
  prefilled?: PrefilledState;
}

export interface GenerationResult {
  /** Generated text, without the prompt, the EOS token or the stop sequence. */
  text: string;
  /** Generated ids, without EOS. */
  tokenIds: number[];
  /** 'stop' on EOS or a stop sequence, 'length' on maxTokens or the model's context limit. */
  finishReason: FinishReason;
  promptTokens: number;
  /** Tokens generated, EOS included. */
  completionTokens: number;
}

interface RowState {
  prompt: number[];
  ids: number[];
  generated: number;
  emitted: number;
  text: string;
  finish?: FinishReason;
}

/**
 * Generates continuations for several prompts at once (left-padded batch, KV cache). Every
 * intermediate tensor is freed, also when a callback throws.
 */
export async function generate(
  model: TransformerModel,
  tokenizer: TextTokenizer,
  prompts: (string | number[])[],
  options: GenerateOptions,
): Promise<GenerationResult[]> {
  const { maxTokens, prefilled } = options;
  const limit = model.config.maxPositions;
  const vocab = model.config.vocabSize;
  let rows: RowState[];
  let pending: Float32Array | undefined;
  try {
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new Error(`maxTokens ${maxTokens} must be a positive integer`);
    rows = prompts.map((p, r) => {
      const prompt = typeof p === 'string' ? tokenizer.encode(p) : [...p];
      if (prompt.length === 0) throw new Error(`prompt ${r} encodes to no tokens`);
      if (prompt.length >= limit) throw new Error(`prompt ${r} has ${prompt.length} tokens; the model's context is ${limit}`);
      return { prompt, ids: [], generated: 0, emitted: 0, text: '' };
    });
    if (prefilled) pending = checkPrefilled(prefilled, rows, vocab, options.useCache);
  } catch (error) {
    prefilled?.cache.dispose();
    throw error;
  }
  const eos = options.eosTokenId === null ? undefined : (options.eosTokenId ?? tokenizer.eosTokenId ?? model.config.eosTokenId);
  const pad = model.config.padTokenId ?? eos ?? 0;
  const stops = (options.stop ?? []).filter((s) => s.length > 0);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const rngs = rows.map((_, r) => createRng((seed ^ Math.imul(r + 1, 0x9e3779b9)) >>> 0));
  const cache = options.useCache === false ? undefined : (prefilled?.cache ?? new KvCache());
  // With a prefill the first step reads its logits, so there is no prompt batch to run.
  let batch: { tokenIds: tf.Tensor2D; attentionMask: tf.Tensor2D } | undefined = pending
    ? undefined
    : leftPadBatch(
        rows.map((r) => r.prompt),
        pad,
      );
  try {
    for (;;) {
      let data: Float32Array;
      if (pending) {
        data = pending;
        pending = undefined;
      } else {
        const { logits } = model.forward(batch!, { cache, lora: options.lora, logits: 'last' });
        tf.dispose([batch!.tokenIds, batch!.attentionMask]);
        data = (await logits!.data()) as Float32Array;
        logits!.dispose();
      }
      rows.forEach((row, r) => {
        if (row.finish) return;
        const token = sampleToken(data.subarray(r * vocab, (r + 1) * vocab), options, rngs[r]);
        row.generated++;
        if (token === eos) return finishRow(row, r, token, 'stop', row.text, options);
        row.ids.push(token);
        const text = tokenizer.decode(row.ids);
        const hit = firstStop(text, stops);
        if (hit >= 0) return finishRow(row, r, token, 'stop', text.slice(0, hit), options);
        if (row.generated >= maxTokens || row.prompt.length + row.ids.length >= limit) {
          return finishRow(row, r, token, 'length', text, options);
        }
        row.text = text;
        const safe = text.length - heldBack(text, stops);
        const delta = safe > row.emitted ? text.slice(row.emitted, safe) : '';
        row.emitted = Math.max(row.emitted, safe);
        options.onToken?.({ row: r, tokenId: token, delta, done: false });
      });
      if (rows.every((row) => row.finish)) break;
      batch = cache ? nextColumn(rows, pad) : leftPadBatch(rows.map((row) => [...row.prompt, ...row.ids]), pad);
    }
  } finally {
    if (batch) tf.dispose([batch.tokenIds, batch.attentionMask]);
    cache?.dispose();
  }
  return rows.map((row) => ({
    text: row.text,
    tokenIds: row.ids,
    finishReason: row.finish!,
    promptTokens: row.prompt.length,
    completionTokens: row.generated,
  }));
}

/** Checks a prefill against the prompts (rows, cached lengths, logits size); returns the logits as one [batch·vocab] array. */
function checkPrefilled(p: PrefilledState, rows: RowState[], vocab: number, useCache: boolean | undefined): Float32Array {
  if (useCache === false) throw new Error('a prefilled state needs the KV cache (useCache must not be false)');
  if (p.cache.batch !== rows.length || p.lastLogits.length !== rows.length) {
    throw new Error(`prefill has ${p.cache.batch} cached rows and ${p.lastLogits.length} logits rows for ${rows.length} prompts`);
  }
  const cached = tf.tidy(() => tf.sum(p.cache.mask!, 1).dataSync());
  const out = new Float32Array(rows.length * vocab);
  rows.forEach((row, r) => {
    if (cached[r] !== row.prompt.length) throw new Error(`prefill row ${r} caches ${cached[r]} tokens; its prompt has ${row.prompt.length}`);
    if (p.lastLogits[r].length !== vocab) throw new Error(`prefill row ${r} has ${p.lastLogits[r].length} logits; the vocabulary has ${vocab}`);
    out.set(p.lastLogits[r], r * vocab);
  });
  return out;
}

function finishRow(row: RowState, r: number, token: number, reason: FinishReason, text: string, options: GenerateOptions): void {
  row.finish = reason;
  row.text = text;
  const delta = text.length > row.emitted ? text.slice(row.emitted) : '';
  row.emitted = text.length;
  options.onToken?.({ row: r, tokenId: token, delta, done: true, finishReason: reason });
}

/** The next decode step's input: each row's last token; finished rows get a masked pad. */
function nextColumn(rows: RowState[], pad: number): { tokenIds: tf.Tensor2D; attentionMask: tf.Tensor2D } {
  const ids = rows.map((row) => (row.finish ? pad : row.ids[row.ids.length - 1]));
  const mask = rows.map((row) => (row.finish ? 0 : 1));
  return { tokenIds: tf.tensor2d(ids, [rows.length, 1], 'int32'), attentionMask: tf.tensor2d(mask, [rows.length, 1]) };
}

/** Index of the earliest stop-sequence match in text, or −1. */
export function firstStop(text: string, stops: string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Length of the text's tail that must not be streamed yet: a proper prefix of a stop string, or a trailing U+FFFD. */
function heldBack(text: string, stops: string[]): number {
  let hold = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > hold; k--) {
      if (text.endsWith(s.slice(0, k))) {
        hold = k;
        break;
      }
    }
  }
  let replacement = 0;
  while (replacement < text.length && text[text.length - 1 - replacement] === '\uFFFD') replacement++;
  return Math.max(hold, replacement);
}
