import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { taskTrainSettings } from './task-jobs.js';
import { TrainTaskDto } from './task.dto.js';

describe('task training settings', () => {
  it('defaults to a cosine decay to 10 % and checkpoints over the last sixth of training', () => {
    const sut = taskTrainSettings({});
    expect(sut).toMatchObject({ steps: 200, learningRate: 5e-3, lrSchedule: 'cosine', minLearningRateRatio: 0.1, keepCheckpoints: 10, checkpointEvery: 3 });
    expect(taskTrainSettings({ steps: 600, keepCheckpoints: 20 }).checkpointEvery).toBe(5);
    expect(taskTrainSettings({ steps: 5 }).checkpointEvery).toBe(1);
  });

  it('keeps what the caller set', () => {
    const sut = taskTrainSettings({ lrSchedule: 'constant', minLearningRateRatio: 0.3, checkpointEvery: 10, learningRate: 1e-3 });
    expect(sut).toMatchObject({ lrSchedule: 'constant', minLearningRateRatio: 0.3, checkpointEvery: 10, learningRate: 1e-3, steps: 200 });
  });

  it('validates the schedule fields of a train request', async () => {
    const errors = async (body: object) => (await validate(plainToInstance(TrainTaskDto, body), { whitelist: true, forbidNonWhitelisted: true })).map((e) => e.property);
    expect(await errors({ lrSchedule: 'cosine', minLearningRateRatio: 0 })).toEqual([]);
    expect(await errors({ lrSchedule: 'linear' })).toEqual(['lrSchedule']);
    expect(await errors({ minLearningRateRatio: 1.5 })).toEqual(['minLearningRateRatio']);
  });
});
