/**
 * Who can reach what in the rendered overlays, by evaluating their
 * NetworkPolicies (test/deploy/network-policy.ts) for the connections that
 * matter: clients through the ingress controller, Prometheus, the app's
 * dependencies, and everything that must stay shut.
 */
import * as path from 'node:path';
import { K8sObject, renderKustomization } from './kustomize';
import { appContainer, appWorkload, effectiveEnv, ofKind } from './manifest-checks';
import { connectionAllowed, Endpoint, inCidr, PodEndpoint, podOf } from './network-policy';

const K8S = path.resolve(__dirname, '..', '..', 'k8s');

interface Network {
  policies: K8sObject[];
  api: PodEndpoint;
  worker: PodEndpoint;
  migrate: PodEndpoint;
  postgres: PodEndpoint;
  redis: PodEndpoint;
  vllm: PodEndpoint;
}

const outside = {
  ingressController: {
    namespace: 'ingress-nginx',
    labels: { 'app.kubernetes.io/name': 'ingress-nginx' },
    ip: '10.244.9.1',
  },
  prometheus: {
    namespace: 'monitoring',
    labels: { 'app.kubernetes.io/name': 'prometheus' },
    ip: '10.244.9.2',
  },
  kubeDns: { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, ip: '10.244.9.3' },
  otherNamespacePod: { namespace: 'default', labels: { app: 'curl' }, ip: '10.244.9.4' },
  publicS3: { ip: '52.216.8.10' },
  cloudMetadata: { ip: '169.254.169.254' },
  kubeApiServer: { ip: '10.0.0.1' },
  internet: { ip: '93.184.216.34' },
} satisfies Record<string, Endpoint>;

function workloadByName(objs: K8sObject[], appName: string): K8sObject {
  const w = ofKind(objs, 'Deployment').find((d) => d.metadata.labels?.['app.kubernetes.io/name'] === appName);
  if (!w) throw new Error(`no Deployment labelled app.kubernetes.io/name=${appName}`);
  return w;
}

function appPods(objs: K8sObject[]): Pick<Network, 'api' | 'worker' | 'migrate'> {
  return {
    api: podOf(appWorkload(objs, 'api')!, '10.244.1.10'),
    worker: podOf(appWorkload(objs, 'worker')!, '10.244.1.11'),
    migrate: podOf(appWorkload(objs, 'migrate')!, '10.244.1.12'),
  };
}

const networks: Record<'dev' | 'production' | 'external-vllm', () => Network> = {
  // Dev: the peers are the overlay's own in-cluster Deployments.
  dev: () => {
    const objs = renderKustomization(path.join(K8S, 'overlays', 'dev'));
    return {
      policies: ofKind(objs, 'NetworkPolicy'),
      ...appPods(objs),
      postgres: podOf(workloadByName(objs, 'postgres'), '10.244.2.1'),
      redis: podOf(workloadByName(objs, 'redis'), '10.244.2.2'),
      vllm: podOf(workloadByName(objs, 'vllm-simulator'), '10.244.2.3'),
    };
  },
  // Production: the overlay's own vLLM pool; PostgreSQL and Redis where k8s/README.md says the
  // overlay expects them.
  production: () => {
    const objs = renderKustomization(path.join(K8S, 'overlays', 'production'));
    const ns = 'vllm-batch';
    return {
      policies: ofKind(objs, 'NetworkPolicy'),
      ...appPods(objs),
      postgres: { namespace: ns, labels: { 'app.kubernetes.io/name': 'postgres' }, ip: '10.244.2.1' },
      redis: { namespace: ns, labels: { 'app.kubernetes.io/name': 'redis' }, ip: '10.244.2.2' },
      vllm: podOf(workloadByName(objs, 'vllm'), '10.244.3.1'),
    };
  },
  // One vLLM of your own, in namespace `vllm` (overlays/external-vllm).
  'external-vllm': () => {
    const objs = renderKustomization(path.join(K8S, 'overlays', 'external-vllm'));
    const ns = 'vllm-batch';
    return {
      policies: ofKind(objs, 'NetworkPolicy'),
      ...appPods(objs),
      postgres: { namespace: ns, labels: { 'app.kubernetes.io/name': 'postgres' }, ip: '10.244.2.1' },
      redis: { namespace: ns, labels: { 'app.kubernetes.io/name': 'redis' }, ip: '10.244.2.2' },
      vllm: {
        namespace: 'vllm',
        labels: { 'app.kubernetes.io/name': 'vllm' },
        ip: '10.244.3.1',
        ports: [{ name: 'http', containerPort: 8000 }],
      },
    };
  },
};

