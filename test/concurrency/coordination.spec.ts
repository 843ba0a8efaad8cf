import IORedis from 'ioredis';
import { loadConfig } from '../../src/platform/config/app-config';
import { ConcurrencyController } from '../../src/worker/concurrency/concurrency-controller.service';
import { VllmMetricsSource, VllmSample } from '../../src/worker/concurrency/vllm-metrics';
import { UpstreamPool } from '../../src/worker/pool/upstream-pool.service';
import { createUpstreamSource } from '../../src/worker/upstream/sources';
import { MetricsService } from '../../src/platform/metrics/metrics.service';
import { REDIS_URL } from '../support/harness';

/**
 * Integration (real Redis): two worker processes' controllers, in one process here, coordinate one
 * global in-flight limit for their vLLM endpoint. The limit is split between them, not multiplied.
 */
describe('concurrency coordination through Redis', () => {
  const prefix = `vbtest-conc-${Date.now().toString(36)}`;
  const config = loadConfig({
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    VLLM_BASE_URL: 'http://127.0.0.1:9/v1',
    DATABASE_URL: 'postgres://unused@127.0.0.1:5432/unused',
  });
  // vLLM with a 16,384-token KV cache, half used, nothing waiting.
  const sample: VllmSample = {
    kvUsage: 0.5,
    running: 10,
    waiting: 0,
    preemptionsTotal: 0,
    kvCapacityTokens: 16_384,
  };
  const source: VllmMetricsSource = { scrape: async () => sample };
  const metrics = new MetricsService();
  const controllers: ConcurrencyController[] = [];
  let survivor: ConcurrencyController;

  async function worker(): Promise<ConcurrencyController> {
    // One replica, serving `m` as configured (nothing to discover).
    const pool = new UpstreamPool(config, metrics, createUpstreamSource(config));
    pool.apply([{ url: 'http://127.0.0.1:9/v1', metricsUrl: 'http://127.0.0.1:9/metrics', models: ['m'] }]);
    const c = new ConcurrencyController(config, metrics, pool, () => source);
    await c.onModuleInit();
    // Each worker has a batch with lines waiting: 480-token prompts, max_tokens 32.
    c.setDemandSource({ forModel: () => ({ pending: 100, batches: 1 }) });
    for (let i = 0; i < 100; i++) c.noteLine('m', { promptTokens: 480, maxTokens: 32, prefixKey: '' });
    controllers.push(c);
    return c;
  }

  const rounds = async (cs: ConcurrencyController[], n: number): Promise<void> => {
    for (let i = 0; i < n; i++) for (const c of cs) await c.kick();
  };

  afterAll(async () => {
    for (const c of controllers) await c.onApplicationShutdown();
    const redis = new IORedis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('elects one leader, which publishes one global limit; the workers split it', async () => {
    const a = await worker();
    const b = await worker();
    await rounds([a, b], 3);
    const sa = a.snapshot();
    const sb = b.snapshot();
    expect([sa.leader, sb.leader].filter(Boolean)).toHaveLength(1);
    // The estimate from the KV capacity: 16,384 / (480 + 32) = 32, for the endpoint as a whole.
    expect(sa.globalLimit).toBe(32);
    expect(sb.globalLimit).toBe(32);
    expect(sa.workers).toBe(2);
    // Shared, not multiplied: the two shares add up to the global limit.
    expect(a.limiter.limit + b.limiter.limit).toBe(32);
    expect(a.limiter.limit).toBe(16);
  });

  it('gives the whole limit to the survivor when a worker leaves, and keeps the leadership alive', async () => {
    const [a, b] = controllers;
    const leader = a.snapshot().leader ? a : b;
    const other = leader === a ? b : a;
    await leader.onApplicationShutdown(); // releases the lease and removes its report
    await rounds([other], 2);
    survivor = other;
    expect(other.snapshot().leader).toBe(true);
    expect(other.snapshot().workers).toBe(1);
    expect(other.limiter.limit).toBe(32);
  });

  it('adds a third worker to the split within a round or two', async () => {
    const c = await worker();
    await rounds([survivor, c], 2);
    expect(survivor.limiter.limit + c.limiter.limit).toBe(32);
    expect(c.snapshot().globalLimit).toBe(32);
  });
});
