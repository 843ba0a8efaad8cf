/**
 * Benchmarks of the GPU worker's concurrency control and scheduling (the issue "Keep the GPU full,
 * never flooded"). Each scenario prints ratios measured in the same run; bench/RESULTS.md records
 * them with the machine.
 *
 *   kv         a) KV-bound simulated GPU: the service with default settings vs a sweep of fixed
 *                 concurrencies of a direct client, at half, base and double KV capacity; plus the
 *                 service with a fixed limit far too high (2,000) side by side.
 *   instant    b) near-instant backend: a 50,000-line batch create → completed, vs a direct client.
 *   workers    c) one vs two worker processes when the backend is not the limit.
 *   validation d) a 200 MB upload plus its validation: rate and RSS growth.
 *   fairness   e) a small batch's time to complete while a large one runs, vs alone.
 *   kvmix      #13: a KV-bound simulated GPU with traffic shaped like real use (varied prompts, half
 *              behind a shared system prompt, answers of varied length): max_tokens far above the
 *              answers, then close to them; the service vs a sweep of a direct client.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import {
  memoryOf,
  samplesOf,
  ServiceProcess,
  SimStats,
  SimulatorProcess,
  TERMINAL_STATUSES,
} from '../test/support/harness';
import {
  benchEnv,
  benchService,
  benchSimulator,
  fmt,
  padFor,
  sdk,
  SERVICE_PORT,
  tempDir,
  waitForEnd,
  writeChatFile,
  writeMixedChatFile,
  writeShapedChatFile,
} from './common';

// ---------------------------------------------------------------------------------------------
// Simulator and service helpers

/** The sum of a metric's samples on the service's /metrics, or null when it has none (or is gone). */
async function serviceMetric(svc: ServiceProcess, name: string): Promise<number | null> {
  try {
    const samples = samplesOf(await svc.metrics(), name);
    return samples.length ? samples.reduce((sum, x) => sum + x.value, 0) : null;
  } catch {
    return null;
  }
}

async function limitChanges(svc: ServiceProcess): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    for (const { labels, value } of samplesOf(
      await svc.metrics(),
      'vllm_batch_concurrency_limit_changes_total',
    ))
      if (value > 0) out[labels.reason] = value;
  } catch {
    // the service is gone
  }
  return out;
}

