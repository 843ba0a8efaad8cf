import { DataSource, EntityManager } from 'typeorm';
import { BatchLimitsRepository } from '../../src/domain/batches/batch-limits.repository';
import { dataSourceOptions, runMigrations } from '../../src/platform/database/data-source';
import { createTestEnv, TestEnv } from '../support/harness';

/**
 * The per-tenant limits' SQL against the real PostgreSQL. Two DataSources stand for two worker (or
 * API) processes: each has its own connection pool, so nothing but PostgreSQL orders them.
 */
describe('BatchLimitsRepository (real PostgreSQL, two connection pools)', () => {
  let env: TestEnv;
  let one: DataSource;
  let two: DataSource;
  let seq = 0;

  beforeAll(async () => {
    env = await createTestEnv();
    await runMigrations(env.databaseUrl);
    one = await new DataSource(dataSourceOptions(env.databaseUrl, 8)).initialize();
    two = await new DataSource(dataSourceOptions(env.databaseUrl, 8)).initialize();
  });

  afterAll(async () => {
    await one?.destroy();
    await two?.destroy();
    await env?.dispose();
  });

  async function insertBatch(
    tenant: string,
    status: string,
    model: string | null = null,
    estimated: number | null = null,
  ): Promise<string> {
    const id = `batch_limits_${++seq}`;
    await one.query(
      `INSERT INTO batches (id, tenant_id, endpoint, input_file_id, completion_window, status, model,
         estimated_tokens, expires_at)
       VALUES ($1, $2, '/v1/chat/completions', 'file-x', '24h', $3, $4, $5, now() + interval '1 day')`,
      [id, tenant, status, model, estimated],
    );
    return id;
  }

  /** What the admission does inside the transaction: record the estimate and start the batch. */
  const start = (id: string, model: string, estimate: number) => async (m: EntityManager) => {
    await m.query(
      `UPDATE batches SET status = 'in_progress', model = $2, estimated_tokens = $3 WHERE id = $1 AND status = 'validating'`,
      [id, model, estimate],
    );
    return id;
  };

  it('two batches validated at once cannot both squeeze under the limit', async () => {
    const tenant = 'race';
    const limit = 1000;
    const estimate = 600; // one fits, two do not
    const ids = await Promise.all(Array.from({ length: 6 }, () => insertBatch(tenant, 'validating')));
    const repos = [new BatchLimitsRepository(one), new BatchLimitsRepository(two)];
    // Every contender waits (briefly) for all the others to have taken their sums before it writes:
    // without serialisation they all read 0 reserved and all get in. With the lock, the first holds
    // it while it waits, so the others only read after it committed.
    let arrived = 0;
    const allArrived = async (): Promise<void> => {
      arrived++;
      for (let i = 0; i < 20 && arrived < ids.length; i++) await new Promise((r) => setTimeout(r, 25));
    };
    const outcomes = await Promise.all(
      ids.map((id, i) =>
        repos[i % 2].reserveTokens({ id, tenantId: tenant }, 'm', estimate, limit, async (m) => {
          await allArrived();
          return start(id, 'm', estimate)(m);
        }),
      ),
    );
    expect(outcomes.filter((o) => o.admitted)).toHaveLength(1);
    const refused = outcomes.filter((o) => !o.admitted);
    expect(refused.every((o) => !o.admitted && o.current === estimate)).toBe(true);
    const [{ reserved }] = await one.query(
      `SELECT SUM(estimated_tokens)::int AS reserved FROM batches WHERE tenant_id = $1 AND status = 'in_progress'`,
      [tenant],
    );
    expect(reserved).toBe(estimate);
  });

  it("counts only the tenant's own unfinished batches for the same model; a finished batch frees its tokens", async () => {
    const tenant = 'frees';
    const repo = new BatchLimitsRepository(one);
    const running = await insertBatch(tenant, 'in_progress', 'm', 700);
    await insertBatch(tenant, 'completed', 'm', 900); // finished: holds nothing
    await insertBatch(tenant, 'in_progress', 'other-model', 900);
    await insertBatch('someone-else', 'in_progress', 'm', 900);
    await insertBatch(tenant, 'cancelling', 'm', null); // cancelled while validating: never admitted

    const next = await insertBatch(tenant, 'validating');
    // 400 more tokens of model m against a limit of 1,000.
    const reserveNext = () =>
      repo.reserveTokens({ id: next, tenantId: tenant }, 'm', 400, 1000, start(next, 'm', 400));
    const refused = await reserveNext();
    expect(refused).toEqual({ admitted: false, current: 700 });
    // The same batch for another model, or a smaller one, fits.
    const small = await repo.reserveTokens({ id: next, tenantId: tenant }, 'm', 300, 1000, async () => 'ok');
    expect(small).toEqual({ admitted: true, value: 'ok' });

    await one.query(`UPDATE batches SET status = 'completed' WHERE id = $1`, [running]);
    const admitted = await reserveNext();
    expect(admitted).toEqual({ admitted: true, value: next });
  });

  it('a limit of 0 admits anything and still records the estimate', async () => {
    const id = await insertBatch('unlimited', 'validating');
    const repo = new BatchLimitsRepository(one);
    await expect(
      repo.reserveTokens({ id, tenantId: 'unlimited' }, 'm', 10 ** 12, 0, start(id, 'm', 10 ** 12)),
    ).resolves.toEqual({
      admitted: true,
      value: id,
    });
    const [{ estimated_tokens }] = await one.query(`SELECT estimated_tokens FROM batches WHERE id = $1`, [
      id,
    ]);
    expect(Number(estimated_tokens)).toBe(10 ** 12);
  });

  it('active batches: concurrent creates from two pools never exceed the maximum', async () => {
    const tenant = 'active';
    await insertBatch(tenant, 'in_progress', 'm', 1);
    await insertBatch(tenant, 'completed', 'm', 1); // finished: not counted
    const repos = [new BatchLimitsRepository(one), new BatchLimitsRepository(two)];
    let arrived = 0;
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        repos[i % 2].admitCreate(tenant, 3, async (m) => {
          arrived++;
          for (let k = 0; k < 20 && arrived < 6; k++) await new Promise((r) => setTimeout(r, 25));
          await m.query(
            `INSERT INTO batches (id, tenant_id, endpoint, input_file_id, completion_window, status, expires_at)
             VALUES ($1, $2, '/v1/chat/completions', 'file-x', '24h', 'validating', now() + interval '1 day')`,
            [`batch_active_${i}`, tenant],
          );
        }),
      ),
    );
    expect(outcomes.filter((o) => o.admitted)).toHaveLength(2);
    expect(outcomes.filter((o) => !o.admitted).every((o) => !o.admitted && o.current === 3)).toBe(true);
    const [{ n }] = await one.query(
      `SELECT count(*)::int AS n FROM batches WHERE tenant_id = $1 AND status IN ('validating','in_progress')`,
      [tenant],
    );
    expect(n).toBe(3);
  });
});
