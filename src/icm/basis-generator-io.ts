/**
 * One safetensors file per basis generator: quantisation codes as U8 (packed 4/8-bit codes, or the
 * float16 values' bytes), scales and the coefficient map as F32, interpolation anchors as F16;
 * configuration, layout and caller metadata as JSON in `__metadata__`. Every byte of the file
 * counts in the generator's size.
 */
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../engine/safetensors.js';
import { BasisGenerator, type BasisGeneratorConfig, type BasisGeneratorState } from './basis-generator.js';
import type { FlatLayout } from './flatten.js';
import type { QuantisedVector } from './quantize.js';

export const BASIS_GENERATOR_FORMAT = 'lethe-icm-basis-generator';
export const BASIS_GENERATOR_FORMAT_VERSION = 1;

/** True when `bytes` look like a basis generator file (cheap: reads the header only). */
export function isBasisGeneratorFile(bytes: Uint8Array): boolean {
  try {
    return parseSafetensors(bytes, { dtypes: ['F32', 'F16', 'U8'] }).metadata.format === BASIS_GENERATOR_FORMAT;
  } catch {
    return false;
  }
}

export function serialiseBasisGenerator(generator: BasisGenerator, extra: Record<string, string> = {}): Uint8Array {
  const s = generator.state;
  const t = new Map<string, SafetensorsTensor>();
  const u8 = (codes: Uint8Array): Float32Array => Float32Array.from(codes);
  t.set('centre.codes', { shape: [s.centre.codes.length], data: u8(s.centre.codes), dtype: 'U8' });
  t.set('centre.scales', { shape: [s.centre.scales.length], data: s.centre.scales });
  const codeLen = s.centre.codes.length;
  const scaleLen = s.centre.scales.length;
  const codes = new Float32Array(s.basis.length * codeLen);
  const scales = new Float32Array(s.basis.length * scaleLen);
  s.basis.forEach((b, k) => {
    codes.set(b.codes, k * codeLen);
    scales.set(b.scales, k * scaleLen);
  });
  t.set('basis.codes', { shape: [s.basis.length, codeLen], data: codes, dtype: 'U8' });
  t.set('basis.scales', { shape: [s.basis.length, scaleLen], data: scales });
  t.set('condMean', { shape: [s.condMean.length], data: s.condMean });
  t.set('bias', { shape: [s.bias.length], data: s.bias });
  t.set('linear', { shape: [s.linear.length], data: s.linear });
  t.set('spread', { shape: [s.spread.length], data: s.spread });
  // Anchors are the seen tasks' normalised conditions, rounded to float16 at training.
  t.set('anchors', { shape: [s.anchors.length], data: s.anchors, dtype: 'F16' });
  t.set('kernel', { shape: [s.kernel.length], data: s.kernel });
  const metadata = {
    format: BASIS_GENERATOR_FORMAT,
    formatVersion: String(BASIS_GENERATOR_FORMAT_VERSION),
    config: JSON.stringify(s.config),
    layout: JSON.stringify(compactLayout(s.layout)),
    condScale: JSON.stringify(s.condScale),
    bits: JSON.stringify({ bits: s.centre.bits, basisBits: s.basis[0]?.bits ?? s.centre.bits, length: s.centre.length }),
    tasks: JSON.stringify(s.tasks),
    samples: String(s.samples),
    extra: JSON.stringify(extra),
  };
  return serializeSafetensors(t, metadata);
}

export function deserialiseBasisGenerator(bytes: Uint8Array): { generator: BasisGenerator; extra: Record<string, string> } {
  const file = parseSafetensors(bytes, { dtypes: ['F32', 'F16', 'U8'] });
  const meta = file.metadata;
  if (meta.format !== BASIS_GENERATOR_FORMAT) throw new Error(`not a Lethe basis generator (format "${meta.format ?? ''}")`);
  if (Number(meta.formatVersion) !== BASIS_GENERATOR_FORMAT_VERSION) {
    throw new Error(`basis generator format version ${meta.formatVersion} is not supported (this build reads ${BASIS_GENERATOR_FORMAT_VERSION})`);
  }
  const get = (name: string) => {
    const v = file.tensors.get(name);
    if (!v) throw new Error(`basis generator file misses tensor ${name}`);
    return v;
  };
  const config = JSON.parse(meta.config) as BasisGeneratorConfig;
  const { bits, basisBits, length } = JSON.parse(meta.bits) as { bits: QuantisedVector['bits']; basisBits: QuantisedVector['bits']; length: number };
  const centreCodes = Uint8Array.from(get('centre.codes').data);
  const centreScales = get('centre.scales').data;
  const codes = get('basis.codes');
  const scales = get('basis.scales');
  const codeLen = centreCodes.length;
  const scaleLen = centreScales.length;
  if (codes.shape[0] !== config.rank || codes.shape[1] !== codeLen || scales.shape[1] !== scaleLen) throw new Error('basis generator codes do not match its rank');
  const basis = Array.from({ length: config.rank }, (_, k) => ({
    bits: basisBits,
    length,
    codes: Uint8Array.from(codes.data.subarray(k * codeLen, (k + 1) * codeLen)),
    scales: scales.data.slice(k * scaleLen, (k + 1) * scaleLen),
  }));
  const state: BasisGeneratorState = {
    config,
    layout: expandLayout(JSON.parse(meta.layout) as CompactLayout),
    centre: { bits, length, codes: centreCodes, scales: centreScales },
    basis,
    condMean: get('condMean').data,
    condScale: Number(JSON.parse(meta.condScale)),
    bias: get('bias').data,
    anchors: get('anchors').data,
    linear: get('linear').data,
    kernel: get('kernel').data,
    spread: get('spread').data,
    tasks: JSON.parse(meta.tasks) as string[],
    samples: Number(meta.samples),
  };
  return { generator: new BasisGenerator(state), extra: JSON.parse(meta.extra ?? '{}') as Record<string, string> };
}

/** The layout without what follows from the rest (offsets, keys, lengths): it is stored in every file. */
export interface CompactLayout {
  rank: number;
  alpha: number;
  targetModules: string[];
  /** [module, rows, cols] per factor, A then B per module, in flat order. */
  entries: [string, number, number][];
}

export function compactLayout(l: FlatLayout): CompactLayout {
  return { rank: l.rank, alpha: l.alpha, targetModules: l.targetModules, entries: l.entries.map((e) => [e.module, e.shape[0], e.shape[1]]) };
}

export function expandLayout(c: CompactLayout): FlatLayout {
  let offset = 0;
  const entries = c.entries.map(([module, rows, cols], i) => {
    const factor = i % 2 === 0 ? ('a' as const) : ('b' as const);
    const e = { key: `${module}.lora_${factor.toUpperCase()}.weight`, module, factor, shape: [rows, cols] as [number, number], offset, length: rows * cols };
    offset += rows * cols;
    return e;
  });
  return { rank: c.rank, alpha: c.alpha, targetModules: c.targetModules, entries, length: offset, paddedLength: offset };
}