/** Sends the bodies of a JSONL file straight to vLLM, `concurrency` at a time; returns req/s. */
export async function directRun(simUrl: string, bodies: string[], concurrency: number): Promise<number> {
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: concurrency + 16 });
  let next = 0;
  const started = performance.now();
  const loop = async (): Promise<void> => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await request(`${simUrl}/chat/completions`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body,
        headersTimeout: 600_000,
        bodyTimeout: 600_000,
      });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`direct client got ${res.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, loop));
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  return bodies.length / seconds;
}

export async function bodiesOf(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.stringify((JSON.parse(l) as { body: unknown }).body));
}

/** Uploads and runs one batch; returns seconds from create to completed and the final batch. */
export async function runBatch(
  client: OpenAI,
  path: string,
  onPoll?: () => void,
  pollMs = 50,
): Promise<{ seconds: number; batch: OpenAI.Batches.Batch }> {
  const file = await client.files.create({ file: createReadStream(path), purpose: 'batch' });
  const t0 = performance.now();
  const created = await client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  for (;;) {
    const b = await client.batches.retrieve(created.id);
    onPoll?.();
    if (TERMINAL_STATUSES.includes(b.status)) {
      return { seconds: (performance.now() - t0) / 1000, batch: b };
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

interface Row {
  who: string;
  inflight: string;
  rate: number;
  stats: SimStats;
  lines: number;
  note?: string;
}

/** A direct client at each `factors` × `knee` in flight (comma-separated), one row per concurrency. */
async function directSweep(
  sim: SimulatorProcess,
  bodies: string[],
  knee: number,
  factors: string,
): Promise<Row[]> {
  const rows: Row[] = [];
  const sweep = factors.split(',').map((m) => Math.max(1, Math.round(Number(m) * knee)));
  for (const c of [...new Set(sweep)]) {
    await sim.reset();
    const rate = await directRun(sim.url, bodies, c);
    rows.push({
      who: 'direct client',
      inflight: String(c),
      rate,
      stats: await sim.stats(),
      lines: bodies.length,
    });
  }
  return rows;
}

function printRows(rows: Row[], best: number): void {
  console.log(
    '| run | in flight | req/s | ÷ best direct | sim mean running | sim mean waiting | waiting ÷ running | preemptions (% of requests) |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const wr = r.stats.meanRunning > 0 ? r.stats.meanWaiting / r.stats.meanRunning : 0;
    console.log(
      `| ${r.who} | ${r.inflight} | ${fmt(r.rate)} | ${fmt(r.rate / best, 3)} | ${fmt(r.stats.meanRunning)} | ${fmt(r.stats.meanWaiting)} | ${fmt(wr * 100)} % | ${r.stats.preemptions} (${fmt((100 * r.stats.preemptions) / r.lines, 2)} %) |`,
    );
  }
  for (const r of rows) if (r.note) console.log(`${r.who}: ${r.note}`);
}

// ---------------------------------------------------------------------------------------------
// a) KV-bound simulated GPU

const KV_LINES = Number(process.env.BENCH_KV_LINES ?? 3000);
// A prefill-heavy batch (classification, extraction, scoring): 464-token prompts, answers of at
// most 16 tokens. Each request holds 30 KV blocks from admission to its end, so the cache, not
// decode, bounds the running batch: 1,024 blocks run 34 of them at once.
const KV_PROMPT_TOKENS = Number(process.env.BENCH_KV_PROMPT_TOKENS ?? 464);
const KV_MAX_TOKENS = Number(process.env.BENCH_KV_MAX_TOKENS ?? 16);
const KV_SPREAD = Number(process.env.BENCH_KV_SPREAD ?? 0);
const KV_BASE_BLOCKS = Number(process.env.BENCH_KV_BLOCKS ?? 1024);
/** Engine step time: 20 ms, a mid-size model on one GPU (the simulator's default is 10 ms). */
const KV_STEP_MS = process.env.BENCH_KV_STEP_MS ?? '20';

async function kvAt(blocks: number, path: string, bodies: string[], withFlood: boolean): Promise<void> {
  const capacity = blocks * 16;
  const knee = Math.floor(capacity / (KV_PROMPT_TOKENS + KV_MAX_TOKENS));
  console.log(
    `\n### KV capacity ${blocks} blocks × 16 = ${capacity} tokens (${KV_LINES} lines of ${KV_PROMPT_TOKENS}${KV_SPREAD ? ` ± ${KV_SPREAD}` : ''} prompt + ${KV_MAX_TOKENS} max_tokens tokens, ${KV_STEP_MS} ms engine steps; ${knee} requests fill the cache)`,
  );
  const sim = await benchSimulator({
    SIM_NUM_GPU_BLOCKS: String(blocks),
    SIM_STEP_BASE_MS: KV_STEP_MS,
  });
  const rows: Row[] = [];
  try {
    // The service with default settings (adaptive).
    const serviceRun = async (who: string, env: Record<string, string>): Promise<void> => {
      const iso = await benchEnv('bench_kv');
      const svc = await benchService('all', { ...iso.env, VLLM_BASE_URL: sim.url, ...env });
      try {
        const client = sdk(svc.url);
        await sim.reset();
        const limits: number[] = [];
        let lastSample = 0;
        const { seconds, batch } = await runBatch(client, path, () => {
          if (performance.now() - lastSample < 1000) return;
          lastSample = performance.now();
          void serviceMetric(svc, 'vllm_batch_concurrency_global_limit').then((v) => {
            if (v !== null) limits.push(v);
          });
        });
        const stats = await sim.stats();
        const changes = await limitChanges(svc);
        if (batch.request_counts?.completed !== KV_LINES)
          throw new Error(`${who}: ${JSON.stringify(batch.request_counts)}`);
        // The first sample is the idle limit, read before the batch started.
        const during = limits.slice(1);
        const range = during.length ? `${Math.min(...during)}–${Math.max(...during)}` : '?';
        rows.push({
          who,
          inflight: env.WORKER_FIXED_INFLIGHT ?? `adaptive ${range}`,
          rate: KV_LINES / seconds,
          stats,
          lines: KV_LINES,
          note: Object.keys(changes).length ? `limit changes: ${JSON.stringify(changes)}` : undefined,
        });
        if (limits.length) console.log(`${who}: limit per second: ${limits.join(' ')}`);
      } finally {
        await svc.proc.stop();
        await iso.dispose();
      }
    };
    await serviceRun('service, default settings', {});
    if (withFlood)
      await serviceRun('service, fixed limit 2000', {
        WORKER_CONCURRENCY_MODE: 'fixed',
        WORKER_FIXED_INFLIGHT: '2000',
      });

    // The sweep of a direct client at fixed concurrency.
    rows.push(
      ...(await directSweep(sim, bodies, knee, process.env.BENCH_KV_SWEEP ?? '0.5,1,1.06,1.12,1.25,2,8')),
    );
  } finally {
    await sim.proc.stop();
  }
  const best = Math.max(...rows.filter((r) => r.who === 'direct client').map((r) => r.rate));
  printRows(rows, best);
  const svc = rows[0];
  const wr = svc.stats.meanWaiting / Math.max(1e-9, svc.stats.meanRunning);
  const pre = svc.stats.preemptions / KV_LINES;
  console.log(
    `service ÷ best direct = ${fmt(svc.rate / best, 3)} (target ≥ 0.97); waiting ÷ running = ${fmt(wr * 100)} % (≤ 10 %); preemptions = ${fmt(pre * 100, 2)} % of requests (≤ 1 %) → ${
      svc.rate / best >= 0.97 && wr <= 0.1 && pre <= 0.01 ? 'PASS' : 'MISS'
    }`,
  );
}

