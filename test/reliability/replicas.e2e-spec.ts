import OpenAI from 'openai';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  killAll,
  sampleValue,
  ServiceProcess,
  SimulatorProcess,
  startDnsServer,
  startService,
  startSimulator,
  TestDnsServer,
  until,
} from '../support/harness';
import {
  expectCompletesExactlyOnce,
  reliabilityEnv,
  report,
  sdkFor,
  submitBatch,
  TestEnv,
  untilCompleted,
  waitFinal,
} from '../support/reliability';

/**
 * One worker feeding several vLLM replicas (real simulator processes) while the pool changes under
 * a running batch: a replica SIGKILLed (VLLM_ENDPOINTS), a replica added and another removed by
 * rewriting UPSTREAMS_FILE the way Kubernetes updates a ConfigMap volume, and a replica replaced in
 * the DNS answer of a headless Service (VLLM_DISCOVERY, asking a DNS server of the test's own).
 * The promise each time: no line fails, each line is recorded once, a removed replica finishes
 * what it has in flight and gets nothing new.
 */
describe('Reliability: several vLLM replicas, one worker', () => {
  // 8 tokens at 10 ms a step: ~90 ms an answer; 16 in flight per replica, so one replica answers
  // ~170 lines/s at best, two ~350: a 1,500-line batch lasts seconds, not minutes.
  const SIM = { SIM_STEP_BASE_MS: '10', SIM_STEP_PER_SEQ_MS: '0', SIM_OUTPUT_TOKENS: '8' };
  const N = 1500;

  let env: TestEnv;
  let api: ServiceProcess;
  let client: OpenAI;

  beforeAll(async () => {
    env = await reliabilityEnv();
    api = await startService('api', env.env, 'api');
    client = sdkFor(api.url);
  }, 90_000);

  afterEach(async () => {
    await killAll([api.proc]);
  });

  afterAll(async () => {
    await killAll();
    await env?.dispose();
  }, 60_000);

  const startWorker = (extra: Record<string, string>, name: string): Promise<ServiceProcess> =>
    startService('worker', { ...env.env, WORKER_FIXED_INFLIGHT: '16', ...extra }, name);

  /** Requests a simulator received since its last reset. */
  const received = async (sim: SimulatorProcess): Promise<number> => (await sim.stats()).received;

  /**
   * Waits for the worker's log to say the replica is drained and gone (nothing left in flight),
   * then returns what that replica had received: it must receive nothing more.
   */
  async function drained(worker: ServiceProcess, sim: SimulatorProcess): Promise<number> {
    await until(
      () => worker.proc.output().includes(`replica ${sim.url} drained and removed`),
      30_000,
      `${sim.url} to be drained`,
    );
    // The worker has every answer; the simulator closes its side of each on its own event loop.
    await until(async () => (await sim.stats()).inFlight === 0, 5000, `${sim.url} to have nothing open`);
    return received(sim);
  }

  /** Submits an n-line batch; `done()` waits for its end and tells the seconds it took. */
  async function timedBatch(n: number): Promise<{ id: string; done: () => Promise<number> }> {
    const startedAt = Date.now();
    const id = await submitBatch(client, n);
    return {
      id,
      done: async () => {
        await waitFinal(client, id, 120_000);
        return (Date.now() - startedAt) / 1000;
      },
    };
  }

  it('VLLM_ENDPOINTS: one of two replicas SIGKILLed at 30 % of a batch; its lines finish on the other, none fails', async () => {
    const a = await startSimulator(SIM, 'sim-a');
    const b = await startSimulator(SIM, 'sim-b');
    const worker = await startWorker({ VLLM_ENDPOINTS: `${a.url},${b.url}` }, 'worker-endpoints');
    const n = N;

    // The same batch undisturbed first: what the kill costs.
    const calm = await timedBatch(n);
    const calmSeconds = await calm.done();
    await expectCompletesExactlyOnce(client, calm.id, n, env.databaseUrl);
    const share = [await received(a), await received(b)];
    expect(share[0]).toBeGreaterThan(0);
    expect(share[1]).toBeGreaterThan(0);

    await a.reset();
    await b.reset();
    const { id, done } = await timedBatch(n);
    await untilCompleted(client, id, n * 0.3);
    const atKill = (await client.batches.retrieve(id)).request_counts!.completed;
    const inFlightOnB = (await b.stats()).inFlight;
    b.proc.kill('SIGKILL');
    await b.proc.exited;

    const took = await done();
    const batch = await expectCompletesExactlyOnce(client, id, n, env.databaseUrl);
    // The breaker took the dead replica out; it says so per endpoint.
    const metrics = await worker.metrics();
    expect(sampleValue(metrics, 'vllm_batch_endpoint_breaker_open', { endpoint: b.url })).toBe(1);
    expect(sampleValue(metrics, 'vllm_batch_endpoint_breaker_open', { endpoint: a.url })).toBe(0);
    report('replica SIGKILL (2 replicas, VLLM_ENDPOINTS)', {
      lines: n,
      failed: batch.request_counts!.failed,
      completedAtKill: atKill,
      inFlightOnKilled: inFlightOnB,
      undisturbedSplit: share.join('/'),
      survivorRequests: await received(a),
      undisturbedSeconds: calmSeconds,
      seconds: took,
      secondsLost: took - calmSeconds,
      connectionErrors:
        sampleValue(metrics, 'vllm_batch_endpoint_errors_total', {
          endpoint: b.url,
          kind: 'connection_error',
        }) ?? 0,
    });
  }, 180_000);

  /**
   * A ConfigMap volume as the kubelet lays it out: the file is a symlink through `..data`, itself a
   * symlink to a timestamped folder; an update writes a new folder and swaps `..data` atomically.
   */
  async function configMapVolume(file: string, content: string) {
    const dir = await mkdtemp(join(tmpdir(), 'vllm-batch-configmap-'));
    let version = 0;
    let current = '';
    const publish = async (text: string): Promise<void> => {
      const previous = current;
      current = `..2026_01_01_00_00_00.${String(++version).padStart(9, '0')}`;
      await mkdir(join(dir, current));
      await writeFile(join(dir, current, file), text);
      await symlink(current, join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      if (previous) await rm(join(dir, previous), { recursive: true, force: true });
    };
    await publish(content);
    await symlink(join('..data', file), join(dir, file));
    return { path: join(dir, file), publish, remove: () => rm(dir, { recursive: true, force: true }) };
  }

  const upstreams = (...sims: SimulatorProcess[]): string =>
    `endpoints:\n${sims.map((s) => `  - url: ${s.url}\n`).join('')}`;

  it('UPSTREAMS_FILE: a replica added and another removed by ConfigMap updates mid-batch; the removed one drains, none fails', async () => {
    const a = await startSimulator(SIM, 'sim-file-a');
    const b = await startSimulator(SIM, 'sim-file-b');
    const volume = await configMapVolume('upstreams.yaml', upstreams(a));
    try {
      const worker = await startWorker({ UPSTREAMS_FILE: volume.path }, 'worker-file');
      const n = N;
      const { id, done } = await timedBatch(n);

      // Added at 20 %: B starts taking lines.
      await untilCompleted(client, id, n * 0.2);
      const addedAt = (await client.batches.retrieve(id)).request_counts!.completed;
      await volume.publish(upstreams(a, b));
      await until(async () => (await received(b)) > 0, 30_000, 'the added replica to get requests');

      // Removed at 50 %: A finishes what it has in flight, then gets nothing.
      await untilCompleted(client, id, n * 0.5);
      const removedAt = (await client.batches.retrieve(id)).request_counts!.completed;
      await volume.publish(upstreams(b));
      const aAtDrain = await drained(worker, a);

      const took = await done();
      const batch = await expectCompletesExactlyOnce(client, id, n, env.databaseUrl);
      const [sa, sb] = [await a.stats(), await b.stats()];
      expect(sa.received).toBe(aAtDrain);
      // Draining cut nothing: every request A received was answered.
      expect(sa.aborted).toBe(0);
      expect(sb.received).toBeGreaterThan(0);
      expect(sa.completed + sb.completed).toBeGreaterThanOrEqual(n);
      report('UPSTREAMS_FILE add + remove (ConfigMap swap)', {
        lines: n,
        failed: batch.request_counts!.failed,
        completedAtAdd: addedAt,
        completedAtRemove: removedAt,
        requestsA: sa.received,
        requestsB: sb.received,
        abortedOnRemoved: sa.aborted,
        seconds: took,
      });
    } finally {
      await volume.remove();
    }
  }, 180_000);

  describe('VLLM_DISCOVERY by DNS (a DNS server of the test, simulators sharing a port on 127.0.0.1-3)', () => {
    const NAME = 'vllm-headless.ml.svc.cluster.local';
    let dns: TestDnsServer;
    beforeAll(async () => {
      dns = await startDnsServer(NAME);
    });
    afterAll(() => dns?.close());

    it('a replica replaced in the DNS answer mid-batch: the vanished one drains and gets nothing new, the new one takes lines, none fails', async () => {
      const port = await freePort();
      const [s1, s2, s3] = await Promise.all(
        [1, 2, 3].map((i) => startSimulator(SIM, `sim-dns-${i}`, { host: `127.0.0.${i}`, port })),
      );
      dns.setAddresses(['127.0.0.1', '127.0.0.2']);
      const worker = await startWorker(
        {
          VLLM_DISCOVERY: `dns:${NAME}:${port}/v1`,
          VLLM_DISCOVERY_NAMESERVER: dns.address,
          VLLM_DISCOVERY_INTERVAL_MS: '300',
        },
        'worker-dns',
      );
      const n = N;
      const { id, done } = await timedBatch(n);

      // At 30 %, the pod behind 127.0.0.2 is replaced by one at 127.0.0.3 (a rolling update).
      await untilCompleted(client, id, n * 0.3);
      expect(await received(s1)).toBeGreaterThan(0);
      expect(await received(s2)).toBeGreaterThan(0);
      const replacedAt = (await client.batches.retrieve(id)).request_counts!.completed;
      dns.setAddresses(['127.0.0.1', '127.0.0.3']);
      const s2AtDrain = await drained(worker, s2);
      await until(async () => (await received(s3)) > 0, 30_000, 'the new replica to get requests');

      const took = await done();
      const batch = await expectCompletesExactlyOnce(client, id, n, env.databaseUrl);
      const [st1, st2, st3] = await Promise.all([s1.stats(), s2.stats(), s3.stats()]);
      expect(st2.received).toBe(s2AtDrain);
      expect(st2.aborted).toBe(0);
      expect(st3.received).toBeGreaterThan(0);
      expect(st1.completed + st2.completed + st3.completed).toBeGreaterThanOrEqual(n);
      report('VLLM_DISCOVERY replica replaced in DNS', {
        lines: n,
        failed: batch.request_counts!.failed,
        completedAtChange: replacedAt,
        requests1: st1.received,
        requests2: st2.received,
        requests3: st3.received,
        abortedOnRemoved: st2.aborted,
        dnsQueries: dns.queries,
        seconds: took,
      });
    }, 180_000);
  });
});
