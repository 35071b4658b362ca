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
export const COMPOSE_GENERATOR_FORMAT_VERSION = 1;

export function serialiseComposeGenerator(generator: ComposeGenerator, extra: Record<string, string> = {}): Uint8Array {
  const s = generator.state;
  const t = new Map<string, SafetensorsTensor>();
  const codeLen = s.pieces[0].values.codes.length;
  const scaleLen = s.pieces[0].values.scales.length;
  const codes = new Float32Array(s.pieces.length * codeLen);
  const scales = new Float32Array(s.pieces.length * scaleLen);
  s.pieces.forEach((p, k) => {
    codes.set(p.values.codes, k * codeLen);
    scales.set(p.values.scales, k * scaleLen);
  });
  t.set('pieces.codes', { shape: [s.pieces.length, codeLen], data: codes, dtype: 'U8' });
  t.set('pieces.scales', { shape: [s.pieces.length, Math.max(scaleLen, 1)], data: scaleLen ? scales : new Float32Array(s.pieces.length) });
  return serializeSafetensors(t, {
    format: COMPOSE_GENERATOR_FORMAT,
    formatVersion: String(COMPOSE_GENERATOR_FORMAT_VERSION),
    config: JSON.stringify(s.config),
    layout: JSON.stringify(compactLayout(s.layout)),
    pieces: JSON.stringify(s.pieces.map((p) => p.name)),
    values: JSON.stringify({ bits: s.pieces[0].values.bits, length: s.pieces[0].values.length }),
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
  const { bits, length } = JSON.parse(meta.values) as { bits: QuantisedVector['bits']; length: number };
  const [count, codeLen] = codes.shape;
  const scaleLen = bits === 16 ? 0 : scales.shape[1];
  if (count !== names.length || scales.shape[0] !== count) throw new Error('compose generator pieces do not match their names');
  const state: ComposeGeneratorState = {
    config: JSON.parse(meta.config) as ComposeGeneratorState['config'],
    layout: expandLayout(JSON.parse(meta.layout) as CompactLayout),
    pieces: names.map((name, k) => ({
      name,
      values: { bits, length, codes: Uint8Array.from(codes.data.subarray(k * codeLen, (k + 1) * codeLen)), scales: scales.data.slice(k * scaleLen, (k + 1) * scaleLen) },
    })),
    tasks: JSON.parse(meta.tasks) as string[],
    seen: JSON.parse(meta.seen ?? '[]') as ComposeGeneratorState['seen'],
  };
  return { generator: new ComposeGenerator(state), extra: JSON.parse(meta.extra ?? '{}') as Record<string, string> };
}
