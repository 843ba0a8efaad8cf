/**
 * Renders k8s/overlays/* with the in-repo kustomize renderer (no kubectl/kustomize binary) and holds
 * each to our policy (manifest-checks.ts; the schemas are schemas.spec.ts's). The last block breaks
 * copies of the rendering on purpose to prove that each check can fail.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IContainer } from 'kubernetes-models/v1';
import { K8sObject, renderKustomization } from './kustomize';
import {
  appConfigMap,
  appConfigOf,
  appContainer,
  appWorkload,
  CHECKS,
  containersOf,
  effectiveEnv,
  find,
  NGINX_UPSTREAM_KEEPALIVE_SECONDS,
  ofKind,
  Overlay,
  podOf,
  preStopSeconds,
  referencedSecretKeys,
  SUPPORTED_UPLOAD_SECONDS,
  UPSTREAM_SOURCES,
  upstreamSource,
  upstreamsFile,
} from './manifest-checks';

const K8S = path.resolve(__dirname, '..', '..', 'k8s');
const production: Overlay = {
  namespace: 'vllm-batch',
  storage: 's3',
  externalSecret: true,
  serviceMonitor: true,
  upstreams: 'discovery',
};
export const OVERLAYS: Record<string, Overlay> = {
  dev: {
    namespace: 'vllm-batch-dev',
    storage: 'local',
    externalSecret: false,
    serviceMonitor: false,
    upstreams: 'discovery',
  },
  production,
  keda: production,
  'external-vllm': { ...production, upstreams: 'single' },
  'upstreams-file': { ...production, upstreams: 'file' },
};
const render = (name: string) => renderKustomization(path.join(K8S, 'overlays', name));
type CheckName = keyof typeof CHECKS;

it('the k8s base renders on its own and leaves the namespace to the overlays', () => {
  const objs = renderKustomization(path.join(K8S, 'base'));
  expect(objs.length).toBeGreaterThan(10);
  expect(objs.filter((o) => o.metadata.namespace !== undefined)).toEqual([]);
});

describe.each(Object.keys(OVERLAYS))('k8s overlay %s', (name) => {
  const objs = render(name);
  const api = appContainer(objs, 'api')!;
  const worker = appContainer(objs, 'worker')!;

  it.each(Object.keys(CHECKS) as CheckName[])('keeps the policy: %s', (check) => {
    expect(CHECKS[check](objs, OVERLAYS[name])).toEqual([]);
  });

  it('probes the worker on its metrics port', () => {
    expect(worker.readinessProbe).toMatchObject({ httpGet: { path: '/ready', port: 'metrics' } });
  });

  it('keeps the timeouts k8s/README.md ("Timeouts") states, on the rendered values', () => {
    const apiConfig = appConfigOf(objs, api);
    expect(preStopSeconds(api)).toBeGreaterThan(0);
    expect(apiConfig.shutdownGraceMs / 1000).toBeGreaterThanOrEqual(SUPPORTED_UPLOAD_SECONDS);
    expect(podOf(appWorkload(objs, 'api')!).terminationGracePeriodSeconds).toBeGreaterThan(
      apiConfig.shutdownGraceMs / 1000 + preStopSeconds(api),
    );
    // The worker keeps its short drain (in-flight vLLM requests, then hand-back).
    expect(appConfigOf(objs, worker).shutdownGraceMs).toBeLessThan(apiConfig.shutdownGraceMs);
    for (const c of [api, worker])
      expect(appConfigOf(objs, c).http.keepAliveTimeoutMs / 1000).toBeGreaterThan(
        NGINX_UPSTREAM_KEEPALIVE_SECONDS,
      );
  });

  it('serves the queue board on the admin port through an internal Service, and routes the public paths', () => {
    expect(find(objs, 'Service', 'vllm-batch-admin')!.spec!.ports).toEqual([
      { name: 'admin', port: 4081, targetPort: 'admin', protocol: 'TCP' },
    ]);
    const ingresses = ofKind(objs, 'Ingress');
    expect(ingresses).toHaveLength(1);
    const paths = ingresses[0].spec!.rules!.flatMap((r) => r.http!.paths.map((p) => p.path));
    expect(paths).toEqual(expect.arrayContaining(['/v1', '/docs']));
  });
});

describe('k8s overlay specifics', () => {
  it('production: external Secret, s3, no shared volume, Prometheus Operator release label', () => {
    const objs = render('production');
    expect(find(objs, 'Secret', 'vllm-batch-secrets')).toBeUndefined();
    expect(ofKind(objs, 'PersistentVolumeClaim')).toEqual([]);
    expect(appConfigOf(objs, appContainer(objs, 'api')!).storageDriver).toBe('s3');
    expect(find(objs, 'ServiceMonitor', 'vllm-batch')!.metadata.labels).toMatchObject({
      release: 'kube-prometheus-stack',
    });
    expect(appContainer(objs, 'api')!.image).toBe('registry.example.com/vllm-batch:0.1.0');
  });

  it('production: a configuration change renames the ConfigMap in every app workload', () => {
    const configRefs = (objs: K8sObject[]) =>
      [...ofKind(objs, 'Deployment'), ...ofKind(objs, 'Job')]
        .flatMap((w) => containersOf(w).flatMap((c) => c.envFrom ?? []))
        .map((f) => f.configMapRef?.name);
    const before = render('production');
    const name = appConfigMap(before)!.metadata.name;
    expect(configRefs(before)).toEqual([name, name, name]);
    // An overlay on top of production that changes one value, as an operator's edit would.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'k8s-config-change-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'kustomization.yaml'),
        `resources: [${path.join(K8S, 'overlays', 'production')}]\npatches:\n  - patch: |-\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: vllm-batch-config}\n      data: {LOG_LEVEL: warn}\n`,
      );
      const after = renderKustomization(dir);
      const renamed = appConfigMap(after)!.metadata.name;
      expect(renamed).not.toBe(name);
      expect(configRefs(after)).toEqual([renamed, renamed, renamed]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('production: /metrics behind METRICS_AUTH_TOKEN on api and worker, sent by the ServiceMonitor', () => {
    const objs = render('production');
    for (const comp of ['api', 'worker']) {
      expect(effectiveEnv(objs, appContainer(objs, comp)!).get('METRICS_AUTH_TOKEN')).toEqual({
        source: 'secret',
        ref: { name: 'vllm-batch-secrets', key: 'METRICS_AUTH_TOKEN', optional: false },
      });
    }
    const endpoints = find(objs, 'ServiceMonitor', 'vllm-batch')!.spec.endpoints;
    expect(endpoints.map((ep) => ep.port).sort()).toEqual(['http', 'metrics']);
    // The example Secret documents the key (the overlay deletes the example, the base has it).
    const example = find(renderKustomization(path.join(K8S, 'base')), 'Secret', 'vllm-batch-secrets')!;
    expect(Object.keys(example.stringData!)).toContain('METRICS_AUTH_TOKEN');
  });

  it('production: the README lists every Secret key the pods read', () => {
    const readme = fs.readFileSync(path.join(K8S, 'README.md'), 'utf8');
    for (const key of referencedSecretKeys(render('production'))) expect(readme).toContain(key);
  });

  it('dev: in-cluster PostgreSQL, Redis and two simulator replicas found by DNS', () => {
    const objs = render('dev');
    const worker = effectiveEnv(objs, appContainer(objs, 'worker')!);
    expect(upstreamSource(worker)).toEqual({
      source: 'VLLM_DISCOVERY',
      value: 'dns:vllm-batch-simulator.vllm-batch-dev.svc.cluster.local:8000/v1',
    });
    const sims = find(objs, 'Deployment', 'vllm-batch-simulator')!;
    expect(sims.spec!.replicas).toBe(2);
    expect(find(objs, 'Service', 'vllm-batch-simulator')!.spec!.clusterIP).toBe('None');
    const data = find(objs, 'Secret', 'vllm-batch-secrets')!.stringData!;
    for (const [url, port] of [
      [new URL(data.DATABASE_URL), 5432],
      [new URL(data.REDIS_URL), 6379],
    ] as const) {
      expect(Number(url.port)).toBe(port);
      expect(find(objs, 'Service', url.hostname)!.spec!.ports).toContainEqual(
        expect.objectContaining({ port }),
      );
    }
    // Optional keys removed by the dev patch (null deletes a key).
    expect(data.VLLM_API_KEY).toBeUndefined();
    expect(Object.values(data).join(' ')).not.toContain('CHANGE-ME');
  });

  it('production: a GPU vLLM pool behind a headless Service, which the workers resolve', () => {
    const objs = render('production');
    const vllm = find(objs, 'Deployment', 'vllm')!;
    const [c] = containersOf(vllm, false);
    expect(c.image).toMatch(/^vllm\/vllm-openai:v\d/);
    expect(vllm.spec!.replicas).toBeGreaterThanOrEqual(2);
    expect(c.resources!.requests!['nvidia.com/gpu']).toBe(1);
    expect(c.command).toEqual(['vllm', 'serve']);
    // The model and its served name come from the container's env (overlays set them).
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
    expect(c.args!.slice(0, 3)).toEqual(['$(MODEL)', '--served-model-name', '$(SERVED_MODEL_NAME)']);
    expect(env.MODEL && env.SERVED_MODEL_NAME).toBeTruthy();
    expect(find(objs, 'Service', 'vllm')!.spec).toMatchObject({
      clusterIP: 'None',
      ports: [{ name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP' }],
    });
    expect(find(objs, 'PodDisruptionBudget', 'vllm')).toBeDefined();
    const worker = effectiveEnv(objs, appContainer(objs, 'worker')!);
    expect(upstreamSource(worker)).toEqual({
      source: 'VLLM_DISCOVERY',
      value: 'dns:vllm.vllm-batch.svc.cluster.local:8000/v1',
    });
    // The api never calls vLLM: no key for it.
    expect(effectiveEnv(objs, appContainer(objs, 'api')!).has('VLLM_API_KEY')).toBe(false);
  });

  it('external-vllm: production feeding one vLLM by URL, one line of configuration, no pool of its own', () => {
    const objs = render('external-vllm');
    const production = render('production');
    const ids = (o: K8sObject[]) =>
      o.map((x) => `${x.kind}/${x.metadata.name}`).filter((id) => !/ConfigMap/.test(id));
    const own = [
      'Deployment/vllm',
      'Service/vllm',
      'PodDisruptionBudget/vllm',
      'NetworkPolicy/vllm-from-workers',
    ];
    expect(ids(objs).sort()).toEqual(
      ids(production)
        .filter((id) => !own.includes(id))
        .sort(),
    );
    expect(upstreamSource(effectiveEnv(objs, appContainer(objs, 'worker')!))).toEqual({
      source: 'VLLM_BASE_URL',
      value: 'http://vllm.vllm.svc.cluster.local:8000/v1',
    });
    const config = appConfigMap(objs)!.data!;
    expect(Object.keys(config).filter((k) => UPSTREAM_SOURCES.includes(k))).toEqual(['VLLM_BASE_URL']);
  });

  it('upstreams-file: the ConfigMap mounted as a folder, unhashed so the workers follow its updates', () => {
    const objs = render('upstreams-file');
    const file = upstreamsFile(objs)!;
    expect(file.configMap).toBe('vllm-batch-upstreams');
    expect(file.endpoints.length).toBeGreaterThanOrEqual(2);
    expect(file.endpoints.map((e) => Object.keys(e)).flat()).toEqual(
      expect.arrayContaining(['url', 'api_key_env', 'models', 'max_inflight', 'metrics_url']),
    );
    const worker = appContainer(objs, 'worker')!;
    expect(worker.volumeMounts!.find((m) => m.name === file.volume)).toMatchObject({ readOnly: true });
    expect(worker.volumeMounts!.every((m) => m.subPath === undefined)).toBe(true);
    // The file's key variables come from the Secret, as references the pods resolve at start.
    const keys = new Set(file.endpoints.flatMap((e) => e.api_key_env ?? []));
    for (const k of keys) expect(effectiveEnv(objs, worker).get(k)?.ref?.name).toBe('vllm-batch-secrets');
    expect(upstreamSource(effectiveEnv(objs, worker)).source).toBe('UPSTREAMS_FILE');
  });

  it('README (k8s) names every overlay and every upstream source', () => {
    const readme = fs.readFileSync(path.join(K8S, 'README.md'), 'utf8');
    for (const name of Object.keys(OVERLAYS)) expect(readme).toContain(`overlays/${name}`);
    for (const k of UPSTREAM_SOURCES) expect(readme).toContain(k);
  });
});

describe('the manifest checks catch breakage', () => {
  const base = render('production');
  const api = (o: K8sObject[]) => appContainer(o, 'api')!;
  const worker = (o: K8sObject[]) => appContainer(o, 'worker')!;
  const envVar = (c: IContainer, name: string) => c.env!.find((e) => e.name === name)!;
  const config = (o: K8sObject[]) => appConfigMap(o)!.data!;
  const ingress = (o: K8sObject[]) => find(o, 'Ingress', 'vllm-batch')!;
  const nginx = (o: K8sObject[]) => ingress(o).metadata.annotations!;
  const paths = (o: K8sObject[]) => ingress(o).spec!.rules![0].http!.paths;
  const endpoints = (o: K8sObject[]) => find(o, 'ServiceMonitor', 'vllm-batch')!.spec.endpoints;
  const podSpec = (o: K8sObject[], comp: string) => podOf(appWorkload(o, comp)!);
  const NG = 'nginx.ingress.kubernetes.io';

  const cases: Array<[string, CheckName, (o: K8sObject[]) => unknown]> = [
    ['missing memory limit', 'resources', (o) => delete api(o).resources!.limits!.memory],
    [
      'cpu limit on the worker (throttling misses BullMQ lock renewals)',
      'resources',
      (o) => (worker(o).resources!.limits!.cpu = '2'),
    ],
    ['liveness on /ready', 'probes', (o) => (api(o).livenessProbe!.httpGet!.path = '/ready')],
    ['probe on an undeclared port', 'probes', (o) => (worker(o).readinessProbe!.httpGet!.port = 'http')],
    ['worker with APP_ROLE=api', 'roles', (o) => (envVar(worker(o), 'APP_ROLE').value = 'api')],
    [
      'literal DATABASE_URL',
      'secretEnv',
      (o) =>
        Object.assign(envVar(api(o), 'DATABASE_URL'), { valueFrom: undefined, value: 'postgres://u:p@db/x' }),
    ],
    [
      'literal METRICS_AUTH_TOKEN',
      'secretEnv',
      (o) => Object.assign(envVar(worker(o), 'METRICS_AUTH_TOKEN'), { valueFrom: undefined, value: 't' }),
    ],
    ['secret in the ConfigMap', 'secretEnv', (o) => (config(o).API_KEYS = 't:k')],
    ['unknown env var', 'envNames', (o) => worker(o).env!.push({ name: 'WORKER_INFLIGHT', value: '8' })],
    [
      'rendered Secret in production',
      'secretRefs',
      (o) => o.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vllm-batch-secrets' } }),
    ],
    [
      'PDB selecting nothing',
      'pdbs',
      (o) => (find(o, 'PodDisruptionBudget', 'vllm-batch-worker')!.spec!.selector!.matchLabels = { x: 'y' }),
    ],
    [
      'Service on an undeclared port',
      'services',
      (o) => (find(o, 'Service', 'vllm-batch-api')!.spec!.ports![0].targetPort = 8080),
    ],
    [
      'HPA on the worker',
      'hpa',
      (o) =>
        (find(o, 'HorizontalPodAutoscaler', 'vllm-batch-api')!.spec!.scaleTargetRef.name =
          'vllm-batch-worker'),
    ],
    [
      'api Deployment with fixed replicas',
      'hpa',
      (o) => ((appWorkload(o, 'api')!.spec as { replicas?: number }).replicas = 2),
    ],
    ['ServiceMonitor on a port no Service has', 'serviceMonitors', (o) => (endpoints(o)[1].port = 'prom')],
    [
      'ServiceMonitor endpoint without the metrics token',
      'metricsAuth',
      (o) => delete endpoints(o)[1].authorization,
    ],
    [
      'ServiceMonitor sending another Secret key',
      'metricsAuth',
      (o) => (endpoints(o)[0].authorization!.credentials!.key = 'API_KEYS'),
    ],
    ['no migration Job', 'migrations', (o) => o.splice(o.indexOf(appWorkload(o, 'migrate')!), 1)],
    [
      'migration Job replacing the image entrypoint (no heap cap)',
      'migrations',
      (o) => Object.assign(appContainer(o, 'migrate')!, { command: ['node'], args: undefined }),
    ],
    ['worker migrating', 'migrations', (o) => (envVar(worker(o), 'MIGRATIONS_RUN').value = 'true')],
    [
      'Deployment synced with the Job',
      'migrations',
      (o) => (appWorkload(o, 'api')!.metadata.annotations!['argocd.argoproj.io/sync-wave'] = '0'),
    ],
    ['grace period too short', 'timeouts', (o) => (podSpec(o, 'worker').terminationGracePeriodSeconds = 30)],
    [
      'termination grace below the api drain',
      'timeouts',
      (o) => (podSpec(o, 'api').terminationGracePeriodSeconds = 45),
    ],
    [
      "the api's drain shorter than an upload",
      'timeouts',
      (o) => (envVar(api(o), 'SHUTDOWN_GRACE_SECONDS').value = '30'),
    ],
    ["keep-alive below ingress-nginx's", 'timeouts', (o) => (config(o).HTTP_KEEPALIVE_TIMEOUT_MS = '5000')],
    [
      "the Ingress's read timeout back at nginx's 60 s",
      'timeouts',
      (o) => delete nginx(o)[`${NG}/proxy-read-timeout`],
    ],
    [
      'uploads buffered by the Ingress',
      'timeouts',
      (o) => (nginx(o)[`${NG}/proxy-request-buffering`] = 'on'),
    ],
    ['admin port not at ADMIN_PORT', 'adminSurface', (o) => (config(o).ADMIN_PORT = '9000')],
    [
      'admin Service exposing the public port too',
      'adminSurface',
      (o) => find(o, 'Service', 'vllm-batch-admin')!.spec!.ports!.push({ port: 4080, targetPort: 'http' }),
    ],
    ['local storage in production', 'storage', (o) => (config(o).STORAGE_DRIVER = 'local')],
    [
      'mount without volume',
      'volumes',
      (o) => api(o).volumeMounts!.push({ name: 'files', mountPath: '/app/data' }),
    ],
    [
      'writable root filesystem',
      'security',
      (o) => (worker(o).securityContext!.readOnlyRootFilesystem = false),
    ],
    ['unpinned image', 'images', (o) => (api(o).image = 'registry.example.com/vllm-batch:latest')],
    ['Ingress exposing /metrics', 'ingress', (o) => (paths(o)[0].path = '/metrics')],
    [
      'Ingress routing /admin/queues',
      'ingress',
      (o) => paths(o).push({ ...paths(o)[0], path: '/admin/queues' }),
    ],
    [
      'Ingress routing to the admin Service',
      'ingress',
      (o) =>
        paths(o).push({
          path: '/ops',
          pathType: 'Prefix',
          backend: { service: { name: 'vllm-batch-admin', port: { number: 4081 } } },
        }),
    ],
  ];

  it.each(cases)('%s', (_label, check, mutate) => {
    const objs = JSON.parse(JSON.stringify(base)) as K8sObject[];
    mutate(objs);
    expect(CHECKS[check](objs, production).length).toBeGreaterThan(0);
  });

  const vllm = (o: K8sObject[]) => containersOf(find(o, 'Deployment', 'vllm')!, false)[0];
  const discovery = (v: string) => (o: K8sObject[]) => (config(o).VLLM_DISCOVERY = v);
  const poolCases: Array<[string, CheckName, (o: K8sObject[]) => unknown]> = [
    ['discovery without /v1', 'upstreams', discovery('dns:vllm.vllm-batch.svc.cluster.local:8000')],
    ['discovery of a short name', 'upstreams', discovery('dns:vllm:8000/v1')],
    ['discovery in another namespace', 'upstreams', discovery('dns:vllm.other.svc.cluster.local:8000/v1')],
    [
      'discovery of a missing Service',
      'upstreams',
      discovery('dns:gpu.vllm-batch.svc.cluster.local:8000/v1'),
    ],
    ['discovery on the wrong port', 'upstreams', discovery('dns:vllm.vllm-batch.svc.cluster.local:8001/v1')],
    [
      'discovery of a ClusterIP Service',
      'upstreams',
      (o) => delete find(o, 'Service', 'vllm')!.spec!.clusterIP,
    ],
    ['a file winning over discovery', 'upstreams', (o) => (config(o).UPSTREAMS_FILE = '/etc/u.yaml')],
    ['vLLM without a GPU', 'vllm', (o) => delete vllm(o).resources!.limits!['nvidia.com/gpu']],
    ['vLLM with two GPUs', 'vllm', (o) => (vllm(o).resources!.requests!['nvidia.com/gpu'] = 2)],
    ['vLLM without a startup probe', 'vllm', (o) => delete vllm(o).startupProbe],
    ['vLLM probed elsewhere', 'vllm', (o) => (vllm(o).readinessProbe!.httpGet!.path = '/v1/models')],
    ['vLLM without a served model name', 'vllm', (o) => (vllm(o).args = ['$(MODEL)'])],
    ['vLLM on :latest', 'vllm', (o) => (vllm(o).image = 'vllm/vllm-openai:latest')],
    [
      'vLLM /dev/shm on disk',
      'vllm',
      (o) => delete podSpec2(o).volumes!.find((v) => v.name === 'dshm')!.emptyDir!.medium,
    ],
    ['vLLM without a memory limit', 'resources', (o) => delete vllm(o).resources!.limits!.memory],
    ['vLLM without probes', 'probes', (o) => delete vllm(o).livenessProbe],
  ];
  const podSpec2 = (o: K8sObject[]) => podOf(find(o, 'Deployment', 'vllm')!);

  it.each(poolCases)('%s', (_label, check, mutate) => {
    const objs = JSON.parse(JSON.stringify(base)) as K8sObject[];
    mutate(objs);
    expect(CHECKS[check](objs, production).length).toBeGreaterThan(0);
  });

  it('an upstreams file that is not mounted, subPath-mounted, invalid or holding a key', () => {
    const fileOverlay = OVERLAYS['upstreams-file'];
    const ok = render('upstreams-file');
    expect(CHECKS.upstreams(ok, fileOverlay)).toEqual([]);
    const cm = (o: K8sObject[]) => find(o, 'ConfigMap', 'vllm-batch-upstreams')!.data!;
    const w = (o: K8sObject[]) => worker(o);
    const mutations: Array<(o: K8sObject[]) => unknown> = [
      (o) => (w(o).volumeMounts!.find((m) => m.name === 'upstreams')!.subPath = 'upstreams.yaml'),
      (o) => (w(o).volumeMounts = w(o).volumeMounts!.filter((m) => m.name !== 'upstreams')),
      (o) => (cm(o)['upstreams.yaml'] = 'endpoints: []\n'),
      (o) => (cm(o)['upstreams.yaml'] = 'endpoints:\n  - url: http://a:8000\n'),
      (o) => (cm(o)['upstreams.yaml'] = 'endpoints:\n  - url: http://a:8000/v1\n    max_inflight: 0\n'),
      (o) => (cm(o)['upstreams.yaml'] = 'endpoints:\n  - url: http://a:8000/v1\n    api_key: sk-123\n'),
      (o) => (cm(o)['upstreams.yaml'] = 'endpoints:\n  - url: http://a:8000/v1\n    api_key_env: NOPE\n'),
      (o) => (cm(o)['upstreams.yaml'] = 'endpoints:\n  - url: http://a:8000/v1\n    model: x\n'),
    ];
    for (const [i, mutate] of mutations.entries()) {
      const objs = JSON.parse(JSON.stringify(ok)) as K8sObject[];
      mutate(objs);
      expect({ i, broken: CHECKS.upstreams(objs, fileOverlay).length > 0 }).toEqual({ i, broken: true });
    }
    // A key variable the file does not name is an unknown variable again.
    const objs = JSON.parse(JSON.stringify(ok)) as K8sObject[];
    cm(objs)['upstreams.yaml'] = 'endpoints:\n  - url: http://a:8000/v1\n';
    expect(CHECKS.envNames(objs)).toEqual([
      'Deployment/vllm-batch-worker/worker: unknown environment variable VLLM_API_KEY_LLAMA',
    ]);
  });

  it('a dev rendering with unshared local storage fails', () => {
    const objs = render('dev');
    const vol = podOf(appWorkload(objs, 'worker')!).volumes!.find((v) => v.name === 'files')!;
    vol.persistentVolumeClaim!.claimName = 'other';
    objs.push({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'other', namespace: 'vllm-batch-dev' },
    });
    expect(CHECKS.storage(objs, OVERLAYS.dev)).toEqual([
      'api and worker must share one files volume with local storage',
    ]);
  });
});
