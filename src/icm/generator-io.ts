import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../engine/safetensors.js';
import { Cvae, cvaeTensorShapes, type CvaeConfig } from './cvae.js';
import type { CvaeProgress } from './cvae-train.js';
import type { FlatLayout, TensorStats } from './flatten.js';
import { AdapterGenerator } from './generator.js';

/** Identifies the file; bump GENERATOR_FORMAT_VERSION on any incompatible change. */
export const GENERATOR_FORMAT = 'lethe-icm-generator';
export const GENERATOR_FORMAT_VERSION = 2;
/** Version 1 files (no output basis) read unchanged. */
const READABLE_VERSIONS = [1, 2];

/**
 * Serialises a trained generator to one safetensors file: the CVAE weights and BatchNorm running
 * statistics (F32, `cvae.<name>`), the centre vector (F16: it was rounded to F16 before training, so
 * nothing is lost), the CVAE's output basis (F16, likewise rounded), the condition mean (F32);
 * architecture, layout, normalisation statistics,
 * training history and `extra` (for example the service's version id) in `__metadata__` as JSON.
 */
export function serialiseGenerator(generator: AdapterGenerator, extra: Record<string, string> = {}): Uint8Array {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, t] of generator.model.toTensors()) {
    // The output basis was rounded to F16 at training (AdapterGenerator.train): nothing is lost.
    tensors.set(`cvae.${name}`, { shape: t.shape, data: t.data, ...(name === 'basis.w' ? { dtype: 'F16' as const } : {}) });
  }
  const { state } = generator;
  tensors.set('centre', { shape: [state.centre.length], data: state.centre, dtype: 'F16' });
  tensors.set('condMean', { shape: [state.condMean.length], data: state.condMean });
  const metadata: Record<string, string> = {
    format: GENERATOR_FORMAT,
    formatVersion: String(GENERATOR_FORMAT_VERSION),
    config: JSON.stringify(generator.model.config),
    layout: JSON.stringify(state.layout),
    stats: JSON.stringify(state.stats),
    residualScale: JSON.stringify(state.residualScale),
    condScale: JSON.stringify(state.condScale),
    history: JSON.stringify(state.history),
    samples: String(state.samples),
    seed: String(state.seed),
    extra: JSON.stringify(extra),
  };
  return serializeSafetensors(tensors, metadata);
}

/** Reads a generator written by serialiseGenerator; throws on a foreign or newer file. */
export function deserialiseGenerator(bytes: Uint8Array): { generator: AdapterGenerator; extra: Record<string, string> } {
  const file = parseSafetensors(bytes);
  const meta = file.metadata;
  if (meta.format !== GENERATOR_FORMAT) throw new Error(`not a Lethe ICM generator (format "${meta.format ?? ''}")`);
  const version = Number(meta.formatVersion);
  if (!READABLE_VERSIONS.includes(version)) {
    throw new Error(`generator format version ${meta.formatVersion} is not supported (this build reads ${GENERATOR_FORMAT_VERSION})`);
  }
  const config = JSON.parse(meta.config) as CvaeConfig;
  const expected = cvaeTensorShapes(config);
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const name of [...expected.trainable.keys(), ...expected.running.keys()]) {
    const t = file.tensors.get(`cvae.${name}`);
    if (!t) throw new Error(`generator file misses tensor cvae.${name}`);
    weights.set(name, { shape: t.shape, data: t.data });
  }
  const centre = file.tensors.get('centre')?.data;
  const condMean = file.tensors.get('condMean')?.data;
  if (!centre || !condMean) throw new Error('generator file misses centre or condMean');
  const model = Cvae.fromTensors(config, weights);
  try {
    const generator = new AdapterGenerator(model, {
      layout: JSON.parse(meta.layout) as FlatLayout,
      stats: JSON.parse(meta.stats) as TensorStats[],
      centre,
      residualScale: Number(JSON.parse(meta.residualScale)),
      condMean,
      condScale: Number(JSON.parse(meta.condScale)),
      history: JSON.parse(meta.history) as CvaeProgress[],
      samples: Number(meta.samples),
      seed: Number(meta.seed),
    });
    return { generator, extra: JSON.parse(meta.extra ?? '{}') as Record<string, string> };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
