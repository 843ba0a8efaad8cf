import { BatchEntity } from './batches/batch.entity';
import { FileEntity } from './files/file.entity';
import { ServedModelEntity } from './models/served-model.entity';
import { AdminAuditEntity } from './tenants/admin-audit.entity';
import { ApiKeyEntity } from './tenants/api-key.entity';
import { TenantEntity } from './tenants/tenant.entity';

/** Every TypeORM entity of the domain, registered once by the composition root (app.module.ts). */
export const DOMAIN_ENTITIES = [
  FileEntity,
  BatchEntity,
  ServedModelEntity,
  TenantEntity,
  ApiKeyEntity,
  AdminAuditEntity,
];