describe.each(['dev', 'production', 'external-vllm'] as const)(
  'network policies of the %s overlay',
  (overlay) => {
    const net = networks[overlay]();
    const { api, worker, migrate, postgres, redis, vllm } = net;
    const { ingressController, prometheus, kubeDns, otherNamespacePod, publicS3, cloudMetadata, internet } =
      outside;
    const prod = overlay !== 'dev';
    /** Whether the overlay runs the vLLM pool itself (and shuts it to all but workers and Prometheus). */
    const ownPool = overlay === 'production';
    /** A pod of the app's own namespace that is none of the app's (the dev database, a debug pod). */
    const neighbour = { ...otherNamespacePod, namespace: api.namespace };
    const port = (pod: PodEndpoint, name: string) => pod.ports!.find((p) => p.name === name)!.containerPort;
    const [http, metrics, admin] = [port(api, 'http'), port(worker, 'metrics'), port(api, 'admin')];
    const appPods = { api, worker, migrate };
    const each = (pods: Record<string, PodEndpoint>, row: (pod: PodEndpoint) => Connection) =>
      Object.entries(pods).map(([name, pod]): Connection => {
        const [label, ...rest] = row(pod);
        return [`${name}: ${label}`, ...rest];
      });
    type Connection = [string, boolean, PodEndpoint, Endpoint, number, string?];

    const connections: Connection[] = [
      // Clients come in only through the ingress controller, to the api port.
      ['ingress controller -> api http', true, ingressController, api, http],
      ['ingress controller -> worker metrics', false, ingressController, worker, metrics],
      ['another namespace -> api http', false, otherNamespacePod, api, http],
      ['a neighbour pod -> api http', false, neighbour, api, http],
      ['postgres -> api http', false, postgres, api, http],
      ['worker -> api http', false, worker, api, http],
      ['api -> worker metrics', false, api, worker, metrics],
      // Prometheus scrapes the api's and the worker's metrics ports, nothing else.
      ['prometheus -> api http', true, prometheus, api, http],
      ['prometheus -> worker metrics', true, prometheus, worker, metrics],
      ['prometheus -> migrate', false, prometheus, migrate, metrics],
      [
        'a pod named prometheus elsewhere -> worker metrics',
        false,
        { ...prometheus, namespace: 'default' },
        worker,
        metrics,
      ],
      // The admin port (the queue board) is shut to every pod: port-forward only.
      ...[ingressController, prometheus, otherNamespacePod, neighbour, worker].map((from, i): Connection => [
        `admin port shut (${i})`,
        false,
        from,
        api,
        admin,
      ]),
      // Cluster DNS for every app pod.
      ...each(appPods, (pod) => ['DNS over UDP', true, pod, kubeDns, 53, 'UDP']),
      ...each(appPods, (pod) => ['DNS over TCP', true, pod, kubeDns, 53]),
      ...each(appPods, (pod) => ['kube-dns metrics', false, pod, kubeDns, 9153]),
      // PostgreSQL and Redis for api and worker; the migration Job PostgreSQL only; vLLM for the worker only.
      ...each({ api, worker, migrate }, (pod) => ['postgres', true, pod, postgres, 5432]),
      ...each({ api, worker }, (pod) => ['redis', true, pod, redis, 6379]),
      ...each({ api, worker }, (pod) => ['redis on the postgres port', false, pod, redis, 5432]),
      ['migrate -> redis', false, migrate, redis, 6379],
      ['worker -> vLLM', true, worker, vllm, 8000],
      ['worker -> vLLM on another port', false, worker, vllm, 8001],
      ...each({ api, migrate }, (pod) => ['vLLM', false, pod, vllm, 8000]),
      // The overlay's own pool takes only the workers (completions, /metrics) and Prometheus.
      ['prometheus -> vLLM metrics', true, prometheus, vllm, 8000],
      ['a neighbour pod -> vLLM', !ownPool, neighbour, vllm, 8000],
      ['another namespace -> vLLM', !ownPool, otherNamespacePod, vllm, 8000],
      // Public HTTPS: the worker's webhooks in every overlay, the api's object storage in production only.
      ['worker -> public HTTPS (webhooks)', true, worker, internet, 443],
      ['worker -> object storage', true, worker, publicS3, 443],
      ['api -> object storage', prod, api, publicS3, 443],
      ['api -> public HTTPS', prod, api, internet, 443],
      ['migrate -> object storage', false, migrate, publicS3, 443],
      ['migrate -> public HTTPS', false, migrate, internet, 443],
      ['worker -> cloud metadata over HTTPS', false, worker, cloudMetadata, 443],
      // Everything else stays shut: plain HTTP, cloud metadata, the Kubernetes API, other pods.
      ...each(appPods, (pod) => ['internet over HTTP', false, pod, internet, 80]),
      ...each(appPods, (pod) => ['cloud metadata', false, pod, cloudMetadata, 80]),
      ...each(appPods, (pod) => ['cloud metadata over HTTPS', false, pod, cloudMetadata, 443]),
      ...each(appPods, (pod) => ['Kubernetes API', false, pod, outside.kubeApiServer, 443]),
      ...each(appPods, (pod) => ['other namespace', false, pod, otherNamespacePod, 8080]),
    ];

    it('are there: a default deny and one policy per peer (schemas: schemas.spec.ts)', () => {
      expect(net.policies.map((p) => p.metadata.name)).toContain('vllm-batch-default-deny');
      expect(net.policies.length).toBeGreaterThanOrEqual(overlay === 'dev' ? 7 : 8);
      expect([http, metrics, admin]).toEqual([4080, 9464, 4081]);
    });

    it.each(connections)('%s: allowed %s', (_label, allowed, from, to, p, protocol = 'TCP') => {
      expect(connectionAllowed(net.policies, from, to, p, protocol)).toBe(allowed);
    });

    it('give VLLM_API_KEY to the worker only', () => {
      const objs = renderKustomization(path.join(K8S, 'overlays', overlay));
      const env = (comp: string) => effectiveEnv(objs, appContainer(objs, comp)!);
      expect(env('worker').get('VLLM_API_KEY')).toMatchObject({ source: 'secret' });
      expect(env('api').has('VLLM_API_KEY')).toBe(false);
      expect(env('migrate').has('VLLM_API_KEY')).toBe(false);
    });
  },
);

