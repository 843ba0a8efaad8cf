/**
 * What the benchmarks share on top of the test harness (test/support/harness: processes, isolated
 * env, metrics, polling): the service and the simulator on the benchmarks' ports with the shell's
 * environment and the console for output, input files of a given shape, and a direct client as the
 * baseline.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import {
  createTestEnv,
  Role,
  sdkClient,
  ServiceProcess,
  SimulatorProcess,
  startService,
  startSimulator,
  TERMINAL_STATUSES,
  TestEnv,
  UNTHROTTLED,
  waitForBatch,
} from '../test/support/harness';

export const SIM_PORT = Number(process.env.BENCH_SIM_PORT ?? 18000);
export const SERVICE_PORT = Number(process.env.BENCH_SERVICE_PORT ?? 14080);

/** A database, Redis prefix and storage dir of its own, open mode (no API keys), never throttled. */
export function benchEnv(name: string): Promise<TestEnv> {
  return createTestEnv({ API_KEYS: '', ...UNTHROTTLED }, name);
}

/** BENCH_LOG_LEVEL=info shows the service's log (e.g. every change of the in-flight limit). */
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';

/** The service on `port` (a worker: its metrics listener), started from the shell's environment. */
export function benchService(
  role: Role,
  env: Record<string, string>,
  port = SERVICE_PORT,
): Promise<ServiceProcess> {
  return startService(role, { ...env, LOG_LEVEL }, `bench-${role}`, {
    port,
    inheritEnv: true,
    output: { console: { stdout: role !== 'worker' && !!process.env.BENCH_LOG_LEVEL } },
  });
}

export function benchSimulator(env: Record<string, string> = {}): Promise<SimulatorProcess> {
  return startSimulator(env, 'bench-sim', {
    port: SIM_PORT,
    inheritEnv: true,
    output: { console: { stdout: false } },
  });
}

/** Writes `n` lines made by `lineOf` to `path`, minding backpressure; returns the bytes written. */
async function writeLines(path: string, n: number, lineOf: (i: number) => string): Promise<number> {
  const out = createWriteStream(path);
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const line = lineOf(i);
    bytes += Buffer.byteLength(line);
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
  return bytes;
}

/** Writes an n-line chat batch file; `padBytes` pads each prompt to reach a target file size. */
export function writeChatFile(path: string, n: number, padBytes = 0, maxTokens = 16): Promise<number> {
  const pad = 'x'.repeat(Math.max(0, padBytes));
  return writeLines(path, n, (i) => chatLineText(i, pad, maxTokens));
}

/**
 * Writes an n-line chat batch whose prompts are `promptTokens` (± `spread`) tokens by the
 * simulator's count (UTF-8 bytes of the message contents joined by newlines, / 4), all sharing one
 * system prompt.
 */
export function writeShapedChatFile(
  path: string,
  n: number,
  promptTokens: number,
  maxTokens: number,
  spread = 0,
): Promise<number> {
  const system = 'You are a helpful assistant. Answer in one short paragraph.';
  return writeLines(path, n, (i) => {
    const head = `question ${i}: `;
    // Prompt sizes spread evenly over promptTokens ± spread, in a scrambled order.
    const tokens = spread > 0 ? promptTokens - spread + ((i * 7919) % (2 * spread + 1)) : promptTokens;
    const fill = tokens * 4 - Buffer.byteLength(system) - 1 - head.length;
    const user =
      head + 'lorem ipsum dolor sit amet '.repeat(Math.ceil(fill / 27)).slice(0, Math.max(0, fill));
    return chatLineOf(i, system, user, maxTokens);
  });
}

/**
 * Writes an n-line chat batch shaped like real traffic: prompts of varied length, spread over
 * `promptTokens` (by the simulator's count), half of them behind one long shared system prompt
 * (instructions and examples), the others behind a short one; every line asks for `maxTokens`.
 * How long the answers are is the simulator's choice (SIM_OUTPUT_TOKENS.._MAX).
 */
export function writeMixedChatFile(
  path: string,
  n: number,
  promptTokens: [number, number],
  maxTokens: number,
): Promise<number> {
  const shared =
    'You are a careful analyst. Follow the instructions and the examples below exactly. ' +
    'Example: input "the service was slow but the staff were kind" gives mixed. '.repeat(12);
  const short = 'You are a helpful assistant.';
  return writeLines(path, n, (i) => {
    const system = i % 2 === 0 ? shared : short;
    const head = `question ${i}: `;
    // Scrambled, evenly spread sizes; the shared prompt counts toward the line's size.
    const span = promptTokens[1] - promptTokens[0];
    const tokens = promptTokens[0] + ((i * 7919) % (span + 1));
    const fill = Math.max(0, tokens * 4 - Buffer.byteLength(system) - 1 - head.length);
    const user = head + 'lorem ipsum dolor sit amet '.repeat(Math.ceil(fill / 27)).slice(0, fill);
    return chatLineOf(i, system, user, maxTokens);
  });
}

/** Padding per line so that `n` lines make about `totalBytes`. */
export function padFor(totalBytes: number, n: number): number {
  return Math.floor(totalBytes / n) - Buffer.byteLength(chatLineText(n, '', 16));
}

function chatLineText(i: number, pad: string, maxTokens: number): string {
  return chatLineOf(i, 'You are a helpful assistant.', `question ${i} ${pad}`, maxTokens);
}

function chatLineOf(i: number, system: string, user: string, maxTokens: number): string {
  const body = { model: 'sim-model', messages: chatMessages(system, user), max_tokens: maxTokens };
  return JSON.stringify({ custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions', body }) + '\n';
}

const chatMessages = (system: string, user: string) => [
  { role: 'system', content: system },
  { role: 'user', content: user },
];

export function sdk(url: string, apiKey = 'unused-in-open-mode'): OpenAI {
  return sdkClient(url, apiKey, { maxRetries: 5, timeout: 600_000 });
}

/** Polls a batch every 250 ms, for as long as it takes, until it is final. */
export function waitForEnd(
  client: OpenAI,
  id: string,
  onPoll?: (b: OpenAI.Batches.Batch) => void,
): Promise<OpenAI.Batches.Batch> {
  return waitForBatch(client, id, TERMINAL_STATUSES, Infinity, { everyMs: 250, onPoll });
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
          messages: chatMessages('You are a helpful assistant.', `question ${i} `),
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
