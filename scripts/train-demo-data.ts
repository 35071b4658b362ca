/** Tokenised batches for the demo model: prompt + completion + <|endoftext|>, loss on completion tokens. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { createRng, type WorldItem } from '../src/bench/world.js';

export interface DemoTokenizer {
  tok: Tokenizer;
  /** tokenizer.json and tokenizer_config.json as parsed, for the checkpoint writer. */
  tokJson: { model: { vocab: Record<string, number> } };
  tokConfig: Record<string, unknown>;
  eosId: number;
  padId: number;
  vocabSize: number;
}

/** The demo model's tokenizer (models/demo by default; the trainer keeps it as it is). */
export function loadDemoTokenizer(dir = 'models/demo'): DemoTokenizer {
  const tokJson = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as DemoTokenizer['tokJson'];
  const tokConfig = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  const vocab = tokJson.model.vocab;
  return {
    tok: new Tokenizer(tokJson, tokConfig),
    tokJson,
    tokConfig,
    eosId: vocab['<|endoftext|>'],
    padId: vocab['<|pad|>'],
    vocabSize: Object.keys(vocab).length,
  };
}

export interface EncodedItem {
  item: WorldItem;
  ids: number[];
  /** Number of prompt tokens; targets are ids[promptLen..] (completion and end-of-text). */
  promptLen: number;
}

export interface Batch {
  /** int32 [b, seq], right-padded. */
  ids: Int32Array;
  b: number;
  seq: number;
  /** Flat row indices bi·seq + t whose next token is a target. */
  rows: Int32Array;
  labels: Int32Array;
}

export function encodeItems(tok: Tokenizer, items: readonly WorldItem[], eosId: number): EncodedItem[] {
  return items.map((item) => {
    const p = tok.encode(item.prompt).ids;
    const c = tok.encode(item.completion).ids;
    return { item, ids: [...p, ...c, eosId], promptLen: p.length };
  });
}

export function makeBatch(items: readonly EncodedItem[], padId: number): Batch {
  const seq = Math.max(...items.map((e) => e.ids.length));
  const ids = new Int32Array(items.length * seq).fill(padId);
  const rows: number[] = [];
  const labels: number[] = [];
  items.forEach((e, bi) => {
    ids.set(e.ids, bi * seq);
    for (let t = e.promptLen - 1; t < e.ids.length - 1; t++) {
      rows.push(bi * seq + t);
      labels.push(e.ids[t + 1]);
    }
  });
  return { ids, b: items.length, seq, rows: Int32Array.from(rows), labels: Int32Array.from(labels) };
}

/**
 * One epoch's batches in a seeded order: shuffle, sort by length inside windows of 16 batches (less
 * padding), then shuffle the batch order. Same (seed, epoch) → same batches.
 */
export function epochBatches(items: readonly EncodedItem[], batchSize: number, seed: number, epoch: number, padId: number): Batch[] {
  const rng = createRng((seed * 1000003 + epoch * 7919) >>> 0);
  const shuffle = <T>(xs: T[]): T[] => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  };
  const order = shuffle([...items]);
  const groups: EncodedItem[][] = [];
  const window = batchSize * 16;
  for (let w = 0; w < order.length; w += window) {
    const chunk = order.slice(w, w + window).sort((a, b) => a.ids.length - b.ids.length);
    for (let i = 0; i < chunk.length; i += batchSize) groups.push(chunk.slice(i, i + batchSize));
  }
  return shuffle(groups).map((g) => makeBatch(g, padId));
}
