import { Module } from '@nestjs/common';
import { AdaptersModule } from '../adapters/adapters.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { GenerateAdapterController, GeneratorController } from './generator.controller.js';
import { GeneratorRepository } from './generator.repository.js';
import { GeneratorService } from './generator.service.js';
import { GeneratorTrainingHandler } from './generator-training.handler.js';
import { ShippedGeneratorService } from './shipped-generator.service.js';

/** ICM-LoRA generator versions and adapter generation (issue 6). Needs the global Jobs module. */
@Module({
  imports: [AuditModule, AdaptersModule, TasksModule],
  controllers: [GeneratorController, GenerateAdapterController],
  providers: [GeneratorRepository, ShippedGeneratorService, GeneratorService, GeneratorTrainingHandler],
})
export class GeneratorModule {}
