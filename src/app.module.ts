import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from './config/config.module.js';
import type { LetheConfig } from './config/config.js';
import { AdaptersModule } from './modules/adapters/adapters.module.js';
import { AuditModule } from './modules/audit/audit.module.js';
import { AuthModule } from './modules/auth/auth.module.js';
import { CommonModule } from './modules/common/common.module.js';
import { ConsoleModule } from './modules/console/console.module.js';
import { DatabaseModule } from './modules/database/database.module.js';
import { GeneratorModule } from './modules/generator/generator.module.js';
import { HealthModule } from './modules/health/health.module.js';
import { InferenceModule } from './modules/inference/inference.module.js';
import { JobsModule } from './modules/jobs/jobs.module.js';
import { LoggingModule } from './modules/logging/logging.module.js';
import { MetricsModule } from './modules/metrics/metrics.module.js';
import { UnlearningModule } from './modules/unlearning/unlearning.module.js';
import { TasksModule } from './modules/tasks/tasks.module.js';

/**
 * The application. Feature modules are listed in `imports`; a module that only makes sense in one
 * role reads `config.runsApi` / `config.runsWorker` (LETHE_ROLE).
 */
@Module({})
export class AppModule {
  static forRoot(config: LetheConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        MetricsModule.forRoot(config.metricsPublic),
        CommonModule,
        DatabaseModule,
        JobsModule.forRoot(),
        HealthModule,
        AuditModule,
        AuthModule,
        AdaptersModule,
        UnlearningModule,
        InferenceModule,
        ConsoleModule,
        TasksModule,
        GeneratorModule,
      ],
    };
  }
}
