/**
 * What every reliability scenario needs: an isolated environment, batch input with a known answer
 * per line, and the one check that matters, that every accepted request produced exactly one result
 * line (none missing, none twice, each answering its own input).
 */
import OpenAI from 'openai';
import { Client } from 'pg';
import { simulatedAnswer } from '../../simulator/answers';
import { chatLine, readJsonlFile, toJsonl, uploadBatchFile, type OutputLine } from './batch-helpers';
import {
  createTestEnv,
  killAll,
  sdkClient,
  ServiceProcess,
  SimulatorProcess,
  startService,
  startSimulator,
  TENANT_A,
  TERMINAL_STATUSES,
  TestEnv,
  UNTHROTTLED,
  until,
  waitForBatch,
} from './harness';
import { lateBound } from './late-bound';

/** Own database, Redis prefix and storage dir (createTestEnv), tuned for fast recovery in tests. */
export function reliabilityEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  return createTestEnv({
    ...UNTHROTTLED,
    LOG_LEVEL: 'info',
    RECONCILE_INTERVAL_MS: '2000',
    // A fixed, small in-flight limit makes a batch last long enough to break something in its middle.
    WORKER_CONCURRENCY_MODE: 'fixed',
    WORKER_FIXED_INFLIGHT: '8',
    WORKER_RETRY_BASE_MS: '200',
    WORKER_RETRY_MAX_MS: '2000',
    ...overrides,
  });
}

export interface ProcessesOptions {
  /** The simulator process's environment (SIM_*). */
  simulator: Record<string, string>;
  /** reliabilityEnv overrides; VLLM_BASE_URL points at the simulator. A function is called in beforeAll. */
  env?: Record<string, string> | (() => Record<string, string>);
  /** Start an API process (the name of its log). */
  api?: string;
  /** Start a GPU worker process (the name of its log). */
  worker?: string;
}

export interface Processes {
  sim: SimulatorProcess;
  env: TestEnv;
  api: ServiceProcess;
  worker: ServiceProcess;
  /** SDK client of tenant A on the API process. */
  client: OpenAI;
}

/**
 * The setup of a reliability scenario, in the current describe block: the simulator process, an
 * isolated environment (reliabilityEnv), the API and worker processes asked for, and the teardown
 * (every process killed, the environment removed). Handles as in useApp() (test/support/app-fixture.ts).
 */
export function useProcesses(options: ProcessesOptions): Processes {
  const sim = lateBound<SimulatorProcess>('sim');
  const env = lateBound<TestEnv>('env');
  const api = lateBound<ServiceProcess>('api');
  const worker = lateBound<ServiceProcess>('worker');
  const client = lateBound<OpenAI>('client');
  let started: TestEnv | undefined;

  beforeAll(async () => {
    const simulator = await startSimulator(options.simulator);
    sim.set(simulator);
    const overrides = typeof options.env === 'function' ? options.env() : (options.env ?? {});
    started = await reliabilityEnv({ VLLM_BASE_URL: simulator.url, ...overrides });
    env.set(started);
    if (options.api) {
      const apiProcess = await startService('api', started.env, options.api);
      api.set(apiProcess);
      client.set(sdkFor(apiProcess.url));
    }
    if (options.worker) worker.set(await startService('worker', started.env, options.worker));
  }, 90_000);

  afterAll(async () => {
    await killAll();
    await started?.dispose();
  }, 60_000);

  return { sim: sim.ref, env: env.ref, api: api.ref, worker: worker.ref, client: client.ref };
}

export function sdkFor(apiUrl: string, key = TENANT_A.key): OpenAI {
  return sdkClient(apiUrl, key, { maxRetries: 3, timeout: 30_000 });
}

export const customIdOf = (i: number): string => `req-${i}`;
const questionOf = (i: number): string => `question ${i}`;

/** n chat lines whose answers (the simulator echoes) tell which line they belong to. */
export function batchInput(n: number): string {
  return toJsonl(Array.from({ length: n }, (_, i) => chatLine(customIdOf(i), questionOf(i))));
}

