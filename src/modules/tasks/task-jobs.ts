import { defaultCheckpointEvery, type TaskLrSchedule } from '../../icm/task-schedule.js';

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
  /** Peak learning rate. */
  learningRate?: number;
  lrSchedule?: TaskLrSchedule;
  minLearningRateRatio?: number;
  keepCheckpoints?: number;
  checkpointEvery?: number;
  seed?: number;
}

/** Defaults of every setting but checkpointEvery, which follows steps and keepCheckpoints. */
export const TASK_TRAIN_DEFAULTS: Required<Omit<TaskTrainSettings, 'checkpointEvery'>> = {
  rank: 4,
  steps: 200,
  batchSize: 16,
  learningRate: 5e-3,
  // As bench:icm: cosine decay to 10 % of the peak, so the kept checkpoints and the final adapter
  // (the last of them) sit close together instead of jittering at the full rate.
  lrSchedule: 'cosine',
  minLearningRateRatio: 0.1,
  keepCheckpoints: 10,
  seed: 0,
};

/**
 * The settings a run uses: the defaults under the caller's options; without checkpointEvery the
 * kept checkpoints span the last sixth of training as in bench:icm (200 steps, 10 kept: every 3,
 * steps 173–200; it was every 10, steps 110–200, where slow tasks were still improving).
 */
export function taskTrainSettings(options: TaskTrainSettings): Required<TaskTrainSettings> {
  const merged = { ...TASK_TRAIN_DEFAULTS, ...options };
  return { ...merged, checkpointEvery: options.checkpointEvery ?? defaultCheckpointEvery(merged.steps, merged.keepCheckpoints) };
}
