/**
 * Per-request OOD detector (DESIGN §3.2), framework-free: features in, scores and gate out.
 *
 * Fit: split the forget prompts 80/20 (seeded) into D_used / D_rest; optionally train the CEL
 * projection heads on D_used (masked vs unmasked views); project; per layer fit the normalised
 * bank, μ_l and the shrinkage precision on D_used; score D_used leave-one-out (its own bank entry
 * would pin max cos at 1 and inflate m1) and D_rest; fit the one-class boundary on s(D_used);
 * calibrate the gate on z(D_used), z(D_rest). D_rest never touches the heads, stats or boundary,
 * so it stands in for unseen paraphrases of the forget data.
 *
 * Features are item-major: one `LayerFeatures` per prompt = one vector per layer (what the engine's
 * `promptFeatures(model, ids)` returns).
 */
import { applyHead, trainProjectionHeads, type CelTrainOptions } from './contrastive-entropy.js';
import { namesEntity } from './entity-match.js';
import { calibrateGate, gateWeight, type GateCalibration, type GateSidedness } from './gate.js';
import { fitLayerStats, glocalLayerScore, type LayerGlocalStats } from './glocal.js';
import { fitOneClass, oneClassScore, type OneClassModel } from './one-class.js';
import { OodRandom } from './random.js';

/** How a detector with entities combines them with its features (OodDetector.entityMode). */
export type EntityGateMode = 'only' | 'and' | 'or';

/** One prompt's features: [layer][d]. */
export type LayerFeatures = readonly ArrayLike<number>[];

export interface DetectorOptions {
  /**
   * Train the CEL projection heads (needs masked features). Default false: the training-free detector
   * scored at least as well on every synthetic setting we measured (docs/unlearning.md); the benchmark compares both.
   */
  useCel?: boolean;
  /** Local-term weight γ. Default 1000. */
  gamma?: number;
  /** One-class ν. Default 0.1. */
  nu?: number;
  /** Gate steepness ζ. Default 10. */
  zeta?: number;
  /** Gate sidedness (gate.ts). Default `one`. */
  sided?: GateSidedness;
  /** Fraction of items in D_used. Default 0.8. */
  usedFraction?: number;
  /** Seed of the split and the CEL batch order. Default 0. */
  seed?: number;
  /** Covariance shrinkage: `ledoit-wolf` (default) or a fixed λ. */
  shrinkage?: 'ledoit-wolf' | number;
  /**
   * Which layers of the feature arrays to use. Default: all (with the engine's features: index 0 =
   * embeddings, then each block; O3 drops its encoder's embedding layer, pass the rest to do the same).
   */
  layers?: readonly number[];
  cel?: CelTrainOptions;
}

export interface DetectorInput {
  /** Unmasked features of every forget prompt. */
  features: readonly LayerFeatures[];
  /** Masked-view features, same order (needed for CEL). */
  maskedFeatures?: readonly LayerFeatures[];
}

/** A fitted detector; plain data, serialisable with detector-codec.ts. */
export interface OodDetector {
  version: 1;
  /** Indices into the caller's per-layer feature arrays. */
  layers: number[];
  /** Input width per used layer. */
  dims: number[];
  /** CEL heads per used layer ([d, d] row-major), or null for the training-free detector. */
  heads: Float32Array[] | null;
  stats: LayerGlocalStats[];
  gamma: number;
  oneClass: OneClassModel;
  calibration: GateCalibration;
  /** Item indices of D_used and D_rest. */
  split: { used: number[]; rest: number[] };
  /** CEL loss per step (empty without CEL). */
  celLosses: number[];
  /**
   * sha256 of the normalised forget entities (entity-match.ts), when the request names any: whether a
   * prompt names one decides its gate as `entityMode` says. Absent on detectors without entities.
   */
  entityHashes?: string[];
  /**
   * With entities: `only` (default) gates on the entity alone, because feature gates fitted on a few
   * prompts fire on other entities' questions (measured in bench:unlearning's shape suite); `and`
   * fires on prompts that name the entity and pass the feature gate (placed against the entity's
   * other questions); `or` on prompts that do either.
   */
  entityMode?: EntityGateMode;
}

/** Score of one prompt: z (larger = more forget-like), the layer scores s(x), the gate w ∈ (0.12, 1). */
export interface DetectorScore {
  z: number;
  layerScores: number[];
  w: number;
  /** The prompt names one of the detector's entities (w is then the peak). */
  entity: boolean;
}

/**
 * Transposes the engine's layer-major features (`promptFeatures(model, ids)`: [layer][prompt]) into
 * the item-major form the detector takes ([prompt][layer]). No copies of the vectors.
 */
export function toItemMajor(layerMajor: readonly (readonly Float32Array[])[]): Float32Array[][] {
  const n = layerMajor[0]?.length ?? 0;
  if (layerMajor.some((l) => l.length !== n)) throw new Error('every layer must have one vector per prompt');
  return Array.from({ length: n }, (_, i) => layerMajor.map((l) => l[i]));
}

