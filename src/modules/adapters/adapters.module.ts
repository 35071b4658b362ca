import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AdapterRegistryService } from './adapter-registry.service.js';
import { AdapterRepository } from './adapter.repository.js';
import { AdapterLifecycleController } from './adapter-lifecycle.controller.js';
import { AdaptersController } from './adapters.controller.js';

/** The adapter registry; import this module to use AdapterRegistryService. */
@Module({
  imports: [AuditModule],
  controllers: [AdaptersController, AdapterLifecycleController],
  providers: [AdapterRepository, AdapterRegistryService],
  exports: [AdapterRegistryService],
})
export class AdaptersModule {}