describe('the network policy evaluator', () => {
  const ns = 'team';
  const web: PodEndpoint = {
    namespace: ns,
    labels: { app: 'web' },
    ip: '10.1.0.1',
    ports: [{ name: 'http', containerPort: 8080 }],
  };
  const client: PodEndpoint = { namespace: 'clients', labels: { app: 'client' }, ip: '10.2.0.1' };
  const policy = (name: string, spec: object): K8sObject =>
    ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name, namespace: ns },
      spec,
    }) as K8sObject;
  const allowClients = policy('allow', {
    podSelector: { matchLabels: { app: 'web' } },
    ingress: [
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'clients' } } }],
        ports: [{ port: 'http' }],
      },
    ],
  });

  it('leaves unselected pods open and shuts selected ones to all but their rules', () => {
    expect(connectionAllowed([], client, web, 8080)).toBe(true);
    expect(connectionAllowed([allowClients], client, web, 8080)).toBe(true);
    // The named port resolves to 8080 only; another namespace is not selected.
    expect(connectionAllowed([allowClients], client, web, 9090)).toBe(false);
    expect(connectionAllowed([allowClients], { ...client, namespace: 'x' }, web, 8080)).toBe(false);
    // A policy in another namespace does not apply.
    expect(
      connectionAllowed([{ ...allowClients, metadata: { name: 'a', namespace: 'x' } }], client, web, 1),
    ).toBe(true);
  });

  it('checks both ends: the source egress and the destination ingress', () => {
    const denyEgress = { ...policy('deny', { podSelector: {}, policyTypes: ['Egress'] }) };
    denyEgress.metadata.namespace = 'clients';
    expect(connectionAllowed([allowClients, denyEgress], client, web, 8080)).toBe(false);
  });

  it('matches ipBlocks with their exceptions', () => {
    expect(inCidr('10.20.30.40', '10.0.0.0/8')).toBe(true);
    expect(inCidr('11.0.0.1', '10.0.0.0/8')).toBe(false);
    const egress = policy('egress', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }],
          ports: [{ port: 440, endPort: 450 }],
        },
      ],
    });
    expect(connectionAllowed([egress], web, { ip: '1.2.3.4' }, 443)).toBe(true);
    expect(connectionAllowed([egress], web, { ip: '10.9.9.9' }, 443)).toBe(false);
    expect(connectionAllowed([egress], web, { ip: '1.2.3.4' }, 451)).toBe(false);
    expect(connectionAllowed([egress], web, { ip: '1.2.3.4' }, 443, 'UDP')).toBe(false);
  });
});
