import { Column, Entity, PrimaryColumn } from 'typeorm';

export type RequestOutcome = 'succeeded' | 'failed';

/**
 * One finished line of a batch. The primary key (batch_id, line_no) is what makes results
 * exactly-once: a retried or resumed dispatch inserts with ON CONFLICT DO NOTHING.
 */
@Entity('batch_requests')
export class BatchRequestEntity {
  @PrimaryColumn({ name: 'batch_id', type: 'varchar', length: 64 })
  batchId!: string;

  @PrimaryColumn({ name: 'line_no', type: 'integer' })
  lineNo!: number;

  @Column({ name: 'request_id', type: 'varchar', length: 64 })
  requestId!: string;

  @Column({ name: 'custom_id', type: 'text' })
  customId!: string;

  @Column({ type: 'varchar', length: 16 })
  outcome!: RequestOutcome;

  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode!: number | null;

  @Column({ name: 'upstream_request_id', type: 'text', nullable: true })
  upstreamRequestId!: string | null;

  /** The upstream response body exactly as received (JSON text), passed through without re-parsing. */
  @Column({ type: 'text', nullable: true })
  body!: string | null;

  @Column({ name: 'error_code', type: 'varchar', length: 64, nullable: true })
  errorCode!: string | null;

  @Column({ name: 'error_message', type: 'text', nullable: true })
  errorMessage!: string | null;

  @Column({ name: 'prompt_tokens', type: 'integer', default: 0 })
  promptTokens!: number;

  @Column({ name: 'completion_tokens', type: 'integer', default: 0 })
  completionTokens!: number;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
