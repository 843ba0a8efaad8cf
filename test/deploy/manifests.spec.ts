/**
 * Renders k8s/overlays/{dev,production} with the in-repo kustomize renderer
 * (no kubectl/kustomize binary) and asserts the deployment invariants.
 * The last block breaks copies of the rendering on purpose to prove that
 * each check can fail.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isObject, Json, JsonObject, K8sObject, podSpecOf, renderKustomization } from './kustomize';
import * as checks from './manifest-checks';
import { appConfigMap, appWorkload, containersOf, effectiveEnv, find, ofKind } from './manifest-checks';

const ROOT = path.resolve(__dirname, '..', '..');
const K8S = path.join(ROOT, 'k8s');

const overlays = {
  dev: {
    namespace: 'vllm-batch-dev',
    storage: 'local' as const,
    externalSecret: false,
    serviceMonitor: false,
  },
  production: { namespace: 'vllm-batch', storage: 's3' as const, externalSecret: true, serviceMonitor: true },
};

function render(name: keyof typeof overlays): K8sObject[] {
  return renderKustomization(path.join(K8S, 'overlays', name));
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

describe('k8s base', () => {
  it('renders on its own', () => {
    const objs = renderKustomization(path.join(K8S, 'base'));
    expect(objs.length).toBeGreaterThan(10);
    // The base leaves the namespace to the overlays.
    expect(objs.filter((o) => o.metadata.namespace !== undefined)).toEqual([]);
  });
});

describe.each(Object.keys(overlays) as Array<keyof typeof overlays>)('k8s overlay %s', (name) => {
  const cfg = overlays[name];
  let objs: K8sObject[];

  beforeAll(() => {
    objs = render(name);
  });

  it('puts every namespaced object in its namespace', () => {
    expect(checks.checkNamespace(objs, cfg.namespace)).toEqual([]);
  });

  it('gives every Deployment/Job container cpu and memory requests and a memory limit, the worker no cpu limit', () => {
    expect(checks.checkResources(objs)).toEqual([]);
  });

  it('probes liveness on /health and readiness on /ready, on declared ports', () => {
    expect(checks.checkProbes(objs)).toEqual([]);
    const worker = appWorkload(objs, 'Deployment', 'worker');
    const probe = containersOf(worker!, false)[0].readinessProbe as JsonObject;
    expect(probe).toMatchObject({ httpGet: { path: '/ready', port: 'metrics' } });
  });

  it('runs APP_ROLE=api on the api Deployment and APP_ROLE=worker on the worker one', () => {
    expect(checks.checkRoles(objs)).toEqual([]);
  });

  it('takes secret-ish variables from Secrets only', () => {
    expect(checks.checkSecretEnv(objs)).toEqual([]);
  });

  it('uses only environment variables of the run contract', () => {
    expect(checks.checkEnvNames(objs)).toEqual([]);
  });

  it(cfg.externalSecret ? 'expects the Secret from outside' : 'renders the Secret keys it refers to', () => {
    expect(checks.checkSecretRefs(objs, cfg.externalSecret)).toEqual([]);
  });

  it('has PodDisruptionBudgets that select existing pods', () => {
    expect(checks.checkPdbs(objs)).toEqual([]);
  });

  it('has Services that select existing pods and target declared ports', () => {
    expect(checks.checkServices(objs)).toEqual([]);
    expect(checks.checkSelectors(objs)).toEqual([]);
  });

  it('autoscales the api Deployment on cpu', () => {
    expect(checks.checkHpa(objs)).toEqual([]);
  });

  it(
    cfg.serviceMonitor
      ? 'scrapes api and worker with a ServiceMonitor'
      : 'has no ServiceMonitor (no operator CRDs)',
    () => {
      expect(checks.checkServiceMonitors(objs, cfg.serviceMonitor)).toEqual([]);
      expect(ofKind(objs, 'ServiceMonitor')).toHaveLength(cfg.serviceMonitor ? 1 : 0);
    },
  );

  it('scrapes with the metrics token the pods require', () => {
    expect(checks.checkMetricsAuth(objs)).toEqual([]);
  });

  it('migrates in a Job, ordered before the Deployments, which set MIGRATIONS_RUN=false', () => {
    expect(checks.checkMigrations(objs)).toEqual([]);
  });

  it('gives pods more termination grace than SHUTDOWN_GRACE_SECONDS', () => {
    expect(checks.checkGracePeriods(objs)).toEqual([]);
  });

  it('keeps timeouts that fit the platform: keep-alive above nginx, a drain and proxy timeouts for uploads', () => {
    expect(checks.checkTimeouts(objs)).toEqual([]);
    // The relations, as k8s/README.md ("Timeouts") states them, on the rendered values.
    const api = containersOf(appWorkload(objs, 'Deployment', 'api')!, false)[0];
    const worker = containersOf(appWorkload(objs, 'Deployment', 'worker')!, false)[0];
    const apiConfig = checks.appConfigOf(objs, api);
    const preStop = checks.preStopSeconds(api);
    expect(preStop).toBeGreaterThan(0);
    const apiPod = podSpecOf(appWorkload(objs, 'Deployment', 'api')!)!;
    expect(apiConfig.shutdownGraceMs / 1000).toBeGreaterThanOrEqual(checks.SUPPORTED_UPLOAD_SECONDS);
    expect(Number(apiPod.terminationGracePeriodSeconds)).toBeGreaterThan(
      apiConfig.shutdownGraceMs / 1000 + preStop,
    );
    // The worker keeps its short drain (in-flight vLLM requests, then hand-back).
    expect(checks.appConfigOf(objs, worker).shutdownGraceMs).toBeLessThan(apiConfig.shutdownGraceMs);
    for (const c of [api, worker])
      expect(checks.appConfigOf(objs, c).http.keepAliveTimeoutMs / 1000).toBeGreaterThan(
        checks.NGINX_UPSTREAM_KEEPALIVE_SECONDS,
      );
  });

  it('serves the queue board on the admin port through an internal Service only', () => {
    expect(checks.checkAdminSurface(objs)).toEqual([]);
    const svc = find(objs, 'Service', 'vllm-batch-admin')!;
    expect((svc.spec as JsonObject).ports).toEqual([
      { name: 'admin', port: 4081, targetPort: 'admin', protocol: 'TCP' },
    ]);
    const paths = ofKind(objs, 'Ingress').flatMap((ing) =>
      ((ing.spec as JsonObject).rules as JsonObject[]).flatMap((r) =>
        ((r.http as JsonObject).paths as JsonObject[]).map((p) => String(p.path)),
      ),
    );
    expect(paths.filter((p) => p.startsWith('/admin'))).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining(['/v1', '/docs']));
  });

  it(`stores files with STORAGE_DRIVER=${cfg.storage}`, () => {
    expect(checks.checkStorage(objs, cfg.storage)).toEqual([]);
  });

  it('declares every volume it mounts', () => {
    expect(checks.checkVolumes(objs)).toEqual([]);
  });

  it('runs app containers non-root with a read-only root filesystem', () => {
    expect(checks.checkSecurity(objs)).toEqual([]);
  });

  it('runs one pinned app image everywhere', () => {
    expect(checks.checkImages(objs)).toEqual([]);
  });

  it('routes only public paths through the Ingress', () => {
    expect(checks.checkIngress(objs)).toEqual([]);
    expect(ofKind(objs, 'Ingress')).toHaveLength(1);
  });
});

describe('k8s overlay specifics', () => {
  it('production: external Secret, s3, no shared volume, Prometheus Operator release label', () => {
    const objs = render('production');
    expect(find(objs, 'Secret', 'vllm-batch-secrets')).toBeUndefined();
    expect(ofKind(objs, 'PersistentVolumeClaim')).toEqual([]);
    const api = appWorkload(objs, 'Deployment', 'api')!;
    expect(effectiveEnv(objs, containersOf(api, false)[0]).get('STORAGE_DRIVER')).toMatchObject({
      value: 's3',
    });
    expect(find(objs, 'ServiceMonitor', 'vllm-batch')!.metadata.labels).toMatchObject({
      release: 'kube-prometheus-stack',
    });
    expect(containersOf(api, false)[0].image).toBe('registry.example.com/vllm-batch:0.1.0');
  });

  it('production: a configuration change renames the ConfigMap in every app workload', () => {
    const configRefs = (objs: K8sObject[]) =>
      ofKind(objs, 'Deployment')
        .concat(ofKind(objs, 'Job'))
        .flatMap((w) => containersOf(w).flatMap((c) => (c.envFrom as JsonObject[]) ?? []))
        .map((f) => (f.configMapRef as JsonObject).name);
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
      const c = containersOf(appWorkload(objs, 'Deployment', comp)!, false)[0];
      expect(effectiveEnv(objs, c).get('METRICS_AUTH_TOKEN')).toEqual({
        source: 'secret',
        ref: { name: 'vllm-batch-secrets', key: 'METRICS_AUTH_TOKEN', optional: false },
      });
    }
    const endpoints = (find(objs, 'ServiceMonitor', 'vllm-batch')!.spec as JsonObject)
      .endpoints as JsonObject[];
    expect(endpoints.map((ep) => ep.port).sort()).toEqual(['http', 'metrics']);
    // The example Secret documents the key (the overlay deletes the example, the base has it).
    const example = find(renderKustomization(path.join(K8S, 'base')), 'Secret', 'vllm-batch-secrets')!;
    expect(Object.keys(example.stringData as JsonObject)).toContain('METRICS_AUTH_TOKEN');
  });

  it('production: the README lists every Secret key the pods read', () => {
    const readme = fs.readFileSync(path.join(K8S, 'README.md'), 'utf8');
    for (const key of checks.referencedSecretKeys(render('production'))) expect(readme).toContain(key);
  });

  it('dev: in-cluster PostgreSQL, Redis and the simulator as upstream', () => {
    const objs = render('dev');
    const worker = appWorkload(objs, 'Deployment', 'worker')!;
    const env = effectiveEnv(objs, containersOf(worker, false)[0]);
    const upstream = new URL(env.get('VLLM_BASE_URL')!.value!);
    const sim = find(objs, 'Service', upstream.hostname);
    expect(sim).toBeDefined();
    expect((sim!.spec as JsonObject).ports).toEqual(
      expect.arrayContaining([expect.objectContaining({ port: Number(upstream.port) })]),
    );
    const secret = find(objs, 'Secret', 'vllm-batch-secrets')!;
    const data = secret.stringData as Record<string, string>;
    for (const [key, svcPort] of [
      ['DATABASE_URL', 5432],
      ['REDIS_URL', 6379],
    ] as const) {
      const u = new URL(data[key]);
      const svc = find(objs, 'Service', u.hostname);
      expect(svc).toBeDefined();
      expect(Number(u.port)).toBe(svcPort);
    }
    // Optional keys removed by the dev patch (null deletes a key).
    expect(data.VLLM_API_KEY).toBeUndefined();
    expect(Object.values(data).join(' ')).not.toContain('CHANGE-ME');
  });
});

describe('the manifest checks catch breakage', () => {
  let base: K8sObject[];
  beforeAll(() => {
    base = render('production');
  });

  function broken(mutate: (objs: K8sObject[]) => void): K8sObject[] {
    const objs = clone(base);
    mutate(objs);
    return objs;
  }
  const api = (objs: K8sObject[]) => containersOf(appWorkload(objs, 'Deployment', 'api')!, false)[0];
  const worker = (objs: K8sObject[]) => containersOf(appWorkload(objs, 'Deployment', 'worker')!, false)[0];
  const envList = (c: JsonObject) => c.env as JsonObject[];
  const ingressPaths = (objs: K8sObject[]) =>
    (((find(objs, 'Ingress', 'vllm-batch')!.spec as JsonObject).rules as JsonObject[])[0].http as JsonObject)
      .paths as JsonObject[];

  const cases: Array<[string, (objs: K8sObject[]) => string[], (objs: K8sObject[]) => void]> = [
    [
      'missing memory limit',
      checks.checkResources,
      (o) => {
        delete ((api(o).resources as JsonObject).limits as JsonObject).memory;
      },
    ],
    [
      'cpu limit on the worker (throttling misses BullMQ lock renewals)',
      checks.checkResources,
      (o) => {
        ((worker(o).resources as JsonObject).limits as JsonObject).cpu = '2';
      },
    ],
    [
      'liveness on /ready',
      checks.checkProbes,
      (o) => {
        ((api(o).livenessProbe as JsonObject).httpGet as JsonObject).path = '/ready';
      },
    ],
    [
      'probe on an undeclared port',
      checks.checkProbes,
      (o) => {
        ((worker(o).readinessProbe as JsonObject).httpGet as JsonObject).port = 'http';
      },
    ],
    [
      'worker with APP_ROLE=api',
      checks.checkRoles,
      (o) => {
        envList(worker(o)).find((e) => e.name === 'APP_ROLE')!.value = 'api';
      },
    ],
    [
      'literal DATABASE_URL',
      checks.checkSecretEnv,
      (o) => {
        const e = envList(api(o)).find((x) => x.name === 'DATABASE_URL')!;
        delete e.valueFrom;
        e.value = 'postgres://u:p@db/x';
      },
    ],
    [
      'secret in the ConfigMap',
      checks.checkSecretEnv,
      (o) => {
        (appConfigMap(o)!.data as JsonObject).API_KEYS = 't:k';
      },
    ],
    [
      'unknown env var',
      checks.checkEnvNames,
      (o) => {
        envList(worker(o)).push({ name: 'WORKER_INFLIGHT', value: '8' });
      },
    ],
    [
      'rendered Secret in production',
      (o) => checks.checkSecretRefs(o, true),
      (o) => {
        o.push({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'vllm-batch-secrets', namespace: 'vllm-batch' },
          stringData: {},
        });
      },
    ],
    [
      'PDB selecting nothing',
      checks.checkPdbs,
      (o) => {
        (
          (find(o, 'PodDisruptionBudget', 'vllm-batch-worker')!.spec as JsonObject).selector as JsonObject
        ).matchLabels = {
          'app.kubernetes.io/component': 'gpu-worker',
        };
      },
    ],
    [
      'Service on an undeclared port',
      checks.checkServices,
      (o) => {
        ((find(o, 'Service', 'vllm-batch-api')!.spec as JsonObject).ports as JsonObject[])[0].targetPort =
          8080;
      },
    ],
    [
      'HPA on the worker',
      checks.checkHpa,
      (o) => {
        (
          (find(o, 'HorizontalPodAutoscaler', 'vllm-batch-api')!.spec as JsonObject)
            .scaleTargetRef as JsonObject
        ).name = 'vllm-batch-worker';
      },
    ],
    [
      'api Deployment with fixed replicas',
      checks.checkHpa,
      (o) => {
        (appWorkload(o, 'Deployment', 'api')!.spec as JsonObject).replicas = 2;
      },
    ],
    [
      'ServiceMonitor on a port no Service has',
      (o) => checks.checkServiceMonitors(o, true),
      (o) => {
        ((find(o, 'ServiceMonitor', 'vllm-batch')!.spec as JsonObject).endpoints as JsonObject[])[1].port =
          'prom';
      },
    ],
    [
      'ServiceMonitor endpoint without the metrics token',
      checks.checkMetricsAuth,
      (o) => {
        delete ((find(o, 'ServiceMonitor', 'vllm-batch')!.spec as JsonObject).endpoints as JsonObject[])[1]
          .authorization;
      },
    ],
    [
      'ServiceMonitor sending another Secret key than the pods read',
      checks.checkMetricsAuth,
      (o) => {
        const ep = (
          (find(o, 'ServiceMonitor', 'vllm-batch')!.spec as JsonObject).endpoints as JsonObject[]
        )[0];
        ((ep.authorization as JsonObject).credentials as JsonObject).key = 'API_KEYS';
      },
    ],
    [
      'literal METRICS_AUTH_TOKEN',
      checks.checkSecretEnv,
      (o) => {
        const e = envList(worker(o)).find((x) => x.name === 'METRICS_AUTH_TOKEN')!;
        delete e.valueFrom;
        e.value = 'token';
      },
    ],
    [
      'no migration Job',
      checks.checkMigrations,
      (o) => {
        o.splice(
          o.findIndex((x) => x.kind === 'Job'),
          1,
        );
      },
    ],
    [
      'migration Job replacing the image entrypoint (no heap cap)',
      checks.checkMigrations,
      (o) => {
        const job = containersOf(appWorkload(o, 'Job', 'migrate')!, false)[0];
        job.command = job.args as Json;
        delete job.args;
      },
    ],
    [
      'worker migrating',
      checks.checkMigrations,
      (o) => {
        envList(worker(o)).find((e) => e.name === 'MIGRATIONS_RUN')!.value = 'true';
      },
    ],
    [
      'Deployment synced with the Job',
      checks.checkMigrations,
      (o) => {
        appWorkload(o, 'Deployment', 'api')!.metadata.annotations!['argocd.argoproj.io/sync-wave'] = '0';
      },
    ],
    [
      'grace period too short',
      checks.checkGracePeriods,
      (o) => {
        podSpecOf(appWorkload(o, 'Deployment', 'worker')!)!.terminationGracePeriodSeconds = 30;
      },
    ],
    [
      "the api's drain shorter than an upload",
      checks.checkTimeouts,
      (o) => {
        envList(api(o)).find((e) => e.name === 'SHUTDOWN_GRACE_SECONDS')!.value = '30';
      },
    ],
    [
      'termination grace below the api drain',
      checks.checkGracePeriods,
      (o) => {
        podSpecOf(appWorkload(o, 'Deployment', 'api')!)!.terminationGracePeriodSeconds = 45;
      },
    ],
    [
      "keep-alive below ingress-nginx's",
      checks.checkTimeouts,
      (o) => {
        (appConfigMap(o)!.data as JsonObject).HTTP_KEEPALIVE_TIMEOUT_MS = '5000';
      },
    ],
    [
      "the Ingress's read timeout back at nginx's 60 s",
      checks.checkTimeouts,
      (o) => {
        delete find(o, 'Ingress', 'vllm-batch')!.metadata.annotations![
          'nginx.ingress.kubernetes.io/proxy-read-timeout'
        ];
      },
    ],
    [
      'uploads buffered by the Ingress',
      checks.checkTimeouts,
      (o) => {
        find(o, 'Ingress', 'vllm-batch')!.metadata.annotations![
          'nginx.ingress.kubernetes.io/proxy-request-buffering'
        ] = 'on';
      },
    ],
    [
      'admin port not at ADMIN_PORT',
      checks.checkAdminSurface,
      (o) => {
        (appConfigMap(o)!.data as JsonObject).ADMIN_PORT = '9000';
      },
    ],
    [
      'admin Service exposing the public port too',
      checks.checkAdminSurface,
      (o) => {
        ((find(o, 'Service', 'vllm-batch-admin')!.spec as JsonObject).ports as JsonObject[]).push({
          name: 'http',
          port: 4080,
          targetPort: 'http',
        });
      },
    ],
    [
      'local storage in production',
      (o) => checks.checkStorage(o, 's3'),
      (o) => {
        (appConfigMap(o)!.data as JsonObject).STORAGE_DRIVER = 'local';
      },
    ],
    [
      'mount without volume',
      checks.checkVolumes,
      (o) => {
        (api(o).volumeMounts as JsonObject[]).push({ name: 'files', mountPath: '/app/data' });
      },
    ],
    [
      'writable root filesystem',
      checks.checkSecurity,
      (o) => {
        (worker(o).securityContext as JsonObject).readOnlyRootFilesystem = false;
      },
    ],
    [
      'unpinned image',
      checks.checkImages,
      (o) => {
        api(o).image = 'registry.example.com/vllm-batch:latest';
      },
    ],
    [
      'Ingress exposing /metrics',
      checks.checkIngress,
      (o) => {
        const ing = find(o, 'Ingress', 'vllm-batch')!;
        (
          (((ing.spec as JsonObject).rules as JsonObject[])[0].http as JsonObject).paths as JsonObject[]
        )[0].path = '/metrics';
      },
    ],
    [
      'Ingress routing /admin/queues',
      checks.checkIngress,
      (o) => {
        ingressPaths(o).push({
          path: '/admin/queues',
          pathType: 'Prefix',
          backend: { service: { name: 'vllm-batch-api', port: { name: 'http' } } },
        });
      },
    ],
    [
      'Ingress routing to the admin Service',
      checks.checkIngress,
      (o) => {
        ingressPaths(o).push({
          path: '/ops',
          pathType: 'Prefix',
          backend: { service: { name: 'vllm-batch-admin', port: { number: 4081 } } },
        });
      },
    ],
  ];

  it('the unbroken production rendering passes every check', () => {
    for (const [, check] of cases) expect(check(base)).toEqual([]);
  });

  it.each(cases)('%s', (_label, check, mutate) => {
    expect(check(broken(mutate)).length).toBeGreaterThan(0);
  });

  it('a dev rendering with unshared local storage fails', () => {
    const objs = render('dev');
    const pod = podSpecOf(appWorkload(objs, 'Deployment', 'worker')!)!;
    const vol = (pod.volumes as JsonObject[]).find((v) => v.name === 'files')!;
    (vol.persistentVolumeClaim as JsonObject).claimName = 'other';
    objs.push({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'other', namespace: 'vllm-batch-dev' },
    });
    expect(checks.checkStorage(objs, 'local')).toEqual([
      'api and worker must share one files volume with local storage',
    ]);
    expect(isObject(vol)).toBe(true);
  });
});
