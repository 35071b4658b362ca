import { Module } from '@nestjs/common';
import { AdaptersModule } from '../adapters/adapters.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { TaskRepository } from './task.repository.js';
import { TaskTrainingHandler } from './task-training.handler.js';
import { TasksController } from './tasks.controller.js';
import { TasksService } from './tasks.service.js';

/** Tasks and task-adapter training (issue 6). Needs the global Jobs module. */
@Module({
  imports: [AuditModule, AdaptersModule],
  controllers: [TasksController],
  providers: [TaskRepository, TasksService, TaskTrainingHandler],
  exports: [TaskRepository, TasksService],
})
export class TasksModule {}
