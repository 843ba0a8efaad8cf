/**
 * perline: the worker's own cost per line (issue #13, item 7). An API process and one worker
 * process run one batch against an instant simulator at a fixed in-flight limit, so the backend
 * costs next to nothing and what is left is the service's per-line work: reading and parsing the
 * input, dispatch, the HTTP round trip, recording in PostgreSQL. Prints the worker's CPU seconds per
 * 1,000 lines (from /proc, as the `workers` scenario does), and the end-to-end rate against a plain
 * keep-alive client sending the same bodies at the same concurrency, run right before and right
 * after the batch (their mean is the reference).
 *
 *   BENCH_PERLINE_LINES     lines in the batch (default 40,000)
 *   BENCH_PERLINE_INFLIGHT  in-flight limit of the service and of the direct client (default 128)
 *   BENCH_WORKER_NODE_OPTIONS  NODE_OPTIONS for the worker only, e.g. "--require /tmp/prof.js" (a script
 *                              that starts node:inspector's profiler; Node refuses --cpu-prof in NODE_OPTIONS)
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  benchEnv,
  benchService,
  benchSimulator,
  fmt,
  sdk,
  SERVICE_PORT,
  tempDir,
  waitForEnd,
  writeChatFile,
} from './common';
import { bodiesOf } from './concurrency';

/** CPU seconds (user + system) a process has used, from /proc (0 when it is gone). */
async function cpuSeconds(pid: number): Promise<number> {
  const { user, system } = await cpuSplit(pid);
  return user + system;
}

/** User and system CPU seconds of a process, from /proc (0 when it is gone). */
async function cpuSplit(pid: number): Promise<{ user: number; system: number }> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime in clock ticks (USER_HZ)
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** CPU seconds of every PostgreSQL process on this machine (the benchmarks' database server). */
async function postgresCpu(): Promise<number> {
  let total = 0;
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const comm = await readFile(`/proc/${d}/comm`, 'utf8').catch(() => '');
    if (comm.startsWith('postgres')) total += await cpuSeconds(Number(d));
  }
  return total;
}

/** The batch's bodies, as the service sends them (one JSON text each). */
/**
 * A plain keep-alive client: the bodies straight to the simulator, `concurrency` at a time. Returns
 * req/s and its own CPU seconds per 1,000 requests (what sending and reading alone costs in Node).
 */
async function directRun(
  simUrl: string,
  bodies: string[],
  concurrency: number,
): Promise<{ rate: number; cpuPerK: number }> {
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: concurrency });
  let next = 0;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const loop = async (): Promise<void> => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await request(`${simUrl}/chat/completions`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body,
      });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`direct client got ${res.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, loop));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await agent.close();
  return { rate: bodies.length / seconds, cpuPerK: ((cpu.user + cpu.system) / 1e6 / bodies.length) * 1000 };
}

async function perline(): Promise<void> {
  const lines = Number(process.env.BENCH_PERLINE_LINES ?? 40_000);
  const inflight = Number(process.env.BENCH_PERLINE_INFLIGHT ?? 128);
  console.log(
    `\n## perline: a ${lines}-line batch against an instant simulator, an API process and one worker process, in-flight ${inflight}`,
  );
  const sim = await benchSimulator({ SIM_INSTANT: 'true' });
  const iso = await benchEnv('bench_perline');
  const env = {
    ...iso.env,
    VLLM_BASE_URL: sim.url,
    WORKER_CONCURRENCY_MODE: 'fixed',
    WORKER_FIXED_INFLIGHT: String(inflight),
  };
  const workerOptions = process.env.BENCH_WORKER_NODE_OPTIONS;
  const api = await benchService('api', env);
  const worker = await benchService(
    'worker',
    workerOptions ? { ...env, NODE_OPTIONS: workerOptions } : env,
    SERVICE_PORT + 1,
  );
  try {
    const dir = await tempDir('bench');
    const path = join(dir, 'perline.jsonl');
    await writeChatFile(path, lines);
    const bodies = await bodiesOf(path);
    const directBefore = await directRun(sim.url, bodies, inflight);
    const client = sdk(api.url);
    const file = await client.files.create({ file: createReadStream(path), purpose: 'batch' });
    const pids = { worker: worker.proc.pid, api: api.proc.pid, sim: sim.proc.pid };
    const workerSplit0 = await cpuSplit(pids.worker);
    const cpu0 = {
      worker: await cpuSeconds(pids.worker),
      api: await cpuSeconds(pids.api),
      sim: await cpuSeconds(pids.sim),
      pg: await postgresCpu(),
    };
    const t0 = performance.now();
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForEnd(client, batch.id);
    const seconds = (performance.now() - t0) / 1000;
    const workerSplit = await cpuSplit(pids.worker);
    const spent = {
      worker: (await cpuSeconds(pids.worker)) - cpu0.worker,
      api: (await cpuSeconds(pids.api)) - cpu0.api,
      sim: (await cpuSeconds(pids.sim)) - cpu0.sim,
      pg: (await postgresCpu()) - cpu0.pg,
    };
    const directAfter = await directRun(sim.url, bodies, inflight);
    const direct = (directBefore.rate + directAfter.rate) / 2;
    const rate = lines / seconds;
    const perK = (cpu: number): string => fmt((1000 * cpu) / lines, 3);
    const busy = (100 * (spent.worker + spent.api + spent.sim + spent.pg)) / seconds / cpus().length;
    console.log(
      `status ${done.status}, ${JSON.stringify(done.request_counts)}; create → completed ${fmt(seconds, 2)} s = ${fmt(rate)} req/s`,
    );
    console.log(
      `CPU seconds per 1,000 lines: worker ${perK(spent.worker)} (user ${perK(workerSplit.user - workerSplit0.user)}, system ${perK(workerSplit.system - workerSplit0.system)}), API ${perK(spent.api)}, simulator ${perK(spent.sim)}, PostgreSQL ${perK(spent.pg)}; machine busy ${fmt(busy)} % of ${cpus().length} cores`,
    );
    console.log(
      `direct keep-alive client, ${inflight} in flight: ${fmt(directBefore.rate)} before, ${fmt(directAfter.rate)} after (mean ${fmt(direct)}) req/s, its CPU seconds per 1,000 requests ${fmt(directBefore.cpuPerK, 3)}, ${fmt(directAfter.cpuPerK, 3)}; service ÷ direct = ${fmt(rate / direct, 3)}`,
    );
  } finally {
    await worker.proc.stop();
    await api.proc.stop();
    await sim.proc.stop();
    await iso.dispose();
  }
}

export const PER_LINE_SCENARIOS = { perline };
