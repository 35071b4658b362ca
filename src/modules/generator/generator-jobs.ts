/** Payload of the `generator.train` job (see job-catalog.ts). */
export interface GeneratorTrainPayload {
  /** API key id of the operator who asked (audit actor). */
  actor: string;
  options: GeneratorTrainSettings;
}

/** Training settings of one generator version; every field has a default. */
export interface GeneratorTrainSettings {
  epochs?: number;
  seed?: number;
  latentDim?: number;
  width?: number;
  basisRank?: number;
}

export const GENERATOR_TRAIN_DEFAULTS = { epochs: 60, seed: 0 } as const;
