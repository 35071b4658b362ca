/**
 * Detector ⇄ bytes, for the `ood_detector` table. The blob is a safetensors file (src/engine/
 * safetensors.ts): float32 tensors `layer.<i>.{bank,mean,u,head}` and the scalars (one-class
 * boundary, calibration, per-layer a/λ, split) as JSON in `__metadata__["lethe.detector"]`, where
 * JSON keeps doubles exact. The Cholesky factors are recomputed on load from the stored float32 U,
 * exactly as at fit time, so a loaded detector scores bit-identically.
 */
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../engine/safetensors.js';
import type { EntityGateMode, OodDetector } from './detector.js';
import type { GateCalibration } from './gate.js';
import { factorLayerStats } from './glocal.js';
import type { OneClassModel } from './one-class.js';

const META_KEY = 'lethe.detector';
const FORMAT = 'lethe-ood-detector/1';

interface DetectorMeta {
  format: string;
  layers: number[];
  dims: number[];
  hasHeads: boolean;
  gamma: number;
  stats: { n: number; d: number; a: number; shrinkage: number }[];
  oneClass: OneClassModel;
  calibration: GateCalibration;
  split: { used: number[]; rest: number[] };
  celLosses: number[];
  /** Absent in blobs written before entity gates existed. */
  entityHashes?: string[];
  entityMode?: EntityGateMode;
}

/** Serialises a detector to safetensors bytes. */
export function serializeDetector(det: OodDetector): Uint8Array {
  const tensors = new Map<string, SafetensorsTensor>();
  det.stats.forEach((st, i) => {
    tensors.set(`layer.${i}.bank`, { shape: [st.n, st.d], data: st.bank });
    tensors.set(`layer.${i}.mean`, { shape: [st.d], data: st.mean });
    tensors.set(`layer.${i}.u`, { shape: [st.n, st.d], data: st.u });
    if (det.heads) tensors.set(`layer.${i}.head`, { shape: [det.dims[i], det.heads[i].length / det.dims[i]], data: det.heads[i] });
  });
  const meta: DetectorMeta = {
    format: FORMAT,
    layers: det.layers,
    dims: det.dims,
    hasHeads: det.heads !== null,
    gamma: det.gamma,
    stats: det.stats.map(({ n, d, a, shrinkage }) => ({ n, d, a, shrinkage })),
    oneClass: det.oneClass,
    calibration: det.calibration,
    split: det.split,
    celLosses: det.celLosses,
    ...(det.entityHashes && { entityHashes: det.entityHashes, entityMode: det.entityMode ?? 'only' }),
  };
  return serializeSafetensors(tensors, { [META_KEY]: JSON.stringify(meta) });
}

/** Parses bytes written by `serializeDetector`; throws on a foreign or inconsistent blob. */
export function deserializeDetector(bytes: Uint8Array): OodDetector {
  const file = parseSafetensors(bytes);
  const raw = file.metadata[META_KEY];
  if (!raw) throw new Error('not a Lethe detector blob (metadata missing)');
  const meta = JSON.parse(raw) as DetectorMeta;
  if (meta.format !== FORMAT) throw new Error(`unsupported detector format ${String(meta.format)}`);
  const tensor = (name: string, shape: number[]): Float32Array => {
    const t = file.tensors.get(name);
    if (!t || t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`detector tensor ${name} missing or not of shape [${shape}]`);
    }
    return t.data;
  };
  const stats = meta.stats.map(({ n, d, a, shrinkage }, i) => {
    if (d !== meta.dims[i]) throw new Error(`layer ${i}: width ${d} != ${meta.dims[i]}`);
    return factorLayerStats({
      n,
      d,
      a,
      shrinkage,
      bank: tensor(`layer.${i}.bank`, [n, d]),
      mean: tensor(`layer.${i}.mean`, [d]),
      u: tensor(`layer.${i}.u`, [n, d]),
    });
  });
  const heads = meta.hasHeads ? meta.dims.map((d, i) => tensor(`layer.${i}.head`, [d, d])) : null;
  if (meta.oneClass.w.length !== stats.length) throw new Error('one-class boundary does not match the layer count');
  return {
    version: 1,
    layers: meta.layers,
    dims: meta.dims,
    heads,
    stats,
    gamma: meta.gamma,
    oneClass: meta.oneClass,
    calibration: meta.calibration,
    split: meta.split,
    celLosses: meta.celLosses,
    ...(Array.isArray(meta.entityHashes) &&
      meta.entityHashes.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h)) && { entityHashes: meta.entityHashes, entityMode: meta.entityMode === 'or' || meta.entityMode === 'and' ? meta.entityMode : 'only' }),
  };
}