async function kv(): Promise<void> {
  console.log(
    `\n## kv: a ${KV_LINES}-line batch on a KV-bound simulated GPU, the service with default settings vs the best fixed-concurrency direct client`,
  );
  const dir = await tempDir('bench-kv');
  const path = join(dir, 'kv.jsonl');
  await writeShapedChatFile(path, KV_LINES, KV_PROMPT_TOKENS, KV_MAX_TOKENS, KV_SPREAD);
  const bodies = await bodiesOf(path);
  const factors = (process.env.BENCH_KV_FACTORS ?? '0.5,1,2').split(',').map(Number);
  for (const f of factors) await kvAt(Math.round(KV_BASE_BLOCKS * f), path, bodies, f === 1);
}

// ---------------------------------------------------------------------------------------------
// b) near-instant backend

async function instant(): Promise<void> {
  const lines = Number(process.env.BENCH_INSTANT_LINES ?? 50_000);
  const mb = Number(process.env.BENCH_INSTANT_MB ?? 199);
  console.log(
    `\n## instant: a ${lines}-line, ${mb} MB batch against an instant simulator, default settings, whole service in one process`,
  );
  const sim = await benchSimulator({ SIM_INSTANT: 'true' });
  const iso = await benchEnv('bench_instant');
  const svc = await benchService('all', { ...iso.env, VLLM_BASE_URL: sim.url });
  try {
    const dir = await tempDir('bench');
    const path = join(dir, 'instant.jsonl');
    await writeChatFile(path, lines, padFor(mb * 1024 * 1024, lines));
    const client = sdk(svc.url);
    const { seconds, batch } = await runBatch(client, path);
    const mem = await memoryOf(svc.proc.pid);
    const limit = await serviceMetric(svc, 'vllm_batch_concurrency_global_limit');
    const rate = lines / seconds;
    const bodies = await bodiesOf(path);
    const direct = await directRun(sim.url, bodies, 128);
    console.log(
      `status ${batch.status}, ${JSON.stringify(batch.request_counts)}; adaptive limit at the end: ${limit}; service peak RSS ${fmt(mem.peakMb)} MB`,
    );
    console.log(
      `service create → completed: ${fmt(seconds, 2)} s = ${fmt(rate)} req/s (target ≥ 2,500 req/s, < 25 s) → ${rate >= 2500 && seconds < 25 ? 'PASS' : 'MISS'}`,
    );
    console.log(
      `direct client (128 in flight): ${fmt(direct)} req/s; service ÷ direct = ${fmt(rate / direct, 3)}`,
    );
  } finally {
    await svc.proc.stop();
    await sim.proc.stop();
    await iso.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// c) one vs two worker processes

/** CPU seconds (user + system) a process has used, from /proc (0 when it is gone). */
async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ)
  } catch {
    return 0;
  }
}

