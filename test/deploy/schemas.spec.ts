/**
 * Every object of every overlay validates against its schema: Kubernetes' own (kubernetes-models)
 * and the CRDs' (Prometheus Operator, KEDA).
 */
import * as path from 'node:path';
import { K8sObject, renderKustomization } from './kustomize';

const K8S = path.resolve(__dirname, '..', '..', 'k8s');

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: unknown) => Validatable;

/** The model class of an object's apiVersion and kind. */
function modelOf(o: K8sObject): ModelClass {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const module =
    group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/${group}/${version}`
      : group === 'keda.sh'
        ? `@kubernetes-models/keda/${group}/${version}`
        : `kubernetes-models/${group ? `${group}/` : ''}${version}`;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const model = (require(module) as Record<string, ModelClass | undefined>)[o.kind];
  if (!model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  return model;
}

describe.each(['dev', 'production', 'keda', 'external-vllm', 'upstreams-file'])(
  'k8s overlay %s',
  (overlay) => {
    const objs = renderKustomization(path.join(K8S, 'overlays', overlay));

    it.each(objs.map((o) => [`${o.kind}/${o.metadata.name}`, o] as const))(
      '%s validates against its schema',
      (_id, o) => {
        const Model = modelOf(o);
        expect(() => new Model(o).validate()).not.toThrow();
      },
    );
  },
);

describe('schema validation', () => {
  it('rejects what Kubernetes would reject', () => {
    const objs = renderKustomization(path.join(K8S, 'overlays', 'production'));
    const deployment = JSON.parse(JSON.stringify(objs.find((o) => o.kind === 'Deployment'))) as K8sObject;
    (deployment.spec as { replicas?: unknown }).replicas = 'three';
    const Model = modelOf(deployment);
    expect(() => new Model(deployment).validate()).toThrow();
  });
});
