/**
 * The setup most end-to-end files need, declared once: an isolated environment (own database, Redis
 * prefix, storage dir), optionally the in-process vLLM simulator, the whole app started with config
 * overrides, SDK clients for tenants A and B, and the teardown of all of it.
 *
 *   describe('Batches API', () => {
 *     const { app, a, sim } = useApp({ simulator: { stepBaseMs: 2 }, env: { ...fixedInflight(16) } });
 *     it('...', async () => { await a.files.list(); });
 *   });
 *
 * The hooks go into the describe block it is called in; the handles are usable from the tests and
 * hooks on (see late-bound.ts). `VLLM_BASE_URL` points at the simulator when there is one.
 */
import OpenAI from 'openai';
import { createSimulator, RunningSimulator, SimulatorOptions } from '../../simulator/simulator';
import { createTestEnv, sdkClient, TENANT_A, TENANT_B, TestEnv } from './harness';
import { lateBound } from './late-bound';
import { startApp, TestApp } from './test-app';

/** Rate limits no end-to-end file reaches unless it tests them. */
export const RELAXED_LIMITS = {
  THROTTLE_BATCH_CREATE_LIMIT: '1000',
  THROTTLE_FILE_UPLOAD_LIMIT: '1000',
  THROTTLE_READ_LIMIT: '100000',
};

/** Upstream retries within a test's patience. */
export const FAST_RETRIES = { WORKER_RETRY_BASE_MS: '20', WORKER_RETRY_MAX_MS: '100' };

/** A pinned in-flight level instead of the adaptive controller (tests about API semantics). */
export const fixedInflight = (n: number): Record<string, string> => ({
  WORKER_CONCURRENCY_MODE: 'fixed',
  WORKER_FIXED_INFLIGHT: String(n),
});

export interface AppOptions {
  /** Start the in-process simulator with these options (port 0). */
  simulator?: Partial<SimulatorOptions>;
  /** Start several simulators (a pool of replicas, `sims`), named in VLLM_ENDPOINTS in this order. */
  simulators?: Partial<SimulatorOptions>[];
  /** Config overrides; a function is called in beforeAll (for values known only then). */
  env?: Record<string, string> | (() => Record<string, string>);
  /** false: the environment (and simulator) only; the tests start apps themselves with `startApp`. */
  app?: boolean;
}

export interface AppFixture {
  env: TestEnv;
  app: TestApp;
  sim: RunningSimulator;
  /** The replicas started with `simulators`. */
  sims: RunningSimulator[];
  /** SDK clients of tenants A and B, without retries. */
  a: OpenAI;
  b: OpenAI;
  /** `a` again, under the name the files with one tenant use. */
  client: OpenAI;
}

export function useApp(options: AppOptions = {}): AppFixture {
  const env = lateBound<TestEnv>('env');
  const app = lateBound<TestApp>('app');
  const sim = lateBound<RunningSimulator>('sim');
  const a = lateBound<OpenAI>('a');
  const b = lateBound<OpenAI>('b');
  const sims: RunningSimulator[] = [];
  let started: { env?: TestEnv; app?: TestApp; sim?: RunningSimulator } = {};

  beforeAll(async () => {
    if (options.simulator) sim.set((started.sim = await createSimulator({ port: 0, ...options.simulator })));
    for (const o of options.simulators ?? []) sims.push(await createSimulator({ port: 0, ...o }));
    const overrides = typeof options.env === 'function' ? options.env() : (options.env ?? {});
    env.set(
      (started.env = await createTestEnv({
        ...(started.sim ? { VLLM_BASE_URL: started.sim.url } : {}),
        ...(sims.length ? { VLLM_ENDPOINTS: sims.map((s) => s.url).join(',') } : {}),
        ...overrides,
      })),
    );
    if (options.app === false) return;
    app.set((started.app = await startApp(started.env.env)));
    a.set(sdkClient(started.app.url, TENANT_A.key));
    b.set(sdkClient(started.app.url, TENANT_B.key));
  });

  afterAll(async () => {
    await started.app?.close();
    await started.env?.dispose();
    await started.sim?.close();
    for (const s of sims.splice(0)) await s.close().catch(() => undefined);
    started = {};
  });

  return { env: env.ref, app: app.ref, sim: sim.ref, sims, a: a.ref, b: b.ref, client: a.ref };
}
