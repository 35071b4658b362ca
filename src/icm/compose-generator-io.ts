/**
 * One safetensors file per compose generator: every piece's quantisation codes as U8 and its scales
 * as F32; configuration, piece names, layout and caller metadata as JSON in `__metadata__`. Every
 * byte of the file counts in the generator's size.
 */
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../engine/safetensors.js';
import { compactLayout, expandLayout, type CompactLayout } from './basis-generator-io.js';
import { ComposeGenerator, type ComposeGeneratorState } from './compose-generator.js';
import type { QuantisedVector } from './quantize.js';

export const COMPOSE_GENERATOR_FORMAT = 'lethe-icm-compose-generator';
/** 2: pieces of any length (the `tasks` store cuts ranks per module), codes and scales concatenated. */
export const COMPOSE_GENERATOR_FORMAT_VERSION = 2;

export function serialiseComposeGenerator(generator: ComposeGenerator, extra: Record<string, string> = {}): Uint8Array {
  const s = generator.state;
  const t = new Map<string, SafetensorsTensor>();
  const codeLength = s.pieces.reduce((n, p) => n + p.values.codes.length, 0);
  const scaleLength = s.pieces.reduce((n, p) => n + p.values.scales.length, 0);
  const codes = new Float32Array(codeLength);
  const scales = new Float32Array(Math.max(scaleLength, 1));
  let c = 0;
  let k = 0;
  for (const p of s.pieces) {
    codes.set(p.values.codes, c);
    scales.set(p.values.scales, k);
    c += p.values.codes.length;
    k += p.values.scales.length;
  }
  t.set('pieces.codes', { shape: [codeLength], data: codes, dtype: 'U8' });
  t.set('pieces.scales', { shape: [scales.length], data: scales });
  return serializeSafetensors(t, {
    format: COMPOSE_GENERATOR_FORMAT,
    formatVersion: String(COMPOSE_GENERATOR_FORMAT_VERSION),
    config: JSON.stringify(s.config),
    layout: JSON.stringify(compactLayout(s.layout)),
    pieces: JSON.stringify(s.pieces.map((p) => p.name)),
    values: JSON.stringify({ bits: s.pieces[0].values.bits }),
    lengths: JSON.stringify(s.pieces.map((p) => ({ values: p.values.length, codes: p.values.codes.length, scales: p.values.scales.length, ...(p.ranks && { ranks: p.ranks }) }))),
    tasks: JSON.stringify(s.tasks),
    seen: JSON.stringify(s.seen),
    extra: JSON.stringify(extra),
  });
}

export function deserialiseComposeGenerator(bytes: Uint8Array): { generator: ComposeGenerator; extra: Record<string, string> } {
  const file = parseSafetensors(bytes, { dtypes: ['F32', 'F16', 'U8'] });
  const meta = file.metadata;
  if (meta.format !== COMPOSE_GENERATOR_FORMAT) throw new Error(`not a Lethe compose generator (format "${meta.format ?? ''}")`);
  if (Number(meta.formatVersion) !== COMPOSE_GENERATOR_FORMAT_VERSION) {
    throw new Error(`compose generator format version ${meta.formatVersion} is not supported (this build reads ${COMPOSE_GENERATOR_FORMAT_VERSION})`);
  }
  const codes = file.tensors.get('pieces.codes');
  const scales = file.tensors.get('pieces.scales');
  if (!codes || !scales) throw new Error('compose generator file misses its pieces');
  const names = JSON.parse(meta.pieces) as string[];
  const { bits } = JSON.parse(meta.values) as { bits: QuantisedVector['bits'] };
  const lengths = JSON.parse(meta.lengths) as { values: number; codes: number; scales: number; ranks?: number[] }[];
  if (lengths.length !== names.length) throw new Error('compose generator pieces do not match their names');
  if (lengths.reduce((n, l) => n + l.codes, 0) !== codes.data.length) throw new Error('compose generator codes do not match their pieces');
  let c = 0;
  let k = 0;
  const pieces = names.map((name, i) => {
    const l = lengths[i];
    const values: QuantisedVector = { bits, length: l.values, codes: Uint8Array.from(codes.data.subarray(c, c + l.codes)), scales: scales.data.slice(k, k + l.scales) };
    c += l.codes;
    k += l.scales;
    return { name, values, ...(l.ranks && { ranks: l.ranks }) };
  });
  const state: ComposeGeneratorState = {
    config: JSON.parse(meta.config) as ComposeGeneratorState['config'],
    layout: expandLayout(JSON.parse(meta.layout) as CompactLayout),
    pieces,
    tasks: JSON.parse(meta.tasks) as string[],
    seen: JSON.parse(meta.seen ?? '[]') as ComposeGeneratorState['seen'],
  };
  return { generator: new ComposeGenerator(state), extra: JSON.parse(meta.extra ?? '{}') as Record<string, string> };
}