/** CPU seconds of every PostgreSQL process on this machine (the benchmarks' database server). */
async function postgresCpu(): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  let total = 0;
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const comm = await readFile(`/proc/${d}/comm`, 'utf8').catch(() => '');
    if (comm.startsWith('postgres')) total += await cpuSeconds(Number(d));
  }
  return total;
}

async function workers(): Promise<void> {
  const perBatch = Number(process.env.BENCH_WORKERS_LINES ?? 20_000);
  const batches = 2;
  console.log(
    `\n## workers: ${batches} batches of ${perBatch} lines against an instant simulator, an API process plus one or two worker processes`,
  );
  const sim = await benchSimulator({ SIM_INSTANT: 'true' });
  const dir = await tempDir('bench');
  const path = join(dir, 'workers.jsonl');
  await writeChatFile(path, perBatch);
  const rates: number[] = [];
  try {
    for (const n of [1, 2]) {
      const iso = await benchEnv(`bench_w${n}`);
      const env = { ...iso.env, VLLM_BASE_URL: sim.url };
      const api = await benchService('api', env);
      const procs: ServiceProcess[] = [];
      try {
        for (let i = 0; i < n; i++) procs.push(await benchService('worker', env, SERVICE_PORT + 1 + i));
        const client = sdk(api.url);
        const ids: string[] = [];
        for (let i = 0; i < batches; i++)
          ids.push((await client.files.create({ file: createReadStream(path), purpose: 'batch' })).id);
        const pids = { workers: procs.map((p) => p.proc.pid), api: api.proc.pid };
        const cpu0 = {
          workers: await Promise.all(pids.workers.map(cpuSeconds)),
          api: await cpuSeconds(pids.api),
          sim: await cpuSeconds(sim.proc.pid),
          pg: await postgresCpu(),
        };
        const t0 = performance.now();
        const created = await Promise.all(
          ids.map((id) =>
            client.batches.create({
              input_file_id: id,
              endpoint: '/v1/chat/completions',
              completion_window: '24h',
            }),
          ),
        );
        const done = await Promise.all(created.map((b) => waitForEnd(client, b.id)));
        const seconds = (performance.now() - t0) / 1000;
        const total = done.reduce((a, b) => a + (b.request_counts?.completed ?? 0), 0);
        rates.push(total / seconds);
        const perK = (cpu: number): string => fmt((1000 * cpu) / total, 3);
        const workerCpu = await Promise.all(pids.workers.map(cpuSeconds));
        const spent = {
          workers: workerCpu.map((c, i) => c - cpu0.workers[i]),
          api: (await cpuSeconds(pids.api)) - cpu0.api,
          sim: (await cpuSeconds(sim.proc.pid)) - cpu0.sim,
          pg: (await postgresCpu()) - cpu0.pg,
        };
        console.log(`${n} worker(s): ${total} lines in ${fmt(seconds, 2)} s = ${fmt(total / seconds)} req/s`);
        console.log(
          `  CPU seconds per 1,000 requests: worker(s) ${spent.workers.map(perK).join(' + ')}, API ${perK(spent.api)}, simulator ${perK(spent.sim)}, PostgreSQL ${perK(spent.pg)}; machine busy ${fmt((100 * (spent.workers.reduce((a, b) => a + b, 0) + spent.api + spent.sim + spent.pg)) / seconds / cpus().length)} % of ${cpus().length} cores`,
        );
      } finally {
        for (const p of procs) await p.proc.stop();
        await api.proc.stop();
        await iso.dispose();
      }
    }
  } finally {
    await sim.proc.stop();
  }
  const ratio = rates[1] / rates[0];
  console.log(
    `two workers ÷ one worker = ${fmt(ratio, 2)} (target ≥ 1.7) → ${ratio >= 1.7 ? 'PASS' : 'MISS'}`,
  );
}

