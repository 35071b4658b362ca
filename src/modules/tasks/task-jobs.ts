/** Payload of the `tasks.train` job (see job-catalog.ts). */
export interface TaskTrainPayload {
  taskId: string;
  /** API key id of the operator who asked (audit actor). */
  actor: string;
  options: TaskTrainSettings;
}

/** Training settings of one run; every field has a default in the handler. */
export interface TaskTrainSettings {
  rank?: number;
  steps?: number;
  batchSize?: number;
  learningRate?: number;
  keepCheckpoints?: number;
  checkpointEvery?: number;
  seed?: number;
}

export const TASK_TRAIN_DEFAULTS: Required<TaskTrainSettings> = {
  rank: 4,
  steps: 200,
  batchSize: 16,
  learningRate: 5e-3,
  keepCheckpoints: 10,
  checkpointEvery: 10,
  seed: 0,
};
