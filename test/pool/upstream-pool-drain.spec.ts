import { loadConfig } from '../../src/platform/config/app-config';
import { MetricsService } from '../../src/platform/metrics/metrics.service';
import { UpstreamPool } from '../../src/worker/pool/upstream-pool.service';
import { UpstreamSource, UpstreamSpec } from '../../src/worker/upstream/sources';
import { sampleValue } from '../support/harness/metrics';

const A = 'http://127.0.0.1:9/v1';
const B = 'http://127.0.0.2:9/v1';
const spec = (url: string): UpstreamSpec => ({
  url,
  metricsUrl: url.replace(/\/v1$/, '/metrics'),
  models: ['m'],
});

/** A source that never calls back: the test applies lists itself. */
const quiet: UpstreamSource = {
  kind: 'list',
  start: async () => undefined,
  stop: async () => undefined,
  describe: () => 'test',
};

/**
 * The pool's side of a replica leaving the configuration (a file reload, a DNS answer): it drains
 * (nothing new, what is in flight finishes), is dropped once idle, and comes back whole if the
 * configuration names it again before that.
 */
describe('UpstreamPool: draining a replica that left the configuration', () => {
  const config = loadConfig({ VLLM_BASE_URL: A, DATABASE_URL: 'postgres://unused@127.0.0.1:5432/unused' });
  let metrics: MetricsService;
  let pool: UpstreamPool;
  beforeEach(() => {
    metrics = new MetricsService();
    pool = new UpstreamPool(config, metrics, quiet);
  });
  afterEach(() => pool.onApplicationShutdown());

  const replica = (url: string) => pool.replicas().find((r) => r.id === url);
  const draining = async (url: string) =>
    sampleValue(await metrics.registry.metrics(), 'vllm_batch_endpoint_draining', { endpoint: url });

  it('takes no new line on a draining replica, keeps it while it has requests in flight, then drops it', async () => {
    pool.apply([spec(A), spec(B)]);
    replica(A)!.active = 2;
    pool.apply([spec(B)]);
    expect(replica(A)!.draining).toBe(true);
    expect(replica(A)!.accepts('m')).toBe(false);
    expect(await draining(A)).toBe(1);
    pool.sweepDrained();
    expect(replica(A)).toBeDefined();
    replica(A)!.active = 0;
    pool.sweepDrained();
    expect(pool.replicas().map((r) => r.id)).toEqual([B]);
    expect(await draining(A)).toBeUndefined();
  });

  it('serves again a draining replica named again, and says it no longer drains', async () => {
    pool.apply([spec(A), spec(B)]);
    replica(A)!.active = 1;
    pool.apply([spec(B)]);
    expect(await draining(A)).toBe(1);
    pool.apply([spec(A), spec(B)]);
    expect(replica(A)!.draining).toBe(false);
    expect(replica(A)!.accepts('m')).toBe(true);
    expect(await draining(A)).toBe(0);
  });
});
