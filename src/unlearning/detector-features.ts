/**
 * What the unlearning detectors score: for each prompt, every layer's hidden state at the prompt's
 * final token (the `Answer:` position, where the base model has gathered what it is about to say),
 * item-major [prompt][layer] → [dModel], from the one base prefill inference already runs.
 *
 * DESIGN §3.2 names masked-mean pooling over tokens; on the demo world that pooling is dominated by
 * the question template, so retained authors' questions ("Where was <other name> born?") look like
 * the forget questions. Measured on the demo model (2 authors forgotten, 60 prompts; forget
 * paraphrases vs retained-author questions): mean pooling AUROC 0.93–0.96 with 19–27 % of retained
 * questions firing the gate; final-token states AUROC 0.993–0.997 with 3–7 %.
 */
import { promptFeaturesAll, type FeatureOptions, type PromptFeatures } from '../engine/features.js';
import type { TransformerModel } from '../engine/transformer.js';
import { toItemMajor } from '../ood/detector.js';

/** Recorded with every detector so a scorer can refuse features of another kind. */
export const DETECTOR_FEATURES = 'final-token' as const;

/** Detector features from a prefill's PromptFeatures: [prompt][layer] → Float32Array(dModel). */
export function detectorFeaturesOf(f: PromptFeatures): Float32Array[][] {
  return toItemMajor(f.finalToken);
}

/** Runs the base prefill for tokenised prompts and returns their detector features. */
export function detectorFeatures(model: TransformerModel, tokenIds: number[][], options: FeatureOptions = {}): Float32Array[][] {
  if (tokenIds.length === 0) return [];
  return detectorFeaturesOf(promptFeaturesAll(model, tokenIds, options));
}
