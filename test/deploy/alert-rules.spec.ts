/**
 * The alerting rules: valid for Prometheus (`promtool check rules`), each one unit-tested
 * (`promtool test rules`), reading only metrics that exist, and the same in compose and in the
 * Kubernetes PrometheusRule. promtool comes from Debian's `prometheus` package; .ci/run installs
 * it, and so does `apt-get install -y --no-install-recommends prometheus` on a developer machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { registeredMetrics, metricOf, unknownLabels } from '../metrics/metric-registry';
import { JsonObject, renderKustomization } from './kustomize';
import {
  PROMETHEUS_RULE_FILE,
  prometheusRuleYaml,
  RULES_FILE,
  RULES_TEST_FILE,
  ruleGroups,
} from './alert-rules';

const K8S = path.resolve(__dirname, '..', '..', 'k8s');

/** Series that are not the service's own but that the rules may read. */
const EXTERNAL_SERIES: Record<string, string> = {
  up: 'Prometheus, per scrape target',
  kube_job_status_failed: 'kube-state-metrics',
};
/** The service's metrics that rules wait for: each must NOT be registered yet (move it out when it is). */
const FUTURE_SERIES: Record<string, string> = {};

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
const rules = ruleGroups().flatMap((g) => g.rules as unknown as Rule[]);

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring']);
/** Metric names an expression selects: identifiers that are no function, keyword or label. */
function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...bare.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g)]
    .map((m) => m[1])
    .filter((n) => !KEYWORDS.has(n));
}

function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: path.dirname(RULES_FILE), encoding: 'utf8' });
  if (r.error) {
    throw new Error(
      `promtool is missing (${r.error.message}): apt-get install -y --no-install-recommends prometheus`,
    );
  }
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('alerting rules docker/prometheus/rules/vllm-batch.rules.yml', () => {
  it('pass promtool check rules', () => {
    const r = promtool('check', 'rules', path.basename(RULES_FILE));
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.status).toBe(0);
  });

  it('pass their unit tests (promtool test rules)', () => {
    const r = promtool('test', 'rules', path.basename(RULES_TEST_FILE));
    expect({ status: r.status, output: r.output }).toEqual({
      status: 0,
      output: expect.stringContaining('SUCCESS'),
    });
  });

  it('are each unit-tested, firing at least once', () => {
    const tests = (parse(fs.readFileSync(RULES_TEST_FILE, 'utf8')) as { tests: JsonObject[] }).tests;
    const fired = new Set(
      tests.flatMap((t) =>
        ((t.alert_rule_test ?? []) as JsonObject[])
          .filter((a) => Array.isArray(a.exp_alerts) && a.exp_alerts.length > 0)
          .map((a) => String(a.alertname)),
      ),
    );
    expect(rules.map((r) => r.alert).filter((a) => !fired.has(a!))).toEqual([]);
  });

  it('cover the signals operators are paged for', () => {
    expect(rules.map((r) => r.alert).sort()).toEqual(
      [
        'VllmBatchApi5xxRatioHigh',
        'VllmBatchBatchesNearExpiry',
        'VllmBatchDependencyUnreachable',
        'VllmBatchEndpointBreakerOpen',
        'VllmBatchEndpointServesNoModel',
        'VllmBatchMigrationJobFailed',
        'VllmBatchNoWorkerAlive',
        'VllmBatchQueueStalled',
        'VllmBatchRateLimitingFailingOpen',
        'VllmBatchUpstreamErrorRatioHigh',
        'VllmBatchWebhookDeliveriesFailing',
        'VllmBatchWorkerRedisUnreachable',
      ].sort(),
    );
    for (const r of rules)
      expect({ alert: r.alert, labels: (r as unknown as JsonObject).labels }).toMatchObject({
        labels: { severity: expect.stringMatching(/^(critical|warning)$/) },
      });
  });

  it('read only metrics that the catalogue registers (src/platform/metrics/metrics.ts + src/metric-sets.ts), or known outside series', () => {
    const unknown = rules.flatMap((r) =>
      metricNamesIn(r.expr)
        .filter((n) => !metricOf(n) && !(n in EXTERNAL_SERIES) && !(n in FUTURE_SERIES))
        .map((n) => `${r.alert}: ${n}`),
    );
    expect(unknown).toEqual([]);
    for (const future of Object.keys(FUTURE_SERIES))
      expect({ future, registered: registeredMetrics.has(future) }).toEqual({ future, registered: false });
    // The name extraction sees names that are not registered, and every selector of a known rule.
    expect(metricNamesIn('sum by (x) (rate(vllm_batch_nope_total{a="b"}[5m])) > bool 1')).toEqual([
      'vllm_batch_nope_total',
    ]);
    expect(metricNamesIn(rules.find((r) => r.alert === 'VllmBatchQueueStalled')!.expr).sort()).toEqual([
      'vllm_batch_queue_jobs',
      'vllm_batch_queue_jobs',
      'vllm_batch_queue_jobs',
      'vllm_batch_queue_jobs',
      'vllm_batch_upstream_inflight_requests',
    ]);
  });

  it('filter and group only by labels those metrics have', () => {
    // Rules on outside series only (kube-state-metrics) have no registry to check against.
    const own = rules.filter((r) => metricNamesIn(r.expr).some((n) => metricOf(n)));
    expect(own.length).toBeGreaterThanOrEqual(4);
    expect(own.flatMap((r) => unknownLabels(r.expr, r.alert!))).toEqual([]);
  });

  it('are what the Kubernetes PrometheusRule carries', () => {
    // Regenerate with: npx ts-node -T test/deploy/alert-rules.ts
    expect(fs.readFileSync(PROMETHEUS_RULE_FILE, 'utf8')).toBe(prometheusRuleYaml());
    const rendered = renderKustomization(path.join(K8S, 'overlays', 'production')).filter(
      (o) => o.kind === 'PrometheusRule',
    );
    expect(rendered).toHaveLength(1);
    expect((rendered[0].spec as JsonObject).groups).toEqual(ruleGroups());
    expect(rendered[0].metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(
      renderKustomization(path.join(K8S, 'overlays', 'dev')).filter((o) => o.kind === 'PrometheusRule'),
    ).toEqual([]);
  });

  it('are loaded by the compose Prometheus', () => {
    const config = parse(
      fs.readFileSync(path.join(path.dirname(RULES_FILE), '..', 'prometheus.yml'), 'utf8'),
    ) as JsonObject;
    expect(config.rule_files).toEqual(['/etc/prometheus/rules/*.rules.yml']);
    // The compose mount of the rules folder is checked by checkPrometheus (compose.spec.ts).
    expect(execFileSync('ls', [path.dirname(RULES_FILE)], { encoding: 'utf8' }).split('\n')).toContain(
      path.basename(RULES_FILE),
    );
  });
});
