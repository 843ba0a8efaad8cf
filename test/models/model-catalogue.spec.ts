import { DataSource } from 'typeorm';
import { ModelCatalogueRepository } from '../../src/domain/models/model-catalogue.repository';
import { dataSourceOptions, runMigrations } from '../../src/platform/database/data-source';
import { createTestEnv, TestEnv } from '../support/harness';

/**
 * The model catalogue's SQL against the real PostgreSQL. Two DataSources stand for two worker
 * processes recording at once: each has its own connection pool, so nothing but PostgreSQL orders
 * them. Every test uses endpoints of its own, so tests share the database without seeing each other.
 */
describe('ModelCatalogueRepository (real PostgreSQL)', () => {
  let env: TestEnv;
  let one: DataSource;
  let two: DataSource;
  let repo: ModelCatalogueRepository;
  let other: ModelCatalogueRepository;
  let seq = 0;

  const FRESH_MS = 120_000;
  /** A fresh endpoint URL (and model prefix) per test. */
  const endpoint = (): string => `http://10.0.${++seq}.5:8000/v1`;
  const ago = (ms: number): Date => new Date(Date.now() - ms);
  /** What servedNow says about these models: id → endpoints. */
  const servedMap = async (ids: string[]): Promise<Record<string, string[]>> =>
    Object.fromEntries(
      (await repo.servedNow(FRESH_MS)).filter((m) => ids.includes(m.id)).map((m) => [m.id, m.endpoints]),
    );

  beforeAll(async () => {
    env = await createTestEnv();
    await runMigrations(env.databaseUrl);
    one = await new DataSource(dataSourceOptions(env.databaseUrl, 8)).initialize();
    two = await new DataSource(dataSourceOptions(env.databaseUrl, 8)).initialize();
    repo = new ModelCatalogueRepository(one);
    other = new ModelCatalogueRepository(two);
  });

  afterAll(async () => {
    await one?.destroy();
    await two?.destroy();
    await env?.dispose();
  });

  it('records what an endpoint serves, with created, owned_by (default vllm) and max_model_len', async () => {
    const e = endpoint();
    const before = Math.floor(Date.now() / 1000) - 5;
    await repo.recordServed(e, [
      { id: 'cat/basic-a', max_model_len: 8192, owned_by: 'acme' },
      { id: 'cat/basic-b' },
      { id: 'cat/basic-a', max_model_len: 1 }, // a repeated id: the first entry counts
    ]);
    const served = (await repo.servedNow(FRESH_MS)).filter((m) => m.id.startsWith('cat/basic-'));
    expect(served.map((m) => ({ ...m, created: 0, last_served_at: 0 }))).toEqual([
      {
        id: 'cat/basic-a',
        created: 0,
        owned_by: 'acme',
        max_model_len: 8192,
        endpoints: [e],
        last_served_at: 0,
      },
      {
        id: 'cat/basic-b',
        created: 0,
        owned_by: 'vllm',
        max_model_len: null,
        endpoints: [e],
        last_served_at: 0,
      },
    ]);
    for (const m of served) {
      expect(m.created).toBeGreaterThanOrEqual(before);
      expect(m.created).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 5);
      expect(m.last_served_at).toBeGreaterThanOrEqual(m.created);
    }
  });

  it('lists a model served by several endpoints once, with all of them; created is the first sighting', async () => {
    const [e1, e2] = [endpoint(), endpoint()];
    const firstSeen = ago(3_600_000);
    await repo.recordServed(e1, [{ id: 'cat/shared', max_model_len: 32768 }], firstSeen);
    await repo.recordServed(e1, [{ id: 'cat/shared', max_model_len: 32768 }]);
    await other.recordServed(e2, [{ id: 'cat/shared', max_model_len: 16384 }]);
    const [m] = (await repo.servedNow(FRESH_MS)).filter((x) => x.id === 'cat/shared');
    expect(m.endpoints).toEqual([e1, e2].sort());
    expect(m.created).toBe(Math.floor(firstSeen.getTime() / 1000));
    // A line may land on either replica: the smaller context is the one that always fits.
    expect(m.max_model_len).toBe(16384);
  });

  it('a model an endpoint no longer lists is not served by it, and its history stays', async () => {
    const [e1, e2] = [endpoint(), endpoint()];
    const ids = ['cat/drop-kept', 'cat/drop-gone', 'cat/drop-both'];
    const earlier = ago(60_000);
    await repo.recordServed(
      e1,
      [{ id: 'cat/drop-kept' }, { id: 'cat/drop-gone' }, { id: 'cat/drop-both' }],
      earlier,
    );
    await repo.recordServed(e2, [{ id: 'cat/drop-both' }], earlier);
    expect(await servedMap(ids)).toEqual({
      'cat/drop-kept': [e1],
      'cat/drop-gone': [e1],
      'cat/drop-both': [e1, e2].sort(),
    });

    await repo.recordServed(e1, [{ id: 'cat/drop-kept' }]);
    expect(await servedMap(ids)).toEqual({ 'cat/drop-kept': [e1], 'cat/drop-both': [e2] });

    const gone = await repo.find('cat/drop-gone', FRESH_MS);
    expect(gone).toMatchObject({ id: 'cat/drop-gone', endpoints: [] });
    // When it was last served stays what it was.
    expect(gone!.last_served_at).toBe(Math.floor(earlier.getTime() / 1000));
    expect(await repo.knownIds()).toEqual(expect.arrayContaining(ids));

    // Listed again: served again, first sighting unchanged.
    await repo.recordServed(e1, [{ id: 'cat/drop-kept' }, { id: 'cat/drop-gone' }]);
    const back = await repo.find('cat/drop-gone', FRESH_MS);
    expect(back!.endpoints).toEqual([e1]);
    expect(back!.created).toBe(Math.floor(earlier.getTime() / 1000));
  });

  it('an endpoint that serves nothing, or that left the pool, serves nothing', async () => {
    const [e1, e2, e3] = [endpoint(), endpoint(), endpoint()];
    const ids = ['cat/gone-a', 'cat/gone-b'];
    await repo.recordServed(e1, [{ id: 'cat/gone-a' }, { id: 'cat/gone-b' }]);
    await repo.recordServed(e2, [{ id: 'cat/gone-b' }]);
    await repo.recordServed(e3, [{ id: 'cat/gone-b' }]);

    await repo.endpointGone(e1);
    expect(await servedMap(ids)).toEqual({ 'cat/gone-b': [e2, e3].sort() });
    await other.recordServed(e2, []);
    expect(await servedMap(ids)).toEqual({ 'cat/gone-b': [e3] });

    expect(await repo.find('cat/gone-a', FRESH_MS)).toMatchObject({ endpoints: [] });
    expect((await repo.find('cat/gone-a'))!.last_served_at).toBeGreaterThan(0);
    // A late refresh of the removed endpoint, observed before its removal, changes nothing.
    await repo.recordServed(e1, [{ id: 'cat/gone-a' }], ago(30_000));
    expect(await servedMap(ids)).toEqual({ 'cat/gone-b': [e3] });
  });

  it('counts only endpoints seen within the window; find() without a window counts every listing one', async () => {
    const [stale, fresh] = [endpoint(), endpoint()];
    await repo.recordServed(stale, [{ id: 'cat/stale-only' }, { id: 'cat/stale-and-fresh' }], ago(600_000));
    await repo.recordServed(fresh, [{ id: 'cat/stale-and-fresh' }]);
    expect(await servedMap(['cat/stale-only', 'cat/stale-and-fresh'])).toEqual({
      'cat/stale-and-fresh': [fresh],
    });
    const wide = (await repo.servedNow(3_600_000)).filter((m) => m.id.startsWith('cat/stale-'));
    expect(wide.map((m) => [m.id, m.endpoints])).toEqual([
      ['cat/stale-and-fresh', [fresh, stale].sort()],
      ['cat/stale-only', [stale]],
    ]);
    expect(await repo.find('cat/stale-only', FRESH_MS)).toMatchObject({ endpoints: [] });
    expect(await repo.find('cat/stale-only')).toMatchObject({ endpoints: [stale] });
    expect(await repo.find('cat/never-seen')).toBeNull();
  });

  it('keeps max_model_len when a later listing omits it, and multi-byte ids intact', async () => {
    const e = endpoint();
    const id = 'モデル/中文-7B-Ünïcødé-🚀';
    await repo.recordServed(e, [{ id, max_model_len: 4096 }]);
    await repo.recordServed(e, [{ id, max_model_len: undefined }]);
    const m = await repo.find(id, FRESH_MS);
    expect(m).toMatchObject({ id, max_model_len: 4096, endpoints: [e] });
    expect(await repo.knownIds()).toContain(id);
  });

  it('an older observation that arrives late does not undo a newer one', async () => {
    const e = endpoint();
    await repo.recordServed(e, [{ id: 'cat/order-new' }], ago(1_000));
    await other.recordServed(e, [{ id: 'cat/order-old' }], ago(20_000));
    expect(await servedMap(['cat/order-new', 'cat/order-old'])).toEqual({ 'cat/order-new': [e] });
  });

  it('several processes recording one endpoint at once: no error, the newest listing is served', async () => {
    const e = endpoint();
    const pool = ['cat/race-a', 'cat/race-b', 'cat/race-c', 'cat/race-d', 'cat/race-e'];
    const base = Date.now() - 60_000;
    // Each observation lists a different subset, so writers insert, re-serve and unlist the same rows.
    const observations = Array.from({ length: 24 }, (_, i) => ({
      at: new Date(base + i * 1000),
      models: pool.filter((_, j) => (i + j) % 3 !== 0).map((id) => ({ id })),
    }));
    const order = [...observations].sort(() => Math.random() - 0.5);
    await Promise.all(order.map((o, i) => (i % 2 ? repo : other).recordServed(e, o.models, o.at)));
    const newest = observations[observations.length - 1].models.map((m) => m.id);
    const served = await servedMap(pool);
    for (const id of newest) expect({ id, endpoints: served[id] }).toEqual({ id, endpoints: [e] });
    expect(await repo.knownIds()).toEqual(expect.arrayContaining(pool));
  });

  it('keeps a model first seen in a listing that arrives after a newer one, as not served now', async () => {
    const e = endpoint();
    await repo.recordServed(e, [{ id: 'cat/late-kept' }], ago(1_000));
    await other.recordServed(e, [{ id: 'cat/late-kept' }, { id: 'cat/late-ç' }], ago(20_000));
    expect(await servedMap(['cat/late-kept', 'cat/late-ç'])).toEqual({ 'cat/late-kept': [e] });
    expect(await repo.knownIds()).toEqual(expect.arrayContaining(['cat/late-kept', 'cat/late-ç']));
  });
});