// ---------------------------------------------------------------------------------------------
// d) upload plus validation

async function validation(): Promise<void> {
  const targetMb = Number(process.env.BENCH_UPLOAD_MB ?? 200);
  const lines = 50_000;
  console.log(`\n## validation: a ${targetMb} MB, ${lines}-line file uploaded and validated (APP_ROLE=all)`);
  const sim = await benchSimulator({ SIM_INSTANT: 'true' });
  const iso = await benchEnv('bench_val');
  const svc = await benchService('all', { ...iso.env, VLLM_BASE_URL: sim.url });
  try {
    const dir = await tempDir('bench');
    const path = join(dir, 'big.jsonl');
    const bytes = await writeChatFile(path, lines, padFor(targetMb * 1024 * 1024, lines));
    const pid = svc.proc.pid;
    const before = await memoryOf(pid);
    const client = sdk(svc.url);
    const t0 = performance.now();
    const file = await client.files.create({
      file: await toFile(createReadStream(path), 'big.jsonl'),
      purpose: 'batch',
    });
    const t1 = performance.now();
    const afterUpload = await memoryOf(pid);
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    let status = batch.status;
    while (status === 'validating') {
      await new Promise((r) => setTimeout(r, 20));
      status = (await client.batches.retrieve(batch.id)).status;
    }
    const t2 = performance.now();
    const afterValidation = await memoryOf(pid);
    await waitForEnd(client, batch.id);
    const mb = bytes / 1048576;
    const seconds = (t2 - t0) / 1000;
    const growth = afterValidation.peakMb - before.rssMb;
    console.log(
      `file ${fmt(mb)} MB; upload ${fmt((t1 - t0) / 1000, 2)} s (${fmt(mb / ((t1 - t0) / 1000))} MB/s); validation ${fmt((t2 - t1) / 1000, 2)} s; status after: ${status}`,
    );
    console.log(
      `upload + validation: ${fmt(seconds, 2)} s = ${fmt(mb / seconds)} MB/s (target ≥ 50) → ${mb / seconds >= 50 ? 'PASS' : 'MISS'}`,
    );
    console.log(
      `service RSS before ${fmt(before.rssMb)} MB, peak by end of upload ${fmt(afterUpload.peakMb)} MB, by end of validation ${fmt(afterValidation.peakMb)} MB: growth ${fmt(growth)} MB (target < 100) → ${growth < 100 ? 'PASS' : 'MISS'}`,
    );
  } finally {
    await svc.proc.stop();
    await sim.proc.stop();
    await iso.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// e) a small batch while a large one runs

async function fairness(): Promise<void> {
  const large = Number(process.env.BENCH_FAIR_LARGE ?? 3000);
  const small = Number(process.env.BENCH_FAIR_SMALL ?? 50);
  console.log(
    `\n## fairness: a ${small}-line batch alone, then submitted 5 s into a ${large}-line batch (KV-bound simulator, ${KV_BASE_BLOCKS} blocks, default settings)`,
  );
  const sim = await benchSimulator({
    SIM_NUM_GPU_BLOCKS: String(KV_BASE_BLOCKS),
    SIM_STEP_BASE_MS: KV_STEP_MS,
  });
  const iso = await benchEnv('bench_fair');
  const svc = await benchService('all', { ...iso.env, VLLM_BASE_URL: sim.url });
  try {
    const dir = await tempDir('bench');
    const bigPath = join(dir, 'large.jsonl');
    const smallPath = join(dir, 'small.jsonl');
    await writeShapedChatFile(bigPath, large, KV_PROMPT_TOKENS, KV_MAX_TOKENS);
    await writeShapedChatFile(smallPath, small, KV_PROMPT_TOKENS, KV_MAX_TOKENS);
    const client = sdk(svc.url);
    const alone = await runBatch(client, smallPath, undefined, 50);
    const bigRun = runBatch(client, bigPath);
    await new Promise((r) => setTimeout(r, 5000));
    const shared = await runBatch(client, smallPath, undefined, 50);
    const big = await bigRun;
    console.log(`small batch alone: ${fmt(alone.seconds, 2)} s create → completed`);
    console.log(
      `small batch during the large one: ${fmt(shared.seconds, 2)} s (${fmt(shared.seconds / alone.seconds, 2)} × alone); the large one took ${fmt(big.seconds, 1)} s`,
    );
    console.log(
      `FIFO behind the large batch would have taken ≥ ${fmt(big.seconds - 5, 1)} s (${fmt((big.seconds - 5) / alone.seconds, 1)} × alone)`,
    );
  } finally {
    await svc.proc.stop();
    await sim.proc.stop();
    await iso.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// kvmix) max_tokens far above what answers use (#13)

const MIX_LINES = Number(process.env.BENCH_MIX_LINES ?? 2000);
const MIX_PROMPT = (process.env.BENCH_MIX_PROMPT ?? '100-1000').split('-').map(Number) as [number, number];
const MIX_ANSWER = (process.env.BENCH_MIX_ANSWER ?? '20-400').split('-').map(Number) as [number, number];
const MIX_BLOCKS = Number(process.env.BENCH_MIX_BLOCKS ?? 4096);
const MIX_STEP_MS = process.env.BENCH_MIX_STEP_MS ?? '10';
const MIX_REPEAT = Number(process.env.BENCH_MIX_REPEAT ?? 1);
/** Longer than the law's idle reset (5 ticks of 1 s). */
const MIX_IDLE_MS = 8000;
/**
 * What a token of prefill (a new prompt, or a preempted sequence recomputed) adds to a step, ms.
 * 0.02 ms against 10 ms steps: prefill about 500 × faster per token than a decode step, an 8B-class
 * model on one GPU. 0 makes preemptions free, which no GPU does.
 */
const MIX_PREFILL_MS = process.env.BENCH_MIX_PREFILL_MS ?? '0.02';

async function kvMixAt(maxTokens: number, label: string): Promise<void> {
  const dir = await tempDir('bench-kvmix');
  const path = join(dir, 'kvmix.jsonl');
  await writeMixedChatFile(path, MIX_LINES, MIX_PROMPT, maxTokens);
  const bodies = await bodiesOf(path);
  const capacity = MIX_BLOCKS * 16;
  const meanPrompt = (MIX_PROMPT[0] + MIX_PROMPT[1]) / 2;
  const meanAnswer = (MIX_ANSWER[0] + MIX_ANSWER[1]) / 2;
  // Requests that fill the cache at the end of their lives (the sweep's unit).
  const knee = Math.floor(capacity / (meanPrompt + meanAnswer));
  console.log(
    `\n### ${label}: max_tokens ${maxTokens}, answers ${MIX_ANSWER[0]}–${MIX_ANSWER[1]} tokens, prompts ${MIX_PROMPT[0]}–${MIX_PROMPT[1]} (${MIX_LINES} lines; ${MIX_BLOCKS} blocks × 16 = ${capacity} tokens; ${MIX_STEP_MS} ms steps + ${MIX_PREFILL_MS} ms per prefilled token; ~${knee} requests at the end of their lives fill the cache)`,
  );
  const sim = await benchSimulator({
    SIM_NUM_GPU_BLOCKS: String(MIX_BLOCKS),
    SIM_STEP_BASE_MS: MIX_STEP_MS,
    SIM_STEP_PER_PREFILL_TOKEN_MS: MIX_PREFILL_MS,
    SIM_MAX_MODEL_LEN: String(MIX_PROMPT[1] + Math.max(maxTokens, MIX_ANSWER[1]) + 64),
    SIM_OUTPUT_TOKENS: String(MIX_ANSWER[0]),
    SIM_OUTPUT_TOKENS_MAX: String(MIX_ANSWER[1]),
  });
  const rows: Row[] = [];
  try {
    const iso = await benchEnv('bench_kvmix');
    const svc = await benchService('all', { ...iso.env, VLLM_BASE_URL: sim.url });
    try {
      // BENCH_MIX_REPEAT > 1: the same batch again in the same service after an idle spell longer
      // than the law's idle reset, to show what it keeps from the batch before.
      for (let run = 1; run <= MIX_REPEAT; run++) {
        if (run > 1) await new Promise((r) => setTimeout(r, MIX_IDLE_MS));
        await sim.reset();
        const limits: number[] = [];
        let lastSample = 0;
        const { seconds, batch } = await runBatch(sdk(svc.url), path, () => {
          if (performance.now() - lastSample < 1000) return;
          lastSample = performance.now();
          void serviceMetric(svc, 'vllm_batch_concurrency_global_limit').then((v) => {
            if (v !== null) limits.push(v);
          });
        });
        const stats = await sim.stats();
        const changes = await limitChanges(svc);
        if (batch.request_counts?.completed !== MIX_LINES)
          throw new Error(`service: ${JSON.stringify(batch.request_counts)}`);
        const during = limits.slice(1);
        rows.push({
          who: MIX_REPEAT > 1 ? `service, default settings, batch ${run}` : 'service, default settings',
          inflight: `adaptive ${during.length ? `${Math.min(...during)}–${Math.max(...during)}` : '?'}`,
          rate: MIX_LINES / seconds,
          stats,
          lines: MIX_LINES,
          note: `limit changes: ${JSON.stringify(changes)}; mean answer ${fmt(stats.generationTokens / Math.max(1, stats.completed))} tokens`,
        });
        console.log(`service (batch ${run}): limit per second: ${limits.join(' ')}`);
      }
    } finally {
      await svc.proc.stop();
      await iso.dispose();
    }
    rows.push(
      ...(await directSweep(sim, bodies, knee, process.env.BENCH_MIX_SWEEP ?? '0.9,1,1.1,1.2,1.35,3')),
    );
  } finally {
    await sim.proc.stop();
  }
  const best = Math.max(...rows.filter((r) => r.who === 'direct client').map((r) => r.rate));
  printRows(rows, best);
  for (const svc of rows.filter((r) => r.who.startsWith('service'))) {
    const wr = svc.stats.meanWaiting / Math.max(1e-9, svc.stats.meanRunning);
    console.log(
      `${svc.who}: service ÷ best direct = ${fmt(svc.rate / best, 3)} (target ≥ 0.98); waiting ÷ running = ${fmt(wr * 100)} % (≤ 10 %); preemptions ${fmt((100 * svc.stats.preemptions) / MIX_LINES, 1)} % of requests → ${
        svc.rate / best >= 0.98 && wr <= 0.1 ? 'PASS' : 'MISS'
      }`,
    );
  }
}

async function kvmix(): Promise<void> {
  console.log(
    `\n## kvmix: a KV-bound simulated GPU, traffic shaped like real use; the service with default settings vs the best fixed-concurrency direct client`,
  );
  const shapes = (process.env.BENCH_MIX_SHAPES ?? 'far,close').split(',');
  if (shapes.includes('far'))
    await kvMixAt(Number(process.env.BENCH_MIX_MAX_TOKENS ?? 4096), 'max_tokens far above the answers');
  if (shapes.includes('close')) await kvMixAt(MIX_ANSWER[1] + 16, 'max_tokens close to the answers');
}

export const CONCURRENCY_SCENARIOS: Record<string, () => Promise<void>> = {
  kv,
  instant,
  workers,
  validation,
  fairness,
  kvmix,
};
