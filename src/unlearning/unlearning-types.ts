/** Types of the framework-free unlearning pipeline (DESIGN §3): inputs, options, progress, results. */
import type { TextTokenizer } from '../engine/generate.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import type { TransformerModel } from '../engine/transformer.js';
import type { EntityGateMode, ForgetItem, GatePolicy, OodDetector, RelabelMode } from '../ood/index.js';
import { DEFAULT_ACTIVATION_THRESHOLDS, type ActivationThresholds, type ActivationVerdict } from './activation.js';

/** Tunables of one request; every field has a default (DEFAULT_UNLEARNING_OPTIONS). */
export interface UnlearningOptions {
  /** LoRA rank r. */
  rank: number;
  /** LoRA α (scale α/r). */
  alpha: number;
  /** Weight λ of L_orth against the earlier active adapters. */
  lambda: number;
  /** Passes over the training examples (forget items, found phrasings, near-negatives). */
  epochs: number;
  /** Most optimizer steps of the first training round (bounds a request's time). */
  maxSteps: number;
  /** Generate near-negatives and more phrasings of the forgotten facts (near-negatives.ts). */
  nearNegatives: boolean;
  /** With named entities: gate on them alone (`only`), on them and the features (`and`), or either (`or`); ood/detector.ts. */
  entityGate: EntityGateMode;
  /** Copies of each same-entity near-negative in the training examples (they are the hardest to keep). */
  sameEntityCopies: number;
  /** Share of other-entity near-negatives the gate may fire on when it is placed (gate.ts calibrateAgainstNegatives). */
  negativeFalseFire: number;
  learningRate: number;
  batchSize: number;
  seed: number;
  /** Train the detector's CEL projection heads (default false: training-free detector). */
  useCel: boolean;
  /** Fraction of prompt tokens replaced in the masked view (CEL). */
  maskRate: number;
  /** PEFT short names; default: every attention and MLP projection of the family. */
  targetModules?: string[];
  /** Feature layers the detector uses (indices into promptFeatures' layers); default all. */
  detectorLayers?: number[];
  /** Gate policy used by the request's own checks. */
  gatePolicy: GatePolicy;
  /** Most forget items answered by generation in the checks. */
  checkItems: number;
  /** Tokens generated per check answer. */
  checkMaxTokens: number;
  /** What the request's checks must meet to go active (activation.ts). */
  activation: ActivationThresholds;
}

export const DEFAULT_UNLEARNING_OPTIONS: Readonly<UnlearningOptions> = Object.freeze<UnlearningOptions>({
  rank: 8,
  alpha: 16,
  lambda: 0.1,
  epochs: 8,
  maxSteps: 128,
  nearNegatives: true,
  negativeFalseFire: 0.02,
  entityGate: 'only',
  sameEntityCopies: 3,
  learningRate: 3e-3,
  batchSize: 8,
  seed: 0,
  useCel: false,
  maskRate: 0.15,
  gatePolicy: { name: 'o3-hard' },
  checkItems: 20,
  checkMaxTokens: 16,
  activation: DEFAULT_ACTIVATION_THRESHOLDS,
});

/** Everything one request's pipeline needs, with the model already loaded. */
export interface UnlearningInput {
  model: TransformerModel;
  tokenizer: TextTokenizer;
  items: readonly ForgetItem[];
  relabel: RelabelMode;
  replacement?: string;
  /** The earlier active unlearning adapters (their A factors are the L_orth constants). */
  frozenAdapters: readonly LoraAdapter[];
  /**
   * The detectors of `frozenAdapters`, same order: with them, near-negatives keep what the deployed
   * model (earlier adapters at their gates) answers, not what the base model answers.
   */
  frozenDetectors?: readonly OodDetector[];
  /**
   * Prompts known not to touch the forget data (general/utility questions), for the checks' AUROC
   * and false-fire rate. Optional: without them those metrics are null.
   */
  referencePrompts?: readonly string[];
  options?: Partial<UnlearningOptions>;
  /** Refusal texts for relabel `refusal` (default: the one most likely under the base model, refusals.ts). */
  refusals?: readonly string[];
  /**
   * Resume from this adapter's factors instead of a fresh init (O3's shared-adapter variant: one
   * adapter trained on request after request). Same rank and modules as the options ask for.
   */
  initAdapter?: LoraAdapter;
  /** `base_model_name_or_path` written into the adapter config. */
  baseModelName?: string;
}

export type UnlearningPhase = 'relabel' | 'training' | 'calibrating' | 'evaluating';

/** A progress event of the pipeline. */
export interface UnlearningProgress {
  phase: UnlearningPhase;
  step?: number;
  total?: number;
  loss?: number;
  etaSeconds?: number;
  message?: string;
}

export interface RunUnlearningOptions {
  onProgress?: (progress: UnlearningProgress) => void;
  signal?: AbortSignal;
}

/** What the pipeline measured about its own request. */
export interface UnlearningMetrics {
  items: number;
  steps: number;
  lossFirst: number;
  lossLast: number;
  /** The refusals trained on (relabel `refusal`), else null. */
  refusals: string[] | null;
  /** Value of L_orth at the end (0 without earlier adapters). */
  orthLast: number;
  /** Forget items answered in the checks, with the adapter at its gate strength. */
  checkedItems: number;
  /** Fraction of checked forget items whose answer still equals the original answer (null: no answers given). */
  forgetAnswerRate: number | null;
  /** Fraction of checked forget items answered with the relabelled target (a refusal, the replacement...). */
  forgetRelabelRate: number;
  /** Mean applied strength on the checked forget items. */
  forgetMeanStrength: number;
  /** Detector AUROC of held-out forget items (D_rest) vs reference prompts; null without references. */
  heldOutAuroc: number | null;
  /** Gate recall on D_rest at the gate policy. */
  heldOutGateRecall: number;
  /** Fraction of reference prompts whose gate fires; null without references. */
  referenceFalseFireRate: number | null;
  /** Fraction of generated near-negatives whose gated answer differs from the base model's; null without near-negatives. */
  nearNegativeCollateral: number | null;
  /** What near-negatives.ts generated, and how far the gate was moved by them. */
  nearNegatives: { entities: string[]; forgetPrompts: number; otherEntity: number; sameEntity: number; reference: number; withheld: number; heldOut: number; gateShift: number };
  /** Whether the checks allow activation; the service stores a failed request as `needs_review`. */
  activation: ActivationVerdict;
  calibration: { m1: number; m2: number; sigma: number; x0: number; guards: string[] };
  useCel: boolean;
  /** Which prompt features the detector scores (detector-features.ts). */
  detectorFeatures: string;
  gatePolicy: string;
  seconds: { relabel: number; training: number; calibrating: number; evaluating: number; total: number };
  adapterBytes: number;
  detectorBytes: number;
}

/** The pipeline's output: plain bytes and JSON, ready to store. */
export interface UnlearningResult {
  /** PEFT adapter_model.safetensors bytes. */
  adapterWeights: Uint8Array;
  /** PEFT adapter_config.json. */
  adapterConfig: Record<string, unknown>;
  rank: number;
  alpha: number;
  targetModules: string[];
  /** serializeDetector() bytes. */
  detector: Uint8Array;
  metrics: UnlearningMetrics;
  /** Training loss per step. */
  losses: number[];
}