/** Seeded split: round(f·n) items in D_used, at least one in each part when n ≥ 2. */
export function splitIndices(n: number, usedFraction = 0.8, seed = 0): { used: number[]; rest: number[] } {
  const perm = new OodRandom(seed).permutation(n);
  const nUsed = n <= 1 ? n : Math.min(n - 1, Math.max(1, Math.round(usedFraction * n)));
  return { used: perm.slice(0, nUsed).sort((a, b) => a - b), rest: perm.slice(nUsed).sort((a, b) => a - b) };
}

function projectAll(det: Pick<OodDetector, 'layers' | 'dims' | 'heads'>, f: LayerFeatures): ArrayLike<number>[] {
  return det.layers.map((layer, i) => {
    const v = f[layer];
    if (!v || v.length !== det.dims[i]) throw new Error(`layer ${layer}: expected width ${det.dims[i]}, got ${v?.length}`);
    return det.heads ? applyHead(det.heads[i], det.dims[i], v) : v;
  });
}

/** Fits a detector on the forget prompts' features. */
export function fitDetector(input: DetectorInput, options: DetectorOptions = {}): OodDetector {
  const { features, maskedFeatures } = input;
  const n = features.length;
  if (n === 0) throw new Error('detector needs at least one forget prompt');
  const layers = [...(options.layers ?? features[0].map((_, i) => i))];
  const dims = layers.map((l) => features[0][l]?.length ?? 0);
  if (dims.some((d) => d === 0)) throw new Error('a selected layer has no features');
  const gamma = options.gamma ?? 1000;
  const split = splitIndices(n, options.usedFraction, options.seed);
  const useCel = options.useCel ?? false;
  let heads: Float32Array[] | null = null;
  let celLosses: number[] = [];
  if (useCel) {
    if (!maskedFeatures || maskedFeatures.length !== n) throw new Error('CEL needs masked features for every prompt');
    const pick = (fs: readonly LayerFeatures[]) => split.used.map((i) => layers.map((l) => fs[i][l]));
    const trained = trainProjectionHeads(pick(features), pick(maskedFeatures), { seed: options.seed, ...options.cel });
    heads = trained.heads;
    celLosses = trained.losses;
  }
  const proj = features.map((f) => projectAll({ layers, dims, heads }, f));
  const stats = layers.map((_, li) => fitLayerStats(split.used.map((i) => proj[i][li]), { shrinkage: options.shrinkage }));
  // Leave-one-out local term for D_used (its index in the bank is its position in split.used).
  const sUsed = split.used.map((i, b) => stats.map((st, li) => glocalLayerScore(st, proj[i][li], gamma, b).score));
  const sRest = split.rest.map((i) => stats.map((st, li) => glocalLayerScore(st, proj[i][li], gamma).score));
  const oneClass = fitOneClass(sUsed, { nu: options.nu });
  const calibration = calibrateGate(
    sUsed.map((s) => oneClassScore(oneClass, s)),
    sRest.map((s) => oneClassScore(oneClass, s)),
    { zeta: options.zeta, sided: options.sided },
  );
  return { version: 1, layers, dims, heads, stats, gamma, oneClass, calibration, split, celLosses };
}

/**
 * Scores one prompt's features; with the prompt's entity index (entity-match.ts promptEntityIndex),
 * a prompt naming one of the detector's entities gets the peak gate.
 */
export function scoreDetector(det: OodDetector, features: LayerFeatures, entityIndex?: ReadonlySet<string>): DetectorScore {
  const proj = projectAll(det, features);
  const layerScores = det.stats.map((st, li) => glocalLayerScore(st, proj[li], det.gamma).score);
  const z = oneClassScore(det.oneClass, layerScores);
  const hasEntities = !!det.entityHashes && det.entityHashes.length > 0;
  const entity = hasEntities && !!entityIndex && namesEntity(entityIndex, det.entityHashes!);
  // A NaN score is the gate's peak (gate.ts); −∞ its tail. Without the prompt's text the features decide.
  const mode = det.entityMode ?? 'only';
  const featureGate = gateWeight(det.calibration, z);
  const peak = gateWeight(det.calibration, Number.NaN);
  const tail = gateWeight(det.calibration, Number.NEGATIVE_INFINITY);
  let w = featureGate;
  if (hasEntities && entityIndex) {
    if (mode === 'only') w = entity ? peak : tail;
    else if (mode === 'and') w = entity ? featureGate : tail;
    else w = entity ? peak : featureGate;
  }
  return { z, layerScores, w, entity };
}

/** Scores many prompts (entity indexes in the same order, when given). */
export function scoreDetectorBatch(det: OodDetector, features: readonly LayerFeatures[], entityIndexes?: readonly ReadonlySet<string>[]): DetectorScore[] {
  return features.map((f, i) => scoreDetector(det, f, entityIndexes?.[i]));
}
