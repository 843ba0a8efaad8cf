/**
 * `metrics` scenario: what a flood of /metrics scrapes costs everybody else. An ordinary
 * authenticated call (GET /v1/batches?limit=1) is timed one at a time, first at idle, then while
 * autocannon sends 2,000 scrapes of /metrics over 50 connections, all of which must be 200 (never a
 * 429: scrapes are not rate limited). The batches table holds BENCH_BATCHES rows, so a scrape that
 * counted them would show.
 */
import { Client } from 'pg';
import { benchEnv, benchService, fmt, sdk, tempDir, writeChatFile } from './common';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';

// autocannon ships no types; the little used here.
interface AutocannonResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  requests: { total: number };
  statusCodeStats?: Record<string, { count: number }>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS module without types
const autocannon = require('autocannon') as (
  opts: Record<string, unknown>,
  done: (err: Error | null, result: AutocannonResult) => void,
) => unknown;

const cannon = (opts: Record<string, unknown>): Promise<AutocannonResult> =>
  new Promise((resolve, reject) => autocannon(opts, (err, result) => (err ? reject(err) : resolve(result))));

const KEY = 'sk-bench-metrics-0001';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Times `call` back to back until `until` says stop (or `count` calls); milliseconds, sorted. */
async function timeCalls(
  call: () => Promise<void>,
  stop: () => boolean,
  count = Infinity,
): Promise<number[]> {
  const ms: number[] = [];
  while (ms.length < count && !stop()) {
    const t0 = performance.now();
    await call();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b);
}

/** Copies one real batch row `n` times under new ids, so the table is as large as a busy one. */
async function seedBatches(databaseUrl: string, n: number): Promise<void> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const cols = (
      await db.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'batches' ORDER BY ordinal_position`,
      )
    ).rows.map((r) => `"${r.column_name}"`);
    const select = cols.map((c) => (c === '"id"' ? `"id" || '_' || g` : c)).join(', ');
    await db.query(
      `INSERT INTO batches (${cols.join(', ')}) SELECT ${select} FROM (SELECT * FROM batches LIMIT 1) b, generate_series(1, $1) g`,
      [n],
    );
  } finally {
    await db.end();
  }
}

async function metricsLoad(): Promise<void> {
  const scrapes = Number(process.env.BENCH_SCRAPES ?? 2000);
  const connections = Number(process.env.BENCH_SCRAPE_CONNECTIONS ?? 50);
  const batches = Number(process.env.BENCH_BATCHES ?? 50_000);
  // BENCH_FLOOD_PATH=/health floods a path that does no work at all: the baseline for what 50
  // concurrent clients cost on this machine whatever they ask for.
  const floodPath = process.env.BENCH_FLOOD_PATH ?? '/metrics';
  console.log(
    `\n## metrics: GET /v1/batches?limit=1 latency at idle vs during ${scrapes} requests to ${floodPath} at ${connections} concurrent (${batches} batches in the table)`,
  );
  const iso = await benchEnv('bench_metrics');
  const svc = await benchService('api', { ...iso.env, API_KEYS: `bench:${KEY}` });
  try {
    const client = sdk(svc.url, KEY);
    const dir = await tempDir('bench');
    const path = join(dir, 'one.jsonl');
    await writeChatFile(path, 1);
    const file = await client.files.create({ file: createReadStream(path), purpose: 'batch' });
    await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await seedBatches(iso.env.DATABASE_URL, batches);

    const call = async (): Promise<void> => {
      const res = await fetch(`${svc.url}/v1/batches?limit=1`, {
        headers: { Authorization: `Bearer ${KEY}` },
      });
      if (res.status !== 200) throw new Error(`GET /v1/batches answered ${res.status}`);
      await res.arrayBuffer();
    };
    await timeCalls(call, () => false, 50); // warm-up
    const idle = await timeCalls(call, () => false, 300);

    let done = false;
    const flood = cannon({ url: `${svc.url}${floodPath}`, connections, amount: scrapes }).finally(() => {
      done = true;
    });
    const loaded = await timeCalls(call, () => done);
    const result = await flood;

    const line = (label: string, ms: number[]): string =>
      `${label} p50 ${fmt(percentile(ms, 50), 1)} ms, p99 ${fmt(percentile(ms, 99), 1)} ms (${ms.length} calls)`;
    console.log(line('idle:                 ', idle));
    console.log(line('during the scrapes:   ', loaded));
    console.log(
      `ratio loaded / idle:    p50 ${fmt(percentile(loaded, 50) / percentile(idle, 50), 2)} ×, p99 ${fmt(percentile(loaded, 99) / percentile(idle, 99), 2)} ×`,
    );
    console.log(
      `scrapes: ${result.requests.total} sent, ${result['2xx']} × 200, ${result.non2xx} other statuses ${JSON.stringify(result.statusCodeStats ?? {})}, ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  } finally {
    await svc.proc.stop();
    await iso.dispose();
  }
}

export const METRICS_SCENARIOS: Record<string, () => Promise<void>> = { metrics: metricsLoad };
