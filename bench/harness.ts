/**
 * Shared pieces of the benchmarks and the demo: start the simulator and the service as separate
 * processes (so the service's own memory can be read from /proc), generate input files, and drive
 * batches through the official SDK exactly as a user would.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { Client } from 'pg';

export const ROOT = resolve(__dirname, '..', '..');
const DIST = join(ROOT, 'dist');

export interface Proc {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

async function waitHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Children die with us, even when we are stopped by a signal rather than by our own cleanup. */
const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((c) => c.kill('SIGKILL')));
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    children.forEach((c) => c.kill('SIGTERM'));
    if (process.listenerCount(sig) === 1) process.exit(130);
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return () =>
    new Promise<void>((resolveStop) => {
      if (child.exitCode !== null) return resolveStop();
      child.once('exit', () => resolveStop());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    });
}

export async function startSimulator(port: number, env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, [join(DIST, 'simulator', 'main.js')], {
    env: { ...process.env, SIM_PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/health`);
  return { child, url: `${url}/v1`, stop: stopper(child) };
}

export async function startService(port: number, env: Record<string, string>): Promise<Proc> {
  // The same heap cap as `npm start`: without one V8 lets garbage pile up to hundreds of MB.
  const child = spawn(process.execPath, ['--max-old-space-size=192', join(DIST, 'src', 'main.js')], {
    env: { ...process.env, PORT: String(port), LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', ...env },
    // BENCH_LOG_LEVEL=info shows the service's log (e.g. every change of the in-flight limit).
    stdio: ['ignore', process.env.BENCH_LOG_LEVEL ? 'inherit' : 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/health`);
  return { child, url, stop: stopper(child) };
}

/** A worker-only process (APP_ROLE=worker); it serves /health and /metrics on `port`. */
export async function startWorker(port: number, env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, ['--max-old-space-size=192', join(DIST, 'src', 'main.js')], {
    env: {
      ...process.env,
      APP_ROLE: 'worker',
      METRICS_PORT: String(port),
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/health`);
  return { child, url, stop: stopper(child) };
}

/** Peak and current resident memory of a process, in MB, from /proc (VmHWM is the high-water mark). */
export async function memoryOf(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** A database, Redis prefix and storage dir of its own, removed by `cleanup`. */
export async function isolatedEnv(
  name: string,
): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }> {
  const id = `${name}_${Date.now().toString(36)}`;
  const storageDir = await mkdtemp(join(tmpdir(), `vllm-batch-${name}-`));
  const pgBase = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
  const env = {
    DATABASE_URL: `${pgBase}/vllm_batch_${id}`,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: `vb-${id}`,
    STORAGE_DIR: storageDir,
    API_KEYS: '',
    THROTTLE_BATCH_CREATE_LIMIT: '100000',
    THROTTLE_FILE_UPLOAD_LIMIT: '100000',
    THROTTLE_READ_LIMIT: '1000000',
  };
  return {
    env,
    async cleanup() {
      await rm(storageDir, { recursive: true, force: true });
      const client = new Client({ connectionString: `${pgBase}/postgres` });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "vllm_batch_${id}" WITH (FORCE)`).catch(() => undefined);
      await client.end();
      const { default: IORedis } = await import('ioredis');
      const redis = new IORedis(env.REDIS_URL);
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.QUEUE_PREFIX}*`, 'COUNT', 1000);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      redis.disconnect();
    },
  };
}

/** Writes an n-line chat batch file; `padBytes` pads each prompt to reach a target file size. */
export async function writeChatFile(path: string, n: number, padBytes = 0, maxTokens = 16): Promise<number> {
  const out = createWriteStream(path);
  const pad = 'x'.repeat(Math.max(0, padBytes));
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const line = chatLineText(i, pad, maxTokens);
    bytes += Buffer.byteLength(line);
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
  return bytes;
}

/**
 * Writes an n-line chat batch whose prompts are `promptTokens` (± `spread`) tokens by the
 * simulator's count (UTF-8 bytes of the message contents joined by newlines, / 4), all sharing one
 * system prompt.
 */
export async function writeShapedChatFile(
  path: string,
  n: number,
  promptTokens: number,
  maxTokens: number,
  spread = 0,
): Promise<number> {
  const out = createWriteStream(path);
  const system = 'You are a helpful assistant. Answer in one short paragraph.';
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const head = `question ${i}: `;
    // Prompt sizes spread evenly over promptTokens ± spread, in a scrambled order.
    const tokens = spread > 0 ? promptTokens - spread + ((i * 7919) % (2 * spread + 1)) : promptTokens;
    const fill = tokens * 4 - Buffer.byteLength(system) - 1 - head.length;
    const user =
      head + 'lorem ipsum dolor sit amet '.repeat(Math.ceil(fill / 27)).slice(0, Math.max(0, fill));
    const line =
      JSON.stringify({
        custom_id: `req-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'sim-model',
          messages: [
            { role: 'system', content: system },
            { role: 'user', content: user },
          ],
          max_tokens: maxTokens,
        },
      }) + '\n';
    bytes += Buffer.byteLength(line);
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
  return bytes;
}

/** Padding per line so that `n` lines make about `totalBytes`. */
export function padFor(totalBytes: number, n: number): number {
  return Math.floor(totalBytes / n) - Buffer.byteLength(chatLineText(n, '', 16));
}

function chatLineText(i: number, pad: string, maxTokens: number): string {
  return (
    JSON.stringify({
      custom_id: `req-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'sim-model',
        messages: [
          { role: 'system', content: 'You are a helpful assistant.' },
          { role: 'user', content: `question ${i} ${pad}` },
        ],
        max_tokens: maxTokens,
      },
    }) + '\n'
  );
}

export function sdk(url: string, apiKey = 'unused-in-open-mode'): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 5, timeout: 600_000 });
}

export async function waitForBatch(
  client: OpenAI,
  id: string,
  onPoll?: (b: OpenAI.Batches.Batch) => void,
): Promise<OpenAI.Batches.Batch> {
  for (;;) {
    const b = await client.batches.retrieve(id);
    onPoll?.(b);
    if (['completed', 'failed', 'expired', 'cancelled'].includes(b.status)) return b;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function tempDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `vllm-batch-${name}-`));
}

/**
 * The baseline: the same requests sent straight to the simulator by a plain client holding
 * `concurrency` requests in flight (what a user would write without this service).
 */
export async function directClient(
  simUrl: string,
  n: number,
  concurrency: number,
  maxTokens = 16,
): Promise<number> {
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: concurrency * 2 });
  let next = 0;
  const started = performance.now();
  const workerLoop = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const res = await request(`${simUrl}/chat/completions`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'sim-model',
          messages: [
            { role: 'system', content: 'You are a helpful assistant.' },
            { role: 'user', content: `question ${i} ` },
          ],
          max_tokens: maxTokens,
        }),
      });
      await res.body.text();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, workerLoop));
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  return n / seconds;
}

export const fmt = (n: number, digits = 1): string => n.toFixed(digits);
