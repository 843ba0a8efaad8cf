/**
 * The alerting rules' single source, docker/prometheus/rules/vllm-batch.rules.yml, and the
 * Kubernetes PrometheusRule made from it. Run this file to (re)write the PrometheusRule after
 * editing the rules: `npx ts-node -T test/deploy/alert-rules.ts`; the spec beside it fails
 * while the two differ.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { JsonObject } from './kustomize';

const ROOT = path.resolve(__dirname, '..', '..');
export const RULES_DIR = path.join(ROOT, 'docker', 'prometheus', 'rules');
export const RULES_FILE = path.join(RULES_DIR, 'vllm-batch.rules.yml');
export const RULES_TEST_FILE = path.join(RULES_DIR, 'vllm-batch.rules.test.yml');
export const PROMETHEUS_RULE_FILE = path.join(ROOT, 'k8s', 'base', 'prometheus-rule.yaml');

/** The rule groups of the source file. */
export function ruleGroups(): JsonObject[] {
  return (parse(fs.readFileSync(RULES_FILE, 'utf8')) as { groups: JsonObject[] }).groups;
}

/** The PrometheusRule k8s/base/prometheus-rule.yaml must contain, as YAML text. */
export function prometheusRuleYaml(): string {
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'vllm-batch', labels: { 'app.kubernetes.io/name': 'vllm-batch' } },
    spec: { groups: ruleGroups() },
  };
  return [
    '# GENERATED from docker/prometheus/rules/vllm-batch.rules.yml (the rules, their',
    '# comments and unit tests live there): edit that file, then run',
    '#   npx ts-node -T test/deploy/alert-rules.ts',
    '# Needs the Prometheus Operator CRDs (the dev overlay drops it); the',
    '# production overlay adds the label kube-prometheus-stack selects rules by.',
    stringify(rule, { lineWidth: 0 }),
  ].join('\n');
}

if (require.main === module) {
  fs.writeFileSync(PROMETHEUS_RULE_FILE, prometheusRuleYaml());
  console.log(`wrote ${path.relative(ROOT, PROMETHEUS_RULE_FILE)}`);
}
