import { Column, Entity } from 'typeorm';
import { TenantRow } from '../tenant-row';

/** An API key made through the admin API. The key itself is never stored: only its SHA-256. */
@Entity('api_keys')
export class ApiKeyEntity extends TenantRow {
  @Column({ type: 'text', nullable: true })
  name!: string | null;

  /** The key's first characters, enough for an operator to tell keys apart. */
  @Column({ type: 'varchar', length: 16 })
  prefix!: string;

  /** Hex SHA-256 of the key. */
  @Column({ name: 'key_hash', type: 'char', length: 64 })
  keyHash!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}
