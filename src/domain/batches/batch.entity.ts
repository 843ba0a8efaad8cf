import { Column, Entity } from 'typeorm';
import { TenantRow } from '../tenant-row';
import { BatchEndpoint } from '../../common/batch-endpoints';
import { bigintAsNumber } from '../../common/bigint-as-number';
import { BatchStatus } from './batch-status';

export interface BatchErrorItem {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

@Entity('batches')
export class BatchEntity extends TenantRow {
  @Column({ type: 'varchar', length: 64 })
  endpoint!: BatchEndpoint;

  @Column({ name: 'input_file_id', type: 'varchar', length: 64 })
  inputFileId!: string;

  @Column({ name: 'completion_window', type: 'varchar', length: 16 })
  completionWindow!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: BatchStatus;

  @Column({ type: 'text', nullable: true })
  model!: string | null;

  @Column({ name: 'output_file_id', type: 'varchar', length: 64, nullable: true })
  outputFileId!: string | null;

  @Column({ name: 'error_file_id', type: 'varchar', length: 64, nullable: true })
  errorFileId!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  errors!: BatchErrorItem[] | null;

  @Column({ type: 'jsonb', nullable: true })
  metadata!: Record<string, string> | null;

  @Column({ name: 'output_expires_after', type: 'jsonb', nullable: true })
  outputExpiresAfter!: { anchor: 'created_at'; seconds: number } | null;

  @Column({ name: 'total_requests', type: 'integer', default: 0 })
  totalRequests!: number;

  @Column({ name: 'completed_requests', type: 'integer', default: 0 })
  completedRequests!: number;

  @Column({ name: 'failed_requests', type: 'integer', default: 0 })
  failedRequests!: number;

  @Column({ name: 'input_tokens', type: 'bigint', transformer: bigintAsNumber, default: 0 })
  inputTokens!: number;

  @Column({ name: 'cached_tokens', type: 'bigint', transformer: bigintAsNumber, default: 0 })
  cachedTokens!: number;

  @Column({ name: 'output_tokens', type: 'bigint', transformer: bigintAsNumber, default: 0 })
  outputTokens!: number;

  @Column({ name: 'reasoning_tokens', type: 'bigint', transformer: bigintAsNumber, default: 0 })
  reasoningTokens!: number;

  /** Tokens this batch holds against its tenant's enqueued-token limit; null until admitted. */
  @Column({ name: 'estimated_tokens', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  estimatedTokens!: number | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'in_progress_at', type: 'timestamptz', nullable: true })
  inProgressAt!: Date | null;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @Column({ name: 'finalizing_at', type: 'timestamptz', nullable: true })
  finalizingAt!: Date | null;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  @Column({ name: 'failed_at', type: 'timestamptz', nullable: true })
  failedAt!: Date | null;

  @Column({ name: 'expired_at', type: 'timestamptz', nullable: true })
  expiredAt!: Date | null;

  @Column({ name: 'cancelling_at', type: 'timestamptz', nullable: true })
  cancellingAt!: Date | null;

  @Column({ name: 'cancelled_at', type: 'timestamptz', nullable: true })
  cancelledAt!: Date | null;
}
