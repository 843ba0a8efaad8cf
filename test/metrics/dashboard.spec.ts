import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMetricsRegistry } from '../../src/metrics/metrics';

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

// The same registry the service builds: service metrics plus prefixed process metrics.
const { registry } = createMetricsRegistry();
const metrics = new Map<string, { type: string; labels: string[] }>();
for (const m of registry.getMetricsAsArray()) {
  const { name, type, labelNames } = m as unknown as { name: string; type: string; labelNames?: string[] };
  metrics.set(name, { type, labels: labelNames ?? [] });
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];
/** The registered metric a series name belongs to (histogram series carry a suffix). */
function metricOf(series: string): string | undefined {
  if (metrics.has(series)) return series;
  const suffix = HISTOGRAM_SUFFIXES.find((s) => series.endsWith(s));
  const base = suffix ? series.slice(0, -suffix.length) : undefined;
  return base && metrics.get(base)?.type === 'histogram' ? base : undefined;
}
const seriesIn = (expr: string): string[] =>
  [...expr.matchAll(/\b(vllm_batch_[a-zA-Z0-9_]+)/g)].map((m) => m[1]);

describe('Grafana dashboard docker/grafana/dashboards/vllm-batch.json', () => {
  it('has panels with queries and a stable uid', () => {
    expect(dashboard.uid).toBe('vllm-batch');
    expect(queryPanels.length).toBeGreaterThanOrEqual(10);
    expect(exprs.length).toBeGreaterThanOrEqual(queryPanels.length);
    for (const { panel, expr } of exprs)
      expect({ panel, expr: expr.trim().length > 0 }).toEqual({ panel, expr: true });
  });

  it('uses only metric names that src/metrics/metrics.ts registers', () => {
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
    const problems: string[] = [];
    for (const { panel, expr } of exprs) {
      // Unknown names are the previous test's failure; here only the known ones are checked.
      const used = seriesIn(expr).flatMap((s) => {
        const metric = metrics.get(metricOf(s) ?? '');
        return metric ? [{ series: s, metric }] : [];
      });
      const labelsOf = (series: string, metric: { type: string; labels: string[] }) =>
        new Set([...metric.labels, ...(series.endsWith('_bucket') ? ['le'] : []), 'job', 'instance']);
      // Selectors right after a metric name: vllm_batch_x{label="..."}.
      for (const m of expr.matchAll(/\b(vllm_batch_[a-zA-Z0-9_]+)\{([^}]*)\}/g)) {
        const entry = used.find((u) => u.series === m[1]);
        if (!entry) continue;
        for (const l of m[2].matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) {
          if (!labelsOf(entry.series, entry.metric).has(l[1]))
            problems.push(`${panel}: ${m[1]} has no label ${l[1]}`);
        }
      }
      // by (...) groupings: each label must exist on some metric of the expression.
      for (const m of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
        for (const label of m[1]
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)) {
          if (!used.some((u) => labelsOf(u.series, u.metric).has(label)))
            problems.push(`${panel}: no metric to group by ${label}`);
        }
      }
    }
    expect(problems).toEqual([]);
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
