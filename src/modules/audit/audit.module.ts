import { Module } from '@nestjs/common';
import { AuditController } from './audit.controller.js';
import { AuditAnchorService } from './audit-anchor.service.js';
import { AuditSigningKey } from './audit-signing-key.service.js';
import { AuditRepository } from './audit.repository.js';
import { AuditService } from './audit.service.js';

/** The audit log: AuditService.record() for every state change, admin read, head and verify routes. */
@Module({
  controllers: [AuditController],
  providers: [AuditRepository, AuditService, AuditSigningKey, AuditAnchorService],
  exports: [AuditService],
})
export class AuditModule {}
