import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { metricOf, registeredMetrics, seriesIn, unknownLabels } from './metric-registry';

interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
}

const dashboardPath = join(__dirname, '../../docker/grafana/dashboards/vllm-batch.json');
const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = panels.filter((p) => p.type !== 'row');
const exprs = queryPanels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })),
);

describe('Grafana dashboard docker/grafana/dashboards/vllm-batch.json', () => {
  it('has panels with queries and a stable uid', () => {
    expect(dashboard.uid).toBe('vllm-batch');
    expect(queryPanels.length).toBeGreaterThanOrEqual(10);
    expect(exprs.length).toBeGreaterThanOrEqual(queryPanels.length);
    for (const { panel, expr } of exprs)
      expect({ panel, expr: expr.trim().length > 0 }).toEqual({ panel, expr: true });
  });

  it('uses only metric names that the catalogue registers (src/platform/metrics/metrics.ts + src/metric-sets.ts)', () => {
    const unknown = exprs.flatMap(({ panel, expr }) =>
      seriesIn(expr)
        .filter((s) => !metricOf(s))
        .map((s) => `${panel}: ${s}`),
    );
    expect(unknown).toEqual([]);
    // Every query reads at least one of the service's metrics (no stray vllm: series).
    for (const { panel, expr } of exprs)
      expect({ panel, series: seriesIn(expr).length > 0 }).toEqual({ panel, series: true });
  });

  it('filters and groups only by labels those metrics have', () => {
    expect(exprs.flatMap(({ panel, expr }) => unknownLabels(expr, panel))).toEqual([]);
  });

  it('has a panel for every concurrency-controller metric (src/worker/concurrency/concurrency.metrics.ts)', () => {
    const all = exprs.map((e) => e.expr).join('\n');
    const concurrency = [...registeredMetrics.keys()].filter((n) =>
      /^vllm_batch_(concurrency_|upstream_(kv_cache|requests_(waiting|running)))/.test(n),
    );
    expect(concurrency.length).toBeGreaterThanOrEqual(8);
    expect(concurrency.filter((n) => !all.includes(n))).toEqual([]);
  });

  it('filters the per-endpoint panels by an endpoint variable of the same label', () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'endpoint') as
      { type: string; query?: { query?: string } } | undefined;
    expect(variable?.type).toBe('query');
    expect(variable?.query?.query).toMatch(/^label_values\(vllm_batch_endpoint_\w+, endpoint\)$/);
    expect(seriesIn(variable!.query!.query!).every((s) => metricOf(s))).toBe(true);
    const perEndpoint = exprs.filter(({ expr }) => /vllm_batch_endpoint_/.test(expr));
    expect(perEndpoint.length).toBeGreaterThanOrEqual(10);
    for (const { panel, expr } of perEndpoint)
      expect({ panel, filtered: expr.includes('endpoint=~"$endpoint"') }).toEqual({ panel, filtered: true });
  });

  it('takes its datasource from a Prometheus datasource variable', () => {
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' });
    for (const p of queryPanels) {
      expect({ panel: p.title, ds: p.datasource }).toEqual({
        panel: p.title,
        ds: { type: 'prometheus', uid: '${datasource}' },
      });
      for (const t of p.targets ?? []) expect(t.datasource?.uid).toBe('${datasource}');
    }
  });

  it('covers the signals operators need', () => {
    const all = exprs.map((e) => e.expr).join('\n');
    for (const needed of [
      'vllm_batch_http_requests_total',
      'vllm_batch_throttled_requests_total',
      'vllm_batch_batch_transitions_total{to=~"completed',
      'vllm_batch_queue_jobs',
      'vllm_batch_upstream_inflight_requests',
      'vllm_batch_upstream_inflight_limit',
      'histogram_quantile(0.5, sum by (le) (rate(vllm_batch_upstream_request_duration_seconds_bucket',
      'histogram_quantile(0.95, sum by (le) (rate(vllm_batch_upstream_request_duration_seconds_bucket',
      'vllm_batch_upstream_requests_total',
      'vllm_batch_prompt_tokens_total',
      'vllm_batch_completion_tokens_total',
      // The pool, per endpoint.
      'sum by (endpoint) (vllm_batch_endpoint_inflight',
      'sum by (endpoint) (vllm_batch_endpoint_limit{',
      'vllm_batch_endpoint_limit_reason',
      'vllm_batch_endpoint_kv_cache_usage_ratio',
      'vllm_batch_endpoint_requests_waiting',
      'vllm_batch_endpoint_requests_running',
      'histogram_quantile(0.5, sum by (le, endpoint, model) (rate(vllm_batch_endpoint_request_duration_seconds_bucket',
      'histogram_quantile(0.95, sum by (le, endpoint, model) (rate(vllm_batch_endpoint_request_duration_seconds_bucket',
      'sum by (endpoint, kind) (rate(vllm_batch_endpoint_errors_total',
      'vllm_batch_endpoint_breaker_open',
      'vllm_batch_endpoint_draining',
      'sum by (endpoint, model) (rate(vllm_batch_endpoint_lines_total',
      'vllm_batch_endpoint_models',
    ]) {
      expect({ needed, present: all.includes(needed) }).toEqual({ needed, present: true });
    }
  });
});
