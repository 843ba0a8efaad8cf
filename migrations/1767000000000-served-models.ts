import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The model catalogue: one row per (model, endpoint) pair ever seen in an endpoint's GET /v1/models.
 * `served` says whether the endpoint listed the model the last time it was asked; `last_served_at`
 * keeps when it last did, also after it stopped. `listed_at` is the time of the observation the row
 * reflects: writers only move it forward, so an older observation that commits late (another worker
 * process) cannot undo a newer one.
 */
export class ServedModels1767000000000 implements MigrationInterface {
  name = 'ServedModels1767000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE served_models (
        model text NOT NULL,
        endpoint_url text NOT NULL,
        served boolean NOT NULL,
        owned_by text NOT NULL DEFAULT 'vllm',
        max_model_len integer NULL,
        first_seen_at timestamptz NOT NULL,
        last_served_at timestamptz NOT NULL,
        listed_at timestamptz NOT NULL,
        CONSTRAINT pk_served_models PRIMARY KEY (model, endpoint_url)
      )`);
    // recordServed and endpointGone find an endpoint's rows by it.
    await q.query(`CREATE INDEX idx_served_models_endpoint ON served_models (endpoint_url)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE served_models`);
  }
}
