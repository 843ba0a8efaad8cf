import { DataSource } from 'typeorm';
import { parsePrometheusText } from '../../src/common/prometheus-text';
import { BACKLOG_REFRESH_MS } from '../../src/platform/metrics/metrics-refresh.service';
import { MetricsService } from '../../src/platform/metrics/metrics.service';
import { ALL_STATUSES } from '../../src/domain/batches/batch-status';
import { BATCH_METRICS } from '../../src/domain/batches/batch.metrics';
import { THROTTLE_METRICS } from '../../src/api/throttling/throttle.metrics';
import { authHeader, sampleValue, TENANT_A, until } from '../support/harness';
import { useApp } from '../support/app-fixture';
import { startApp, TestApp } from '../support/test-app';
import { createBatch, uploadFile } from '../throttling/rate-limit-helpers';

const scrape = async (app: TestApp, headers: Record<string, string> = {}): Promise<string> => {
  const res = await fetch(`${app.url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
};

/**
 * Scrapes until `check` passes. What a scrape shows lags by design: the rendering is cached for a
 * second and the batch and queue gauges are re-read every few seconds in the background.
 */
const scrapeUntil = (app: TestApp, check: (text: string) => void): Promise<string> =>
  until(
    async () => {
      const text = await scrape(app);
      check(text);
      return text;
    },
    4 * BACKLOG_REFRESH_MS,
    'the scrape to show it',
    250,
  );

/** Every label value in the exposition, by label name. */
function labelValues(text: string): Map<string, Set<string>> {
  const values = new Map<string, Set<string>>();
  for (const samples of parsePrometheusText(text).values()) {
    for (const [label, value] of samples.flatMap((s) => Object.entries(s.labels))) {
      if (!values.has(label)) values.set(label, new Set());
      values.get(label)!.add(value);
    }
  }
  return values;
}

describe('/metrics', () => {
  const { env, app } = useApp({ env: { APP_ROLE: 'api' } });

  it('is public (no API key), prefixed, and includes the process metrics', async () => {
    const text = await scrape(app);
    expect(text).toMatch(/^vllm_batch_process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^vllm_batch_nodejs_heap_size_used_bytes /m);
    const names = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(20);
    expect(names.filter((n) => !n.startsWith('vllm_batch_'))).toEqual([]);
  });

  it('counts HTTP requests by route template and status, including 401s, 404s and 429-free successes', async () => {
    const file = (await (await uploadFile(app.url, TENANT_A.key)).json()) as { id: string };
    await fetch(`${app.url}/v1/files/${file.id}`, { headers: authHeader(TENANT_A.key) });
    await fetch(`${app.url}/v1/files/${file.id}`);
    await fetch(`${app.url}/v1/files/file-doesnotexist`, { headers: authHeader(TENANT_A.key) });
    await fetch(`${app.url}/no/such/path/${file.id}`);

    const text = await scrapeUntil(app, (text) => {
      const count = (labels: Record<string, string>) =>
        sampleValue(text, 'vllm_batch_http_requests_total', labels);
      expect(count({ method: 'POST', route: '/v1/files', status: '200' })).toBe(1);
      expect(count({ method: 'GET', route: '/v1/files/:file_id', status: '200' })).toBe(1);
      expect(count({ method: 'GET', route: '/v1/files/:file_id', status: '401' })).toBe(1);
      expect(count({ method: 'GET', route: '/v1/files/:file_id', status: '404' })).toBe(1);
      expect(count({ method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
      expect(
        sampleValue(text, 'vllm_batch_http_request_duration_seconds_count', {
          method: 'POST',
          route: '/v1/files',
          status: '200',
        }),
      ).toBe(1);
    });

    // Bounded labels: no id, URL or tenant ever becomes a label value.
    for (const [name, values] of labelValues(text)) {
      for (const value of values) {
        expect(`${name}=${value}`).not.toMatch(/file-[A-Za-z0-9]{6,}|batch_[A-Za-z0-9]{6,}|tenant-|no\/such/);
      }
    }
    const routes = [...(labelValues(text).get('route') ?? [])];
    expect(routes.every((r) => r === 'unmatched' || r.startsWith('/'))).toBe(true);
  });

  it('reports batches by status (every status, 0 when none), transitions and queue depth', async () => {
    const file = (await (await uploadFile(app.url, TENANT_A.key)).json()) as { id: string };
    expect((await createBatch(app.url, TENANT_A.key, file.id)).status).toBe(200);

    // The gauges follow within a background refresh (a few seconds), not at once.
    await scrapeUntil(app, (text) => {
      for (const status of ALL_STATUSES) {
        expect(sampleValue(text, 'vllm_batch_batches', { status })).toBe(status === 'validating' ? 1 : 0);
      }
      expect(
        sampleValue(text, 'vllm_batch_batch_transitions_total', { from: 'none', to: 'validating' }),
      ).toBe(1);
      // No worker in the api role: the job waits in the queue.
      expect(sampleValue(text, 'vllm_batch_queue_jobs', { queue: 'batches', state: 'waiting' })).toBe(1);
      for (const state of ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused']) {
        expect(sampleValue(text, 'vllm_batch_queue_jobs', { queue: 'webhooks', state })).toBeDefined();
      }
    });
  });

  it('reports unfinished batches close to their expiry by status', async () => {
    const file = (await (await uploadFile(app.url, TENANT_A.key)).json()) as { id: string };
    const batch = (await (await createBatch(app.url, TENANT_A.key, file.id)).json()) as { id: string };
    const expiring = (text: string, status: string) =>
      sampleValue(text, 'vllm_batch_batches_expiring_soon', { status });
    // A fresh batch has its whole completion window ahead; only unfinished statuses have series.
    const before = await scrapeUntil(app, (text) => expect(expiring(text, 'validating')).toBe(0));
    expect(expiring(before, 'completed')).toBeUndefined();
    await app.app
      .get(DataSource)
      .query(`UPDATE batches SET expires_at = now() + interval '20 minutes' WHERE id = $1`, [batch.id]);
    await scrapeUntil(app, (text) => expect(expiring(text, 'validating')).toBe(1));
  });

  it('answers any number of concurrent scrapes with one rendering and without querying the database', async () => {
    const metrics = app.app.get(MetricsService);
    const db = app.app.get(DataSource);
    const renders = jest.spyOn(metrics.registry, 'metrics');
    const queries = jest.spyOn(db, 'query');
    try {
      const started = Date.now();
      const statuses = await Promise.all(
        Array.from({ length: 200 }, async () => (await fetch(`${app.url}/metrics`)).status),
      );
      const elapsed = Date.now() - started;
      expect(statuses.every((s) => s === 200)).toBe(true);
      // One rendering per second of wall time at most (plus the one in progress when it began).
      expect(renders.mock.calls.length).toBeLessThanOrEqual(2 + Math.floor(elapsed / 1000));
      // The only database reads are the background refresh's, whatever the number of scrapes.
      expect(queries.mock.calls.length).toBeLessThanOrEqual(1 + Math.floor(elapsed / BACKLOG_REFRESH_MS));
    } finally {
      renders.mockRestore();
      queries.mockRestore();
    }
  });

  it('records what the worker reports through MetricsService', async () => {
    const metrics = app.app.get(MetricsService);
    metrics.of(BATCH_METRICS).transition('validating', 'in_progress');
    metrics.upstreamResult('ok', 0.3);
    metrics.upstreamResult('upstream_5xx', 2);
    metrics.upstreamResult('retried', 0.01);
    metrics.setInflight(7, 32);
    metrics.addTokens(120, 30);
    metrics.observeValidation(0.2);
    metrics.observeFinalize(1.5);
    metrics.of(THROTTLE_METRICS).throttled('reads');

    await scrapeUntil(app, (text) => {
      expect(
        sampleValue(text, 'vllm_batch_batch_transitions_total', { from: 'validating', to: 'in_progress' }),
      ).toBe(1);
      expect(sampleValue(text, 'vllm_batch_upstream_requests_total', { outcome: 'ok' })).toBe(1);
      expect(sampleValue(text, 'vllm_batch_upstream_requests_total', { outcome: 'upstream_5xx' })).toBe(1);
      expect(
        sampleValue(text, 'vllm_batch_upstream_request_duration_seconds_bucket', {
          outcome: 'ok',
          le: '0.5',
        }),
      ).toBe(1);
      expect(sampleValue(text, 'vllm_batch_upstream_inflight_requests')).toBe(7);
      expect(sampleValue(text, 'vllm_batch_upstream_inflight_limit')).toBe(32);
      expect(sampleValue(text, 'vllm_batch_prompt_tokens_total')).toBe(120);
      expect(sampleValue(text, 'vllm_batch_completion_tokens_total')).toBe(30);
      expect(sampleValue(text, 'vllm_batch_validation_duration_seconds_count')).toBe(1);
      expect(sampleValue(text, 'vllm_batch_finalize_duration_seconds_sum')).toBe(1.5);
      expect(sampleValue(text, 'vllm_batch_throttled_requests_total', { throttler: 'reads' })).toBe(1);
    });
  });

  it('keeps one registry per app instance: a second instance in the same process starts and counts on its own', async () => {
    const other = await startApp({ ...env.env, MIGRATIONS_RUN: 'false' });
    try {
      await fetch(`${other.url}/health`);
      await scrapeUntil(other, (text) => {
        expect(sampleValue(text, 'vllm_batch_http_requests_total', { route: '/health', status: '200' })).toBe(
          1,
        );
        expect(sampleValue(text, 'vllm_batch_prompt_tokens_total')).toBe(0);
      });
    } finally {
      await other.close();
    }
  });

  it('requires the bearer token when METRICS_AUTH_TOKEN is set', async () => {
    const guarded = await startApp({
      ...env.env,
      MIGRATIONS_RUN: 'false',
      METRICS_AUTH_TOKEN: 'scrape-secret-123',
    });
    try {
      const anonymous = await fetch(`${guarded.url}/metrics`);
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe(
        'invalid_metrics_token',
      );
      expect(
        (await fetch(`${guarded.url}/metrics`, { headers: { Authorization: 'Bearer wrong-token' } })).status,
      ).toBe(401);
      // An API key is not a metrics token.
      expect((await fetch(`${guarded.url}/metrics`, { headers: authHeader(TENANT_A.key) })).status).toBe(401);
      await scrape(guarded, { Authorization: 'Bearer scrape-secret-123' });
    } finally {
      await guarded.close();
    }
  });

  it('is served by a worker-only process too (no API routes there)', async () => {
    const worker = await startApp({ ...env.env, MIGRATIONS_RUN: 'false', APP_ROLE: 'worker' });
    try {
      const text = await scrape(worker);
      expect(text).toMatch(/^vllm_batch_upstream_inflight_limit /m);
      expect((await fetch(`${worker.url}/v1/files`, { headers: authHeader(TENANT_A.key) })).status).toBe(404);
    } finally {
      await worker.close();
    }
  });
});
