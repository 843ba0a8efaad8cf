import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { metricOf, seriesIn, unknownLabels } from './metric-registry';

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
  templating: { list: { name: string; type: string; query?: string }[] };
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
    ]) {
      expect({ needed, present: all.includes(needed) }).toEqual({ needed, present: true });
    }
  });
});
