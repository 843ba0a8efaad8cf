/**
 * The optional KEDA overlay (k8s/overlays/keda): production plus ScaledObjects that scale the
 * worker, and the vLLM pool in step with it, on the batch queue's depth.
 */
import * as path from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { metricOf, seriesIn, unknownLabels } from '../metrics/metric-registry';
import { JsonObject, K8sObject, renderKustomization } from './kustomize';
import { appWorkload, find, ofKind } from './manifest-checks';

const KEDA = path.resolve(__dirname, '..', '..', 'k8s', 'overlays', 'keda');
/** Labels the Prometheus Operator puts on every scraped series. */
const OPERATOR_TARGET_LABELS = ['job', 'instance', 'namespace', 'service', 'pod', 'container', 'endpoint'];

describe('k8s overlay keda', () => {
  let objs: K8sObject[];
  let worker: K8sObject;
  let vllm: K8sObject;
  beforeAll(() => {
    objs = renderKustomization(KEDA);
    worker = find(objs, 'ScaledObject', 'vllm-batch-worker')!;
    vllm = find(objs, 'ScaledObject', 'vllm')!;
  });
  const spec = (o: K8sObject) => o.spec as JsonObject;

  it('is the production overlay plus ScaledObjects for the worker and vLLM (policy: manifests.spec.ts)', () => {
    const production = renderKustomization(path.join(KEDA, '..', 'production'));
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        ...production.map((o) => `${o.kind}/${o.metadata.name}`),
        'ScaledObject/vllm-batch-worker',
        'ScaledObject/vllm',
      ].sort(),
    );
    expect(worker.metadata.namespace).toBe('vllm-batch');
    expect(vllm.metadata.namespace).toBe('vllm-batch');
  });

  it("validate against KEDA's schema", () => {
    for (const o of [worker, vllm]) expect(() => new ScaledObject(o as never).validate()).not.toThrow();
    const broken = JSON.parse(JSON.stringify(worker)) as K8sObject;
    spec(broken).triggers = 'prometheus';
    expect(() => new ScaledObject(broken as never).validate()).toThrow();
  });

  it('targets the worker Deployment, which leaves its replica count to KEDA', () => {
    expect(spec(worker).scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'vllm-batch-worker',
    });
    const deployment = appWorkload(objs, 'worker')!;
    expect(deployment.metadata.name).toBe('vllm-batch-worker');
    expect(spec(deployment).replicas).toBeUndefined();
    // No second autoscaler on the worker (KEDA creates its own HPA).
    expect(
      ofKind(objs, 'HorizontalPodAutoscaler').filter(
        (h) => (spec(h).scaleTargetRef as JsonObject).name === 'vllm-batch-worker',
      ),
    ).toEqual([]);
    expect(Number(spec(worker).minReplicaCount)).toBeGreaterThanOrEqual(1);
    expect(Number(spec(worker).maxReplicaCount)).toBeGreaterThan(Number(spec(worker).minReplicaCount));
  });

  it("scales on the app's queue-depth metric, in this namespace", () => {
    const [trigger] = spec(worker).triggers as JsonObject[];
    expect(trigger.type).toBe('prometheus');
    const { query, threshold } = trigger.metadata as Record<string, string>;
    expect(seriesIn(query)).toEqual(['vllm_batch_queue_jobs']);
    expect(seriesIn(query).every((s) => metricOf(s))).toBe(true);
    expect(unknownLabels(query, 'trigger', OPERATOR_TARGET_LABELS)).toEqual([]);
    expect(query).toContain(`namespace="${worker.metadata.namespace}"`);
    expect(query).toContain('queue="batches"');
    expect(Number(threshold)).toBeGreaterThan(0);
  });

  it('scales the vLLM pool in step with the worker: same trigger, bounds and behaviour', () => {
    expect(spec(vllm).scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'vllm' });
    expect(spec(find(objs, 'Deployment', 'vllm')!).replicas).toBeUndefined();
    const { scaleTargetRef: _w, ...workerScaling } = spec(worker);
    const { scaleTargetRef: _v, ...vllmScaling } = spec(vllm);
    expect(vllmScaling).toEqual(workerScaling);
  });
});
