/**
 * Hugging Face style checkpoint folders: `config.json`, `model.safetensors` (or sharded
 * `model.safetensors.index.json` + shards), `tokenizer.json`, optional `tokenizer_config.json` and
 * `generation_config.json`. Errors are `CheckpointError`s naming the file and the defect.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, SafetensorsError, serializeSafetensors, type SafetensorsTensor } from './safetensors.js';
import { TextTokenizer, type TokenizerSpecials } from './tokenizer.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';
export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const GENERATION_CONFIG_FILE = 'generation_config.json';

/** A checkpoint file is missing or malformed. */
export class CheckpointError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'CheckpointError';
  }
}

export interface LoadedCheckpoint {
  /** config.json as parsed JSON (the model module turns it into a typed config). */
  config: Record<string, unknown>;
  /** Tensors by Hugging Face name, float32. The caller owns them (dispose when done). */
  weights: Map<string, tf.Tensor>;
  tokenizer: TextTokenizer;
  /** Raw tokenizer.json content, kept so the checkpoint can be saved again unchanged. */
  tokenizerJson: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
}

/** Loads a checkpoint folder. Weights are validated before any tensor is created. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const config = await readJsonObject(dir, CONFIG_FILE);
  const tokenizerJson = await readJsonObject(dir, TOKENIZER_FILE);
  const tokenizerConfig = await readJsonObject(dir, TOKENIZER_CONFIG_FILE, true);
  const generationConfig = await readJsonObject(dir, GENERATION_CONFIG_FILE, true);
  const arrays = await readWeights(dir);

  const specials: TokenizerSpecials = {
    bosToken: specialToken(tokenizerConfig?.bos_token),
    eosToken: specialToken(tokenizerConfig?.eos_token),
    padToken: specialToken(tokenizerConfig?.pad_token),
    unkToken: specialToken(tokenizerConfig?.unk_token),
    bosTokenId: intOrNull(config.bos_token_id),
    eosTokenId: intOrNull(config.eos_token_id),
    padTokenId: intOrNull(config.pad_token_id),
  };
  let tokenizer: TextTokenizer;
  try {
    tokenizer = TextTokenizer.fromJson(tokenizerJson, specials);
  } catch (error) {
    throw new CheckpointError(join(dir, TOKENIZER_FILE), `cannot build the tokenizer (${(error as Error).message})`);
  }
  const weights = new Map<string, tf.Tensor>();
  for (const [name, t] of arrays) weights.set(name, tf.tensor(t.data, t.shape, 'float32'));
  return { config, weights, tokenizer, tokenizerJson, generationConfig };
}

/** Reads only the weights (single file or sharded) as validated float32 arrays. */
export async function readWeights(dir: string): Promise<Map<string, SafetensorsTensor>> {
  const index = await readJsonObject(dir, WEIGHTS_INDEX_FILE, true);
  if (!index) return readSafetensorsFile(join(dir, WEIGHTS_FILE));
  const indexPath = join(dir, WEIGHTS_INDEX_FILE);
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new CheckpointError(indexPath, 'weight_map is not an object');
  const byShard = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || !/^[\w.-]+\.safetensors$/.test(shard) || shard.startsWith('.')) {
      throw new CheckpointError(indexPath, `weight_map["${name}"] is not a plain .safetensors file name`);
    }
    if (!byShard.has(shard)) byShard.set(shard, new Set());
    byShard.get(shard)!.add(name);
  }
  const out = new Map<string, SafetensorsTensor>();
  for (const [shard, names] of [...byShard].sort(([a], [b]) => a.localeCompare(b))) {
    const path = join(dir, shard);
    const tensors = await readSafetensorsFile(path);
    for (const name of names) {
      if (!tensors.has(name)) throw new CheckpointError(path, `tensor "${name}" listed in ${WEIGHTS_INDEX_FILE} is missing`);
    }
    for (const [name, t] of tensors) {
      if (!names.has(name)) throw new CheckpointError(path, `tensor "${name}" is not listed for this shard in ${WEIGHTS_INDEX_FILE}`);
      out.set(name, t);
    }
  }
  return out;
}

