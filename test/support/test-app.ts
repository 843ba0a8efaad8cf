import { NestExpressApplication } from '@nestjs/platform-express';
import IORedis from 'ioredis';
import { mkdtemp, rm } from 'node:fs/promises';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { AdminServer } from '../../src/api/admin/admin-server';
import { createApp, installFallbackErrorHandler } from '../../src/bootstrap';
import { applyHttpServerLimits } from '../../src/platform/http/http-server-limits';
import { AppConfig, loadConfig } from '../../src/platform/config/app-config';
import { startS3Server } from './s3-server';
import { listStoredFiles } from './storage-files';

export const PG_BASE = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const TENANT_A = { tenant: 'tenant-a', key: 'sk-test-tenant-a-0001' };
export const TENANT_B = { tenant: 'tenant-b', key: 'sk-test-tenant-b-0002' };

export interface TestEnv {
  /** Isolated resources of one test file: its own database, Redis key prefix and storage folder. */
  databaseUrl: string;
  queuePrefix: string;
  storageDir: string;
  env: Record<string, string>;
  /** Every stored file of the storage in use (local folder, or the S3 server's data incl. pending uploads). */
  listStored(): Promise<string[]>;
  dispose(): Promise<void>;
}

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  /** The admin surface (ADMIN_PORT), or null when the board is off. */
  adminUrl: string | null;
  close(): Promise<void>;
}

const unique = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** Creates a fresh database name, Redis prefix and storage dir; `dispose` removes all three. */
export async function createTestEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const id = unique();
  // TEST_STORAGE_DRIVER=s3 runs the same suites against a locally started S3-compatible server.
  const s3 = process.env.TEST_STORAGE_DRIVER === 's3' ? await startS3Server() : null;
  const dbName = `vllm_batch_test_${id}`;
  const databaseUrl = `${PG_BASE}/${dbName}`;
  const queuePrefix = `vbtest-${id}`;
  const storageDir = await mkdtemp(join(tmpdir(), 'vllm-batch-test-'));
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
    STORAGE_DIR: storageDir,
    API_KEYS: `${TENANT_A.tenant}:${TENANT_A.key},${TENANT_B.tenant}:${TENANT_B.key}`,
    LOG_LEVEL: 'warn',
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

/** Starts the whole app in this process on a free port. */
export async function startApp(env: Record<string, string>): Promise<TestApp> {
  const config = loadConfig({ ...env });
  const app = await createApp(config);
  await app.init();
  installFallbackErrorHandler(app);
  applyHttpServerLimits(app.getHttpServer(), config);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  // The board is served by the API roles when admin credentials are set.
  const adminPort =
    config.adminUser && config.role !== 'worker' ? app.get(AdminServer, { strict: false }).port : null;
  return {
    app,
    config,
    url: `http://127.0.0.1:${port}`,
    adminUrl: adminPort === null ? null : `http://127.0.0.1:${adminPort}`,
    close: () => app.close(),
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

async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new IORedis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export const authHeader = (key: string): Record<string, string> => ({ Authorization: `Bearer ${key}` });
