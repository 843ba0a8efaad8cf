import { Client } from 'pg';
import { DataSource, DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../../migrations/index';

/** The migration CLI's connections: its advisory-lock session and the one running migrations. */
const MIGRATION_POOL_MAX = 2;
/** Serialises migration runs (up and revert) across replicas and Jobs. */
const MIGRATION_LOCK_ID = 7351001;
const MIGRATIONS_TABLE = 'migrations';

/**
 * One definition of the connection, shared by the app and the migration CLI. Never `synchronize`.
 * `poolMax` (DATABASE_POOL_MAX) bounds this process's connections, so replicas × pool can be
 * budgeted against PostgreSQL's max_connections (README, "Database connections"). The entities
 * come from the composition root (the migration CLI needs none), so this folder knows no feature.
 */
export function dataSourceOptions(
  databaseUrl: string,
  poolMax: number,
  entities: NonNullable<DataSourceOptions['entities']> = [],
): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsTransactionMode: 'each',
    // A bounded wait, so a PostgreSQL outage (or an exhausted pool) surfaces as errors, not hangs.
    extra: { max: poolMax, connectionTimeoutMillis: 10_000 },
    logging: ['error'],
  };
}

/** Creates the database named in the URL when it does not exist yet (first start on a new machine). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return;
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      const quoted = '"' + name.replace(/"/g, '""') + '"';
      await client.query(`CREATE DATABASE ${quoted}`).catch((err: { code?: string }) => {
        // Another replica created it between our check and our CREATE.
        if (err.code !== '42P04' && err.code !== '23505') throw err;
      });
    }
  } finally {
    await client.end();
  }
}

/**
 * Runs `work` while holding the migration advisory lock on one dedicated session, so replicas and
 * Jobs that start at once take turns (the one that waited finds nothing pending). A session-level
 * lock: behind PgBouncer this needs session pooling (README, "Database connections").
 */
async function underMigrationLock<T>(databaseUrl: string, work: (ds: DataSource) => Promise<T>): Promise<T> {
  const ds = new DataSource(dataSourceOptions(databaseUrl, MIGRATION_POOL_MAX));
  await ds.initialize();
  try {
    const lockSession = ds.createQueryRunner();
    await lockSession.connect();
    try {
      await lockSession.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
      return await work(ds);
    } finally {
      await lockSession.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
      await lockSession.release();
    }
  } finally {
    await ds.destroy();
  }
}

/** Creates the database if needed and applies pending migrations; safe to run from several replicas. */
export async function runMigrations(databaseUrl: string): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  return underMigrationLock(databaseUrl, async (ds) => {
    const ran = await ds.runMigrations({ transaction: 'each' });
    return ran.map((m) => m.name);
  });
}

/** Name of the newest applied migration, or null when none is (or the table does not exist yet). */
async function lastApplied(ds: DataSource): Promise<string | null> {
  const [{ exists }] = (await ds.query('SELECT to_regclass($1) IS NOT NULL AS exists', [
    MIGRATIONS_TABLE,
  ])) as { exists: boolean }[];
  if (!exists) return null;
  const rows = (await ds.query(`SELECT name FROM "${MIGRATIONS_TABLE}" ORDER BY id DESC LIMIT 1`)) as {
    name: string;
  }[];
  return rows[0]?.name ?? null;
}

/**
 * Reverts the newest `steps` applied migrations (each its `down()`, in its own transaction), newest
 * first, under the same lock as `runMigrations`. Returns the names reverted; fewer than `steps` when
 * the database ran out of applied migrations.
 */
export async function revertMigrations(databaseUrl: string, steps: number): Promise<string[]> {
  return underMigrationLock(databaseUrl, async (ds) => {
    const reverted: string[] = [];
    for (let i = 0; i < steps; i++) {
      const name = await lastApplied(ds);
      if (name === null) break;
      await ds.undoLastMigration({ transaction: 'each' });
      reverted.push(name);
    }
    return reverted;
  });
}
