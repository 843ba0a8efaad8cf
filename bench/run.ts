/**
 * `npm run bench [-- scenario ...]`: benchmarks against the vLLM simulator, each printing numbers
 * measured in the same run. Scenarios: throughput (5,000-line batch vs a direct client at the same
 * concurrency), upload (a 200 MB file: time and the service's peak RSS), large (a 50,000-line
 * ~200 MB batch from upload to completed, the service's peak RSS, exactly one line per custom_id),
 * metrics (an ordinary API call's latency at idle and during a flood of /metrics scrapes), dbgrowth
 * (PostgreSQL's growth per finished 50,000-line batch), perline (the worker's CPU per 1,000 lines and
 * its rate against a plain client, bench/per-line.ts), the concurrency scenarios (bench/concurrency.ts)
 * and the pool scenarios (bench/pool.ts: several replicas, models, a replica lost).
 * Results go to bench/RESULTS.md by hand, with the machine they ran on.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { toFile } from 'openai';
import { CONCURRENCY_SCENARIOS } from './concurrency';
import { DB_GROWTH_SCENARIOS } from './db-growth';
import { METRICS_SCENARIOS } from './metrics-load';
import { PER_LINE_SCENARIOS } from './per-line';
import { POOL_SCENARIOS } from './pool';
import { memoryOf, stopChildrenOnSignals } from '../test/support/harness';
import {
  benchEnv,
  benchService,
  benchSimulator,
  directClient,
  fmt,
  padFor,
  sdk,
  tempDir,
  waitForEnd,
  writeChatFile,
} from './common';

async function throughput(): Promise<void> {
  const n = Number(process.env.BENCH_LINES ?? 5000);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);
  console.log(
    `\n## throughput: ${n}-line chat batch, in-flight ${concurrency}, simulator with its default engine`,
  );
  const sim = await benchSimulator();
  const iso = await benchEnv('bench_tp');
  const svc = await benchService('all', {
    ...iso.env,
    VLLM_BASE_URL: sim.url,
    WORKER_CONCURRENCY_MODE: 'fixed',
    WORKER_FIXED_INFLIGHT: String(concurrency),
  });
  try {
    const dir = await tempDir('bench');
    const path = join(dir, 'tp.jsonl');
    await writeChatFile(path, n);
    const client = sdk(svc.url);
    const file = await client.files.create({ file: createReadStream(path), purpose: 'batch' });
    const t0 = performance.now();
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForEnd(client, batch.id);
    const serviceSeconds = (performance.now() - t0) / 1000;
    const serviceRate = n / serviceSeconds;
    const directRate = await directClient(sim.url, n, concurrency);
    console.log(
      `service end to end (create → completed): ${fmt(serviceSeconds, 2)} s, ${fmt(serviceRate)} req/s (${done.request_counts?.completed} ok)`,
    );
    console.log(`direct client, same concurrency:          ${fmt(directRate)} req/s`);
    console.log(`ratio service / direct:                   ${fmt(serviceRate / directRate, 3)}`);
  } finally {
    await svc.proc.stop();
    await sim.proc.stop();
    await iso.dispose();
  }
}

async function upload(): Promise<void> {
  const targetMb = Number(process.env.BENCH_UPLOAD_MB ?? 199);
  console.log(`\n## upload: one ${targetMb} MB batch file through POST /v1/files`);
  const iso = await benchEnv('bench_up');
  const svc = await benchService('api', iso.env);
  try {
    const dir = await tempDir('bench');
    const path = join(dir, 'big.jsonl');
    const lines = 50_000;
    const bytes = await writeChatFile(path, lines, padFor(targetMb * 1024 * 1024, lines));
    const before = await memoryOf(svc.proc.pid);
    const client = sdk(svc.url);
    const t0 = performance.now();
    const file = await client.files.create({
      file: await toFile(createReadStream(path), 'big.jsonl'),
      purpose: 'batch',
    });
    const seconds = (performance.now() - t0) / 1000;
    const after = await memoryOf(svc.proc.pid);
    console.log(`file: ${fmt(bytes / 1048576)} MB (${file.bytes} bytes stored)`);
    console.log(`upload time: ${fmt(seconds, 2)} s (${fmt(bytes / 1048576 / seconds)} MB/s)`);
    console.log(`service RSS before: ${fmt(before.rssMb)} MB, peak during upload: ${fmt(after.peakMb)} MB`);
  } finally {
    await svc.proc.stop();
    await iso.dispose();
  }
}

async function large(): Promise<void> {
  const lines = 50_000;
  console.log(
    `\n## large: ${lines}-line ~200 MB batch, instant simulator, whole service in one process (APP_ROLE=all)`,
  );
  const sim = await benchSimulator({ SIM_INSTANT: 'true' });
  const iso = await benchEnv('bench_large');
  const svc = await benchService('all', {
    ...iso.env,
    VLLM_BASE_URL: sim.url,
    WORKER_FIXED_INFLIGHT: '128',
  });
  try {
    const dir = await tempDir('bench');
    const path = join(dir, 'large.jsonl');
    const bytes = await writeChatFile(path, lines, padFor(199 * 1024 * 1024, lines));
    const client = sdk(svc.url);
    const t0 = performance.now();
    const file = await client.files.create({
      file: await toFile(createReadStream(path), 'large.jsonl'),
      purpose: 'batch',
    });
    const t1 = performance.now();
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    let validatedAt = 0;
    const peakByStatus: Record<string, number> = {};
    const pid = svc.proc.pid;
    const done = await waitForEnd(client, batch.id, (b) => {
      if (!validatedAt && b.status !== 'validating') validatedAt = performance.now();
      void memoryOf(pid).then((m) => {
        peakByStatus[b.status] = Math.max(peakByStatus[b.status] ?? 0, m.rssMb);
      });
    });
    console.log(
      `service RSS by batch status (max sampled): ${JSON.stringify(Object.fromEntries(Object.entries(peakByStatus).map(([k, v]) => [k, Math.round(v)])))}`,
    );
    const t2 = performance.now();
    const mem = await memoryOf(svc.proc.pid);
    // Count custom ids in the output as it streams by.
    const seen = new Set<string>();
    let dupes = 0;
    for (const id of [done.output_file_id, done.error_file_id]) {
      if (!id) continue;
      const res = await client.files.content(id);
      const rl = createInterface({ input: Readable.fromWeb(res.body as never) });
      for await (const line of rl) {
        if (!line) continue;
        const cid = (JSON.parse(line) as { custom_id: string }).custom_id;
        if (seen.has(cid)) dupes++;
        seen.add(cid);
      }
    }
    console.log(
      `input: ${fmt(bytes / 1048576)} MB, ${lines} lines; status ${done.status}; counts ${JSON.stringify(done.request_counts)}`,
    );
    console.log(
      `upload ${fmt((t1 - t0) / 1000, 2)} s; validation ${fmt((validatedAt - t1) / 1000, 2)} s; create → completed ${fmt((t2 - t1) / 1000, 2)} s (${fmt(lines / ((t2 - t1) / 1000))} req/s)`,
    );
    console.log(
      `output: ${seen.size} distinct custom_ids, ${dupes} duplicates, ${lines - seen.size} missing`,
    );
    console.log(`service peak RSS (VmHWM) over the whole run: ${fmt(mem.peakMb)} MB`);
    const out = await stat(path);
    void out;
  } finally {
    await svc.proc.stop();
    await sim.proc.stop();
    await iso.dispose();
  }
}

const SCENARIOS: Record<string, () => Promise<void>> = {
  throughput,
  upload,
  large,
  ...CONCURRENCY_SCENARIOS,
  ...METRICS_SCENARIOS,
  ...DB_GROWTH_SCENARIOS,
  ...POOL_SCENARIOS,
  ...PER_LINE_SCENARIOS,
};

async function main(): Promise<void> {
  stopChildrenOnSignals();
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = wanted.length ? wanted : Object.keys(SCENARIOS);
  for (const name of names) {
    const run = SCENARIOS[name];
    if (!run) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    await run();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
