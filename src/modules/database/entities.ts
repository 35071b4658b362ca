import { AdapterBlobEntity, AdapterEntity } from '../adapters/adapter.entity.js';
import { AuditEventEntity } from '../audit/audit-event.entity.js';
import { ApiKeyEntity } from '../auth/api-key.entity.js';
import { OodDetectorEntity, UnlearningRequestEntity } from '../unlearning/unlearning-request.entity.js';

/** Every TypeORM entity, listed explicitly (no globs: works from JS, vitest and tsx alike). */
export const ENTITIES = [ApiKeyEntity, AuditEventEntity, AdapterEntity, AdapterBlobEntity, UnlearningRequestEntity, OodDetectorEntity];
