import { Client } from 'pg';
import { DataSource, DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { BatchRequestEntity } from '../batches/batch-request.entity';
import { BatchEntity } from '../batches/batch.entity';
import { FileEntity } from '../files/file.entity';

export const ENTITIES = [FileEntity, BatchEntity, BatchRequestEntity];

/** One definition of the connection, shared by the app and the migration CLI. Never `synchronize`. */
export function dataSourceOptions(databaseUrl: string): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsTransactionMode: 'each',
    // A pool big enough for API handlers and the worker's batched writes, and a bounded wait so a
    // PostgreSQL outage surfaces as errors rather than hangs.
    extra: { max: 20, connectionTimeoutMillis: 10_000 },
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

/** Creates the database if needed and applies pending migrations; safe to run from several replicas. */
export async function runMigrations(databaseUrl: string): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  const ds = new DataSource(dataSourceOptions(databaseUrl));
  await ds.initialize();
  try {
    // An advisory lock, held on one dedicated session, serialises replicas that start at once; the
    // one that waited finds nothing pending.
    const lockSession = ds.createQueryRunner();
    await lockSession.connect();
    try {
      await lockSession.query('SELECT pg_advisory_lock(7351001)');
      const ran = await ds.runMigrations({ transaction: 'each' });
      return ran.map((m) => m.name);
    } finally {
      await lockSession.query('SELECT pg_advisory_unlock(7351001)').catch(() => undefined);
      await lockSession.release();
    }
  } finally {
    await ds.destroy();
  }
}
