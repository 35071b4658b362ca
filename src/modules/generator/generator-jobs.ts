/** Payload of the `generator.train` job (see job-catalog.ts). */
export interface GeneratorTrainPayload {
  /** API key id of the operator who asked (audit actor). */
  actor: string;
  options: GeneratorTrainSettings;
}

/** Training settings of one generator version; every field has a default. */
export interface GeneratorTrainSettings {
  /**
   * `basis` (default): shared low-rank basis + condition map (issue 15); `cvae`: the ICM-LoRA CVAE;
   * `compose`: part pieces over the trained tasks that carry part labels (task `parts`).
   */
  design?: GeneratorDesign;
  /** basis: directions (default tasks − 1); compose: rank of every piece (default 4). Storage bits of the basis / pieces. */
  rank?: number;
  bits?: 'nf4' | 4 | 8 | 16;
  /** compose: residual pieces (default 8, at most tasks − 1). */
  residualRank?: number;
  epochs?: number;
  seed?: number;
  latentDim?: number;
  width?: number;
  basisRank?: number;
}

export const GENERATOR_DESIGNS = ['basis', 'cvae', 'compose'] as const;
export type GeneratorDesign = (typeof GENERATOR_DESIGNS)[number];

export const GENERATOR_TRAIN_DEFAULTS = { design: 'basis' as GeneratorDesign, epochs: 60, seed: 0 };
