/**
 * Who can reach what in the rendered overlays, by evaluating their
 * NetworkPolicies (test/deploy/network-policy.ts) for the connections that
 * matter: clients through the ingress controller, Prometheus, the app's
 * dependencies, and everything that must stay shut.
 */
import * as path from 'node:path';
import { JsonObject, K8sObject, renderKustomization } from './kustomize';
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

const networks: Record<'dev' | 'production', () => Network> = {
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
  // Production: the peers where k8s/README.md says the production overlay expects them.
  production: () => {
    const objs = renderKustomization(path.join(K8S, 'overlays', 'production'));
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

describe.each(['dev', 'production'] as const)('network policies of the %s overlay', (overlay) => {
  let net: Network;
  beforeAll(() => {
    net = networks[overlay]();
  });
  const can = (from: PodEndpoint, to: Endpoint, port: number, protocol = 'TCP') =>
    connectionAllowed(net.policies, from, to, port, protocol);

  it('are there: a default deny and one policy per peer (schemas: schemas.spec.ts)', () => {
    expect(net.policies.map((p) => p.metadata.name)).toContain('vllm-batch-default-deny');
    expect(net.policies.length).toBeGreaterThanOrEqual(overlay === 'dev' ? 7 : 8);
  });

  it('let clients in only through the ingress controller, to the api port', () => {
    expect(can(outside.ingressController, net.api, 4080)).toBe(true);
    expect(can(outside.ingressController, net.worker, 9464)).toBe(false);
    expect(can(outside.otherNamespacePod, net.api, 4080)).toBe(false);
    // Not even pods of the app's own namespace (the dev database, a debug pod).
    expect(can({ ...outside.otherNamespacePod, namespace: net.api.namespace }, net.api, 4080)).toBe(false);
    expect(can(net.postgres, net.api, 4080)).toBe(false);
    expect(can(net.worker, net.api, 4080)).toBe(false);
    expect(can(net.api, net.worker, 9464)).toBe(false);
  });

  it("let Prometheus scrape the api's and the worker's metrics ports, nothing else", () => {
    expect(can(outside.prometheus, net.api, 4080)).toBe(true);
    expect(can(outside.prometheus, net.worker, 9464)).toBe(true);
    expect(can(outside.prometheus, net.migrate, 9464)).toBe(false);
    expect(can({ ...outside.prometheus, namespace: 'default' }, net.worker, 9464)).toBe(false);
  });

  it('leave the admin port (the queue board) shut to every pod: port-forward only', () => {
    const adminPort = net.api.ports!.find((p) => p.name === 'admin')!.containerPort;
    expect(adminPort).toBe(4081);
    expect(can(outside.ingressController, net.api, adminPort)).toBe(false);
    expect(can(outside.prometheus, net.api, adminPort)).toBe(false);
    expect(can(outside.otherNamespacePod, net.api, adminPort)).toBe(false);
    expect(can({ ...outside.otherNamespacePod, namespace: net.api.namespace }, net.api, adminPort)).toBe(
      false,
    );
    expect(can(net.worker, net.api, adminPort)).toBe(false);
  });

  it('route no /admin path through the public Ingress', () => {
    const paths = ofKind(renderKustomization(path.join(K8S, 'overlays', overlay)), 'Ingress').flatMap((ing) =>
      ((ing.spec as JsonObject).rules as JsonObject[]).flatMap((r) =>
        ((r.http as JsonObject).paths as JsonObject[]).map((p) => String(p.path)),
      ),
    );
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.filter((p) => p.startsWith('/admin'))).toEqual([]);
  });

  it('let every app pod resolve names through cluster DNS', () => {
    for (const pod of [net.api, net.worker, net.migrate]) {
      expect(can(pod, outside.kubeDns, 53, 'UDP')).toBe(true);
      expect(can(pod, outside.kubeDns, 53, 'TCP')).toBe(true);
      expect(can(pod, outside.kubeDns, 9153)).toBe(false);
    }
  });

  it('let api and worker reach PostgreSQL and Redis, the migration Job PostgreSQL only', () => {
    for (const pod of [net.api, net.worker]) {
      expect(can(pod, net.postgres, 5432)).toBe(true);
      expect(can(pod, net.redis, 6379)).toBe(true);
      expect(can(pod, net.redis, 5432)).toBe(false);
    }
    expect(can(net.migrate, net.postgres, 5432)).toBe(true);
    expect(can(net.migrate, net.redis, 6379)).toBe(false);
  });

  it('let only the worker reach vLLM', () => {
    expect(can(net.worker, net.vllm, 8000)).toBe(true);
    expect(can(net.api, net.vllm, 8000)).toBe(false);
    expect(can(net.migrate, net.vllm, 8000)).toBe(false);
  });

  it(
    overlay === 'production'
      ? 'let api and worker reach object storage over HTTPS'
      : 'give no way to object storage (files on the shared volume)',
    () => {
      expect(can(net.api, outside.publicS3, 443)).toBe(overlay === 'production');
      // The worker reaches public HTTPS in every overlay anyway: that is how webhooks leave.
      expect(can(net.worker, outside.publicS3, 443)).toBe(true);
      expect(can(net.migrate, outside.publicS3, 443)).toBe(false);
    },
  );

  it('let the worker deliver webhooks to public HTTPS receivers, and nobody else reach the internet', () => {
    expect(can(net.worker, outside.internet, 443)).toBe(true);
    expect(can(net.worker, outside.cloudMetadata, 443)).toBe(false);
    expect(can(net.migrate, outside.internet, 443)).toBe(false);
    // In production the api reaches public HTTPS for object storage only; in dev not at all.
    expect(can(net.api, outside.internet, 443)).toBe(overlay === 'production');
  });

  it('keep everything else shut: internet, cloud metadata, the Kubernetes API, other pods', () => {
    for (const pod of [net.api, net.worker, net.migrate]) {
      expect(can(pod, outside.internet, 80)).toBe(false);
      expect(can(pod, outside.cloudMetadata, 80)).toBe(false);
      expect(can(pod, outside.cloudMetadata, 443)).toBe(false);
      expect(can(pod, outside.kubeApiServer, 443)).toBe(false);
      expect(can(pod, outside.otherNamespacePod, 8080)).toBe(false);
    }
  });

  it('give VLLM_API_KEY to the worker only', () => {
    const objs = renderKustomization(path.join(K8S, 'overlays', overlay));
    const env = (comp: string) => effectiveEnv(objs, appContainer(objs, comp)!);
    expect(env('worker').get('VLLM_API_KEY')).toMatchObject({ source: 'secret' });
    expect(env('api').has('VLLM_API_KEY')).toBe(false);
    expect(env('migrate').has('VLLM_API_KEY')).toBe(false);
  });
});

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