export interface SaveCheckpointOptions {
  config: Record<string, unknown>;
  /** Tensors by Hugging Face name; tf tensors are read (not disposed) or plain arrays written as is. */
  weights: Map<string, tf.Tensor | SafetensorsTensor>;
  /** tokenizer.json content. */
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig?: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  /** Write shards of at most this many bytes plus an index (default: one file). */
  maxShardBytes?: number;
  /** Safetensors `__metadata__` (default `{ format: "pt" }`, as transformers writes). */
  metadata?: Record<string, string>;
}

/** Writes a checkpoint folder (created if needed) that loadCheckpoint and transformers can read. */
export async function saveCheckpoint(dir: string, options: SaveCheckpointOptions): Promise<void> {
  await mkdir(dir, { recursive: true });
  const metadata = options.metadata ?? { format: 'pt' };
  const arrays = new Map<string, SafetensorsTensor>();
  for (const [name, t] of options.weights) {
    arrays.set(name, t instanceof tf.Tensor ? { shape: t.shape, data: Float32Array.from(t.dataSync()) } : t);
  }
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  await writeFile(join(dir, CONFIG_FILE), json(options.config));
  await writeFile(join(dir, TOKENIZER_FILE), JSON.stringify(options.tokenizerJson));
  if (options.tokenizerConfig) await writeFile(join(dir, TOKENIZER_CONFIG_FILE), json(options.tokenizerConfig));
  if (options.generationConfig) await writeFile(join(dir, GENERATION_CONFIG_FILE), json(options.generationConfig));

  const shards = splitShards(arrays, options.maxShardBytes ?? Infinity);
  if (shards.length === 1) {
    await writeFile(join(dir, WEIGHTS_FILE), serializeSafetensors(shards[0], metadata));
    return;
  }
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const [i, shard] of shards.entries()) {
    const file = `model-${pad5(i + 1)}-of-${pad5(shards.length)}.safetensors`;
    await writeFile(join(dir, file), serializeSafetensors(shard, metadata));
    for (const [name, t] of shard) {
      weightMap[name] = file;
      totalSize += t.data.length * 4;
    }
  }
  const sortedMap = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => a.localeCompare(b)));
  await writeFile(join(dir, WEIGHTS_INDEX_FILE), json({ metadata: { total_size: totalSize }, weight_map: sortedMap }));
}

function splitShards(arrays: Map<string, SafetensorsTensor>, maxBytes: number): Map<string, SafetensorsTensor>[] {
  const shards: Map<string, SafetensorsTensor>[] = [new Map()];
  let size = 0;
  for (const name of [...arrays.keys()].sort()) {
    const t = arrays.get(name)!;
    const bytes = t.data.length * 4;
    if (size > 0 && size + bytes > maxBytes) {
      shards.push(new Map());
      size = 0;
    }
    shards[shards.length - 1].set(name, t);
    size += bytes;
  }
  return shards;
}

async function readSafetensorsFile(path: string): Promise<Map<string, SafetensorsTensor>> {
  const bytes = await readBytes(path);
  try {
    return parseSafetensors(bytes).tensors;
  } catch (error) {
    if (error instanceof SafetensorsError) throw new CheckpointError(path, error.message);
    throw error;
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new CheckpointError(path, fsReason(error));
  }
}

async function readJsonObject(dir: string, file: string, optional: true): Promise<Record<string, unknown> | undefined>;
async function readJsonObject(dir: string, file: string): Promise<Record<string, unknown>>;
async function readJsonObject(dir: string, file: string, optional = false): Promise<Record<string, unknown> | undefined> {
  const path = join(dir, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (optional && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointError(path, fsReason(error));
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(path, `not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CheckpointError(path, 'not a JSON object');
  return value as Record<string, unknown>;
}

function fsReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? (error as Error).message})`;
}

function specialToken(v: unknown): string | { content: string } | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return v as { content: string };
  return undefined;
}

// config.json ids may be lists (several EOS ids): the first one is used.
function intOrNull(v: unknown): number | null {
  if (Array.isArray(v)) return intOrNull(v[0]);
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
}

function pad5(n: number): string {
  return String(n).padStart(5, '0');
}
