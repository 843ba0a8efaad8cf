import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { toFile } from 'openai';
import { Client } from 'pg';
import { sleep } from '../test/support/harness';
import {
  benchEnv,
  benchService,
  benchSimulator,
  fmt,
  sdk,
  tempDir,
  waitForEnd,
  writeChatFile,
} from './common';

const MB = 1024 * 1024;

/**
 * PostgreSQL's growth per finished batch: a 50,000-line batch of ~3 KB answers (the prompt is
 * padded and the simulator's answers echo it) against an instant simulator. Sizes are read after
 * VACUUM FULL, so they count what the rows hold, not dead space autovacuum would reuse.
 * `RELIABILITY_DIST=<other checkout>/dist` measures another build with the same scenario.
 */
async function dbgrowth(): Promise<void> {
  const lines = Number(process.env.BENCH_DBGROWTH_LINES ?? 50_000);
  console.log(`\n## dbgrowth: PostgreSQL growth per finished ${lines}-line batch of ~3 KB answers`);
  const sim = await benchSimulator({ SIM_INSTANT: 'true' });
  const iso = await benchEnv('bench_dbgrowth');
  const svc = await benchService('all', { ...iso.env, VLLM_BASE_URL: sim.url, WORKER_FIXED_INFLIGHT: '128' });
  const db = new Client({ connectionString: iso.databaseUrl });
  await db.connect();
  const sizes = async () => {
    await db.query('VACUUM FULL batch_requests');
    const { rows } = await db.query<{ total: string; table: string }>(
      `SELECT pg_database_size(current_database()) AS total, pg_total_relation_size('batch_requests') AS table`,
    );
    return { total: Number(rows[0].total), table: Number(rows[0].table) };
  };
  try {
    const path = join(await tempDir('bench'), 'dbgrowth.jsonl');
    await writeChatFile(path, lines, 3000);
    const client = sdk(svc.url);
    const before = await sizes();
    const file = await client.files.create({
      file: await toFile(createReadStream(path), 'in.jsonl'),
      purpose: 'batch',
    });
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForEnd(client, batch.id);
    // The bodies are trimmed right after the batch turns final; give that a moment.
    await sleep(3000);
    const after = await sizes();
    const { rows } = await db.query<{ held: number }>(
      'SELECT count(*)::int AS held FROM batch_requests WHERE batch_id = $1 AND body IS NOT NULL',
      [batch.id],
    );
    const output = done.output_file_id ? await client.files.retrieve(done.output_file_id) : null;
    console.log(
      `status ${done.status}, ${JSON.stringify(done.request_counts)}; output file ${fmt((output?.bytes ?? 0) / MB)} MB`,
    );
    console.log(
      `batch_requests grew ${fmt((after.table - before.table) / MB)} MB (${fmt((after.table - before.table) / lines, 0)} bytes per line); ` +
        `database grew ${fmt((after.total - before.total) / MB)} MB; rows still holding a body: ${rows[0].held}`,
    );
  } finally {
    await db.end();
    await svc.proc.stop();
    await sim.proc.stop();
    await iso.dispose();
  }
}

export const DB_GROWTH_SCENARIOS: Record<string, () => Promise<void>> = { dbgrowth };
