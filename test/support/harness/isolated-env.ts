/**
 * What keeps tests and benchmarks from seeing each other's state on a shared PostgreSQL and Redis:
 * a database, a Redis key prefix and a storage folder of their own, all removed by `dispose`.
 */
import IORedis from 'ioredis';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { listStoredFiles } from '../storage-files';

export const PG_BASE =
  process.env.TEST_PG_URL ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const TENANT_A = { tenant: 'tenant-a', key: 'sk-test-tenant-a-0001' };
export const TENANT_B = { tenant: 'tenant-b', key: 'sk-test-tenant-b-0002' };

export const authHeader = (key: string): Record<string, string> => ({ Authorization: `Bearer ${key}` });

/** Limits high enough that the rate limiter never shapes a scenario. */
export const UNTHROTTLED = {
  THROTTLE_BATCH_CREATE_LIMIT: '100000',
  THROTTLE_FILE_UPLOAD_LIMIT: '100000',
  THROTTLE_READ_LIMIT: '1000000',
  THROTTLE_MUTATION_LIMIT: '100000',
};

export interface TestEnv {
  databaseUrl: string;
  queuePrefix: string;
  storageDir: string;
  /** The service's environment: DATABASE_URL, REDIS_URL, QUEUE_PREFIX, STORAGE_DIR, API_KEYS, ... */
  env: Record<string, string>;
  /** Every stored file of the storage in use (local folder, or the S3 server's data incl. pending uploads). */
  listStored(): Promise<string[]>;
  dispose(): Promise<void>;
}

const unique = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/**
 * Creates a fresh database name (the service migrates it at start), Redis prefix and storage dir;
 * tenants A and B hold API keys. TEST_STORAGE_DRIVER=s3 puts the files on a locally started
 * S3-compatible server instead of the folder.
 */
export async function createTestEnv(overrides: Record<string, string> = {}, name = 'test'): Promise<TestEnv> {
  const id = unique();
  // Loaded only when used: the benchmarks run from dist/ without the S3 server's dev dependency.
  const s3 =
    process.env.TEST_STORAGE_DRIVER === 's3' ? await (await import('../s3-server')).startS3Server() : null;
  const dbName = `vllm_batch_${name}_${id}`;
  const databaseUrl = `${PG_BASE}/${dbName}`;
  const queuePrefix = `vb${name}-${id}`;
  const storageDir = await mkdtemp(join(tmpdir(), `vllm-batch-${name}-`));
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
    STORAGE_DIR: storageDir,
    API_KEYS: `${TENANT_A.tenant}:${TENANT_A.key},${TENANT_B.tenant}:${TENANT_B.key}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    PORT: '0',
    METRICS_PORT: '0',
    ADMIN_PORT: '0',
    ...(s3?.env ?? {}),
    ...overrides,
  };
  return {
    databaseUrl,
    queuePrefix,
    storageDir,
    env,
    listStored: () => listStoredFiles(s3 ? s3.directory : storageDir),
    async dispose() {
      await dropDatabase(dbName);
      await deleteRedisPrefix(queuePrefix);
      await rm(storageDir, { recursive: true, force: true });
      await s3?.stop();
    },
  };
}

async function dropDatabase(name: string): Promise<void> {
  const client = new Client({ connectionString: `${PG_BASE}/postgres` });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** Deletes every key under `prefix` (e.g. a test's queue keys, as a Redis restart would); returns how many. */
export async function deleteRedisPrefix(prefix: string, redisUrl = REDIS_URL): Promise<number> {
  const redis = new IORedis(redisUrl, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) deleted += await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
