import { Column, Entity } from 'typeorm';
import { TenantRow } from '../tenant-row';
import { bigintAsNumber } from '../../common/bigint-as-number';

export const FILE_PURPOSES = [
  'batch',
  'batch_output',
  'fine-tune',
  'assistants',
  'vision',
  'user_data',
  'evals',
] as const;
export type FilePurpose = (typeof FILE_PURPOSES)[number];
/**
 * Every purpose an OpenAI File object may carry, including those only OpenAI's own products write.
 * Listing by any of them is a valid request (code written for OpenAI does it) that finds nothing
 * here when we never store that purpose; only a purpose that is not OpenAI's is refused.
 */
export const OPENAI_FILE_PURPOSES: readonly string[] = [
  ...FILE_PURPOSES,
  'assistants_output',
  'fine-tune-results',
];
/** Purposes a client may upload; `batch_output` files are only ever written by the service. */
export const UPLOADABLE_PURPOSES: readonly FilePurpose[] = [
  'batch',
  'fine-tune',
  'assistants',
  'vision',
  'user_data',
  'evals',
];

@Entity('files')
export class FileEntity extends TenantRow {
  @Column({ type: 'text' })
  filename!: string;

  @Column({ type: 'varchar', length: 32 })
  purpose!: FilePurpose;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  bytes!: number;

  @Column({ name: 'storage_key', type: 'text' })
  storageKey!: string;

  @Column({ type: 'varchar', length: 16, default: 'processed' })
  status!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;
}
