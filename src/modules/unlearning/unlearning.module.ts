import { Module } from '@nestjs/common';
import { AdaptersModule } from '../adapters/adapters.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { UnlearningController } from './unlearning.controller.js';
import { UnlearningOutcomeMetrics } from './unlearning-metrics.js';
import { UnlearningRepository } from './unlearning.repository.js';
import { UnlearningRunner } from './unlearning-runner.service.js';
import { UnlearningRuntime } from './unlearning-runtime.service.js';
import { UnlearningService } from './unlearning.service.js';
import { UnlearningTrainHandler } from './unlearning-train.handler.js';

/**
 * Unlearning requests (issue 4): REST, the `unlearning.train` job and the gated runtime. Needs
 * JobsModule (global) for the queue.
 */
@Module({
  imports: [AuditModule, AdaptersModule],
  controllers: [UnlearningController],
  providers: [UnlearningRepository, UnlearningService, UnlearningRunner, UnlearningRuntime, UnlearningTrainHandler, UnlearningOutcomeMetrics],
  exports: [UnlearningService, UnlearningRepository, UnlearningRuntime, UnlearningRunner],
})
export class UnlearningModule {}
