import { MigrationInterface, QueryRunner } from 'typeorm';

/** Files, batches and the per-request results that make a batch resumable after any crash. */
export class InitialSchema1764180000000 implements MigrationInterface {
  name = 'InitialSchema1764180000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE files (
        id varchar(64) PRIMARY KEY,
        tenant_id varchar(64) NOT NULL,
        filename text NOT NULL,
        purpose varchar(32) NOT NULL,
        bytes bigint NOT NULL,
        storage_key text NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'processed',
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NULL
      )`);
    await q.query(`CREATE INDEX idx_files_tenant_created ON files (tenant_id, created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX idx_files_expires ON files (expires_at) WHERE expires_at IS NOT NULL`);

    await q.query(`
      CREATE TABLE batches (
        id varchar(64) PRIMARY KEY,
        tenant_id varchar(64) NOT NULL,
        endpoint varchar(64) NOT NULL,
        input_file_id varchar(64) NOT NULL,
        completion_window varchar(16) NOT NULL,
        status varchar(16) NOT NULL,
        model text NULL,
        output_file_id varchar(64) NULL,
        error_file_id varchar(64) NULL,
        errors jsonb NULL,
        metadata jsonb NULL,
        output_expires_after jsonb NULL,
        total_requests integer NOT NULL DEFAULT 0,
        completed_requests integer NOT NULL DEFAULT 0,
        failed_requests integer NOT NULL DEFAULT 0,
        input_tokens bigint NOT NULL DEFAULT 0,
        cached_tokens bigint NOT NULL DEFAULT 0,
        output_tokens bigint NOT NULL DEFAULT 0,
        reasoning_tokens bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        in_progress_at timestamptz NULL,
        expires_at timestamptz NOT NULL,
        finalizing_at timestamptz NULL,
        completed_at timestamptz NULL,
        failed_at timestamptz NULL,
        expired_at timestamptz NULL,
        cancelling_at timestamptz NULL,
        cancelled_at timestamptz NULL
      )`);
    await q.query(`CREATE INDEX idx_batches_tenant_created ON batches (tenant_id, created_at DESC, id DESC)`);
    await q.query(
      `CREATE INDEX idx_batches_unfinished ON batches (status, expires_at) WHERE status IN ('validating','in_progress','finalizing','cancelling')`,
    );

    await q.query(`
      CREATE TABLE batch_requests (
        batch_id varchar(64) NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
        line_no integer NOT NULL,
        request_id varchar(64) NOT NULL,
        custom_id text NOT NULL,
        outcome varchar(16) NOT NULL,
        status_code integer NULL,
        upstream_request_id text NULL,
        body text NULL,
        error_code varchar(64) NULL,
        error_message text NULL,
        prompt_tokens integer NOT NULL DEFAULT 0,
        completion_tokens integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_batch_requests PRIMARY KEY (batch_id, line_no)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE batch_requests`);
    await q.query(`DROP TABLE batches`);
    await q.query(`DROP TABLE files`);
  }
}
