/**
 * The service's metric names and labels, from the catalogue src/platform/metrics/metrics.ts builds
 * with every feature's set (src/metric-sets.ts), for tests that check PromQL written elsewhere (the
 * Grafana dashboard, the alerting rules) against it.
 */
import { FEATURE_METRIC_SETS } from '../../src/metric-sets';
import { createMetricsRegistry } from '../../src/platform/metrics/metrics';

export interface RegisteredMetric {
  type: string;
  labels: string[];
}

// The same registry the service builds: service metrics plus prefixed process metrics.
const { registry } = createMetricsRegistry(FEATURE_METRIC_SETS);
export const registeredMetrics = new Map<string, RegisteredMetric>();
for (const m of registry.getMetricsAsArray()) {
  const { name, type, labelNames } = m as unknown as { name: string; type: string; labelNames?: string[] };
  registeredMetrics.set(name, { type, labels: labelNames ?? [] });
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];
/** The registered metric a series name belongs to (histogram series carry a suffix). */
export function metricOf(series: string): string | undefined {
  if (registeredMetrics.has(series)) return series;
  const suffix = HISTOGRAM_SUFFIXES.find((s) => series.endsWith(s));
  const base = suffix ? series.slice(0, -suffix.length) : undefined;
  return base && registeredMetrics.get(base)?.type === 'histogram' ? base : undefined;
}

/** The service's series (vllm_batch_*) an expression reads. */
export const seriesIn = (expr: string): string[] =>
  [...expr.matchAll(/\b(vllm_batch_[a-zA-Z0-9_]+)/g)].map((m) => m[1]);

/**
 * Label matchers and `by (...)` groupings that name labels the expression's registered metrics do
 * not have (Prometheus adds `targetLabels`; histogram buckets have `le`). Unknown metric names are
 * left to the caller's name check.
 */
export function unknownLabels(expr: string, where: string, targetLabels = ['job', 'instance']): string[] {
  const problems: string[] = [];
  const used = seriesIn(expr).flatMap((s) => {
    const metric = registeredMetrics.get(metricOf(s) ?? '');
    return metric ? [{ series: s, metric }] : [];
  });
  const labelsOf = (series: string, metric: RegisteredMetric) =>
    new Set([...metric.labels, ...(series.endsWith('_bucket') ? ['le'] : []), ...targetLabels]);
  // Selectors right after a metric name: vllm_batch_x{label="..."}.
  for (const m of expr.matchAll(/\b(vllm_batch_[a-zA-Z0-9_]+)\{([^}]*)\}/g)) {
    const entry = used.find((u) => u.series === m[1]);
    if (!entry) continue;
    for (const l of m[2].matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) {
      if (!labelsOf(entry.series, entry.metric).has(l[1]))
        problems.push(`${where}: ${m[1]} has no label ${l[1]}`);
    }
  }
  // by (...) groupings: each label must exist on some metric of the expression.
  for (const m of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
    for (const label of m[1]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (!used.some((u) => labelsOf(u.series, u.metric).has(label)))
        problems.push(`${where}: no metric to group by ${label}`);
    }
  }
  return problems;
}
