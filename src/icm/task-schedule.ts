/**
 * Task-training settings shared by the trainer (src/icm/task-training.ts), the service's DTOs and
 * bench:icm. No tensor imports, so the HTTP side can validate options without loading the engine.
 */

/**
 * `cosine`: decay from the peak at step 1 to `minLearningRateRatio`·peak at the last step, so the
 * last checkpoints (what the generator learns) settle instead of jittering at the full rate;
 * `constant`: the peak throughout.
 */
export type TaskLrSchedule = 'cosine' | 'constant';

export const TASK_LR_SCHEDULES: readonly TaskLrSchedule[] = ['cosine', 'constant'];

/**
 * Checkpoint spacing when none is given: the kept checkpoints span the last sixth of training,
 * where the adapter has (nearly) converged; over the last half a slow task's checkpoints were still
 * improving and the generator, which reproduces their distribution, lagged the final adapter.
 */
export function defaultCheckpointEvery(steps: number, keep: number): number {
  return Math.max(1, Math.floor(steps / (6 * keep)));
}