export async function submitBatch(client: OpenAI, n: number): Promise<string> {
  const fileId = await uploadBatchFile(client, batchInput(n));
  const batch = await client.batches.create({
    input_file_id: fileId,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  return batch.id;
}

/** Polls until the batch is final; tolerates the API being briefly unreachable (restarts). */
export function waitFinal(client: OpenAI, id: string, timeoutMs: number): Promise<OpenAI.Batches.Batch> {
  return waitForBatch(client, id, TERMINAL_STATUSES, timeoutMs, { everyMs: 250, tolerateErrors: true });
}

export interface ExactlyOnce {
  outputs: OutputLine[];
  errors: OutputLine[];
}

/**
 * Fails (jest expect) unless the output and error files together hold exactly one line per
 * custom_id of an n-line batchInput, each output answering its own question; with `allSucceeded`
 * the error file must be empty too.
 */
export async function expectExactlyOnce(
  client: OpenAI,
  batch: OpenAI.Batches.Batch,
  n: number,
  allSucceeded = true,
): Promise<ExactlyOnce> {
  const outputs = await readJsonlFile(client, batch.output_file_id);
  const errors = await readJsonlFile(client, batch.error_file_id);
  const seen = new Map<string, number>();
  for (const line of [...outputs, ...errors]) seen.set(line.custom_id, (seen.get(line.custom_id) ?? 0) + 1);
  const missing: string[] = [];
  const duplicated: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = seen.get(customIdOf(i)) ?? 0;
    if (c === 0) missing.push(customIdOf(i));
    if (c > 1) duplicated.push(customIdOf(i));
  }
  const unexpected = [...seen.keys()].filter((id) => !/^req-\d+$/.test(id) || Number(id.slice(4)) >= n);
  expect({ missing, duplicated, unexpected }).toEqual({ missing: [], duplicated: [], unexpected: [] });
  expect(outputs.length + errors.length).toBe(n);
  for (const line of outputs) {
    const i = Number(line.custom_id.slice(4));
    expect(line.response?.status_code).toBe(200);
    expect(line.response?.body.choices[0].message.content).toBe(simulatedAnswer(questionOf(i)));
  }
  if (allSucceeded) {
    expect(errors.map((e) => ({ id: e.custom_id, error: e.error, status: e.response?.status_code }))).toEqual(
      [],
    );
    expect(batch.request_counts).toEqual({ total: n, completed: n, failed: 0 });
  }
  return { outputs, errors };
}

/**
 * Waits for the batch to end `completed`, then checks exactly one result line per custom_id
 * (expectExactlyOnce) and, given the database, exactly one recorded row per line.
 */
export async function expectCompletesExactlyOnce(
  client: OpenAI,
  id: string,
  n: number,
  databaseUrl?: string,
): Promise<OpenAI.Batches.Batch> {
  const batch = await waitFinal(client, id, 120_000);
  expect(batch.status).toBe('completed');
  await expectExactlyOnce(client, batch, n);
  if (databaseUrl) expect(await recordedRows(databaseUrl, id)).toEqual({ rows: n, distinct: n });
  return batch;
}

/** Waits until at least `count` lines of the batch are completed. */
export async function untilCompleted(
  client: OpenAI,
  id: string,
  count: number,
  timeoutMs = 60_000,
): Promise<void> {
  await until(
    async () => (await client.batches.retrieve(id)).request_counts!.completed >= count,
    timeoutMs,
    `${count} completed lines of ${id}`,
  );
}

/** Rows recorded for a batch in PostgreSQL: must equal its line count, each line once. */
export async function recordedRows(
  databaseUrl: string,
  batchId: string,
): Promise<{ rows: number; distinct: number }> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const r = await db.query<{ rows: string; distinct: string }>(
      'SELECT count(*) AS rows, count(DISTINCT custom_id) AS distinct FROM batch_requests WHERE batch_id = $1',
      [batchId],
    );
    return { rows: Number(r.rows[0].rows), distinct: Number(r.rows[0].distinct) };
  } finally {
    await db.end();
  }
}

/** Prints a figure for the closing note of the reliability issue, in one greppable format. */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const text = Object.entries(figures)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 100) / 100 : String(v)}`)
    .join(' ');
  process.stdout.write(`[reliability] ${scenario}: ${text}\n`);
}

export type { TestEnv };
