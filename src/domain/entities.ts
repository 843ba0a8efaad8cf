import { BatchEntity } from './batches/batch.entity';
import { FileEntity } from './files/file.entity';
import { ServedModelEntity } from './models/served-model.entity';

/** Every TypeORM entity of the domain, registered once by the composition root (app.module.ts). */
export const DOMAIN_ENTITIES = [FileEntity, BatchEntity, ServedModelEntity];
