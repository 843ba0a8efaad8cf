/**
 * Our policy for the rendered Kubernetes manifests (k8s/overlays/*). Field shapes, types and required
 * fields are Kubernetes' own schema's business (schemas.spec.ts, kubernetes-models); these are the
 * rules no schema knows. Each check returns its problems (empty = fine), so the spec can assert both
 * that the real overlays pass and that a deliberately broken copy fails.
 */
import type { ILabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type {
  IConfigMap,
  IContainer,
  IPodSpec,
  IResourceRequirements,
  ISecret,
  IService,
} from 'kubernetes-models/v1';
import { parse as parseYaml } from 'yaml';
import { AppConfig, loadConfig } from '../../src/platform/config/app-config';
import { isObject, K8sObject, parseImage, podSpecOf } from './kustomize';
import { breaks, failing } from './rules';

/** Every environment variable the app reads, recorded while app-config.ts loads (local and s3 storage). */
export const APP_ENV_NAMES = new Set<string>();
for (const s3 of [false, true]) {
  const env: Record<string, string> = { API_KEYS: 'tenant:0123456789abcdef' };
  if (s3) Object.assign(env, { STORAGE_DRIVER: 's3', S3_BUCKET: 'b' });
  loadConfig(new Proxy(env, { get: (e, k: string) => (APP_ENV_NAMES.add(k), e[k]) }));
}

/**
 * Variables that must come from a Secret (secretKeyRef/secretRef), never a literal or a ConfigMap.
 * REDIS_URL and ADMIN_USER are here by choice: a production Redis URL carries a password, and the
 * admin user name is half of a credential.
 */
export const SECRET_ENV_NAMES = new Set([
  ...['API_KEYS', 'DATABASE_URL', 'REDIS_URL', 'ADMIN_USER', 'ADMIN_PASSWORD', 'VLLM_API_KEY'],
  ...['S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'METRICS_AUTH_TOKEN', 'SECRETS_ENCRYPTION_KEY'],
]);
/** The Secret keys each app role cannot start without. */
const REQUIRED_SECRETS: Record<string, string[]> = {
  api: ['DATABASE_URL', 'REDIS_URL', 'API_KEYS'],
  worker: ['DATABASE_URL', 'REDIS_URL'],
  migrate: ['DATABASE_URL'],
};

/** The port each role's Service exposes. */
const ROLE_PORTS: Record<string, number> = { api: 4080, worker: 9464 };

/**
 * The platform's timeouts around the app (k8s/README.md, "Timeouts"). ingress-nginx's
 * upstream-keepalive-timeout is a controller setting (its ConfigMap, default 60 s) that no
 * manifest here carries.
 */
export const NGINX_UPSTREAM_KEEPALIVE_SECONDS = 60;
/**
 * The upload that must survive its api pod being stopped (rollout, scale-down, eviction):
 * 200 MB at 0.7 MB/s. The api's drain and the Ingress's timeouts are sized for it.
 */
export const SUPPORTED_UPLOAD_SECONDS = 300;

/** What each overlay is meant to be. */
export interface Overlay {
  namespace: string;
  storage: 'local' | 's3';
  externalSecret: boolean;
  serviceMonitor: boolean;
  /** Where the workers' vLLM replicas come from (the app's upstream source). */
  upstreams: 'discovery' | 'single' | 'file';
}

// ---------------------------------------------------------------------------
// typed access to the rendering

interface Kinds {
  Deployment: IDeployment;
  Service: IService;
  ConfigMap: IConfigMap;
  Secret: ISecret;
  Ingress: IIngress;
  PodDisruptionBudget: IPodDisruptionBudget;
  HorizontalPodAutoscaler: IHorizontalPodAutoscaler;
  ServiceMonitor: IServiceMonitor;
}
export type Of<K extends string> = (K extends keyof Kinds ? Omit<Kinds[K], 'metadata'> : unknown) & K8sObject;

export const ofKind = <K extends string>(objs: K8sObject[], kind: K) =>
  objs.filter((o) => o.kind === kind) as Array<Of<K>>;
export const find = <K extends string>(objs: K8sObject[], kind: K, name?: string) =>
  ofKind(objs, kind).find((o) => o.metadata.name === name);

const labelsOf = (o: K8sObject) => o.metadata.labels ?? {};
export const isApp = (o: K8sObject) => labelsOf(o)['app.kubernetes.io/name'] === 'vllm-batch';
export const component = (o: K8sObject) => labelsOf(o)['app.kubernetes.io/component'];
const isWorker = (o: K8sObject) => o.kind === 'Deployment' && component(o) === 'worker';

/** The app's generated ConfigMap, vllm-batch-config-<content hash>. */
export const appConfigMap = (objs: K8sObject[]) =>
  ofKind(objs, 'ConfigMap').find((c) => /^vllm-batch-config-[a-z0-9]{10}$/.test(c.metadata.name));

/** The workload of an app role: api, worker (Deployments) or migrate (the Job). */
export function appWorkload(objs: K8sObject[], comp: string): K8sObject | undefined {
  const kind = comp === 'migrate' ? 'Job' : 'Deployment';
  const found = objs.filter((o) => o.kind === kind && isApp(o) && component(o) === comp);
  return found.length === 1 ? found[0] : undefined;
}

export const podOf = (o: K8sObject) => (podSpecOf(o) ?? { containers: [] }) as unknown as IPodSpec;
export const containersOf = (o: K8sObject, withInit = true): IContainer[] => [
  ...((withInit && podOf(o).initContainers) || []),
  ...podOf(o).containers,
];
/** The (first) container of an app role. */
export function appContainer(objs: K8sObject[], comp: string): IContainer | undefined {
  const w = appWorkload(objs, comp);
  return w && containersOf(w, false)[0];
}

const templateLabels = (o: K8sObject) => (o as Of<'Deployment'>).spec?.template.metadata?.labels ?? {};
const matchLabels = (s: ILabelSelector | undefined) => (s?.matchExpressions ? undefined : s?.matchLabels);
function matches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}
const POD_OWNERS = ['Deployment', 'StatefulSet', 'DaemonSet'];
/** Pod-template owners whose pods a selector selects. */
const podOwners = (objs: K8sObject[], selector: Record<string, string> | undefined) =>
  objs.filter((o) => POD_OWNERS.includes(o.kind) && matches(selector, templateLabels(o)));
const declares = (c: IContainer, port: unknown) =>
  (c.ports ?? []).some((p) => (typeof port === 'string' ? p.name === port : p.containerPort === port));
/** Services whose selector selects a workload's pods. */
const servicesOf = (objs: K8sObject[], w: K8sObject | undefined) =>
  ofKind(objs, 'Service').filter((s) => w && matches(s.spec?.selector, templateLabels(w)));
/** Services a ServiceMonitor selects. */
const monitored = (objs: K8sObject[], sm: Of<'ServiceMonitor'>) =>
  ofKind(objs, 'Service').filter(
    (s) =>
      s.metadata.namespace === sm.metadata.namespace && matches(matchLabels(sm.spec.selector), labelsOf(s)),
  );
const annotation = (o: K8sObject | undefined, key: string) => o?.metadata.annotations?.[key];

export interface EnvSource {
  source: 'literal' | 'configMap' | 'secret' | 'other';
  value?: string;
  ref?: { name: string; key: string; optional: boolean };
}

/** The variables a container ends up with: envFrom first, env overriding. */
export function effectiveEnv(objs: K8sObject[], c: IContainer): Map<string, EnvSource> {
  const env = new Map<string, EnvSource>();
  const data = (kind: 'ConfigMap' | 'Secret', name?: string): Record<string, string> => {
    const o = find(objs, kind, name) as {
      data?: Record<string, string>;
      stringData?: Record<string, string>;
    };
    return { ...o?.data, ...o?.stringData };
  };
  for (const { prefix, configMapRef, secretRef: s } of c.envFrom ?? []) {
    if (prefix !== undefined) throw new Error('envFrom.prefix is not supported by the checks');
    for (const [k, value] of Object.entries(data('ConfigMap', configMapRef?.name)))
      env.set(k, { source: 'configMap', value });
    for (const key of Object.keys(data('Secret', s?.name)))
      env.set(key, { source: 'secret', ref: { name: s!.name!, key, optional: s!.optional === true } });
  }
  for (const { name, value, valueFrom } of c.env ?? []) {
    const s = valueFrom?.secretKeyRef;
    const m = valueFrom?.configMapKeyRef;
    if (!valueFrom) env.set(name, { source: 'literal', value: value ?? '' });
    else if (s)
      env.set(name, { source: 'secret', ref: { name: s.name!, key: s.key, optional: !!s.optional } });
    else if (m) env.set(name, { source: 'configMap', value: data('ConfigMap', m.name)[m.key] });
    else env.set(name, { source: 'other' });
  }
  return env;
}

/** What the app makes of a container's non-secret environment (defaults and parsing included). */
export function appConfigOf(objs: K8sObject[], c: IContainer): AppConfig {
  const env: Record<string, string> = {};
  for (const [name, src] of effectiveEnv(objs, c))
    if (src.source !== 'secret' && src.value !== undefined) env[name] = src.value;
  return loadConfig(env);
}

/** A container where it runs: its pod spec, and whether it is the app's. */
const place = (owner: K8sObject, c: IContainer) => ({
  owner,
  c,
  pod: podOf(owner),
  app: isApp(owner),
  res: c.resources ?? {},
  sc: c.securityContext ?? {},
  where: `${owner.kind}/${owner.metadata.name}/${c.name}`,
});
type Placed = ReturnType<typeof place>;
/** Every container of every pod-template owner. */
const allContainers = (objs: K8sObject[]): Placed[] =>
  objs.filter((o) => podSpecOf(o)).flatMap((owner) => containersOf(owner).map((c) => place(owner, c)));
/** Containers running the app image (the app roles and the simulator). */
function appImageContainers(objs: K8sObject[]): Placed[] {
  const image = appContainer(objs, 'api')?.image;
  return allContainers(objs).filter((x) => x.app || (image && x.c.image === image));
}

/** Each app role's container, its environment and (read only by the rules that need it) its configuration. */
function roles(objs: K8sObject[], comps = ['api', 'worker']) {
  return comps.flatMap((comp) => {
    const w = appWorkload(objs, comp);
    const c = appContainer(objs, comp);
    if (!w || !c) return [];
    const env = effectiveEnv(objs, c);
    return [
      {
        ...place(w, c),
        comp,
        w,
        env,
        where: comp,
        get config() {
          return appConfigOf(objs, c);
        },
      },
    ];
  });
}

const UNITS: Record<string, number> = { m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, Mi: 2 ** 20, Gi: 2 ** 30 };
/** A resource quantity as a number (the schema has checked its format). */
export function parseQuantity(q: unknown): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(q));
  return m && m[2] in UNITS ? Number(m[1]) * UNITS[m[2]] : NaN;
}
const aboveLimit = ({ requests: q = {}, limits: l = {} }: IResourceRequirements) =>
  ['cpu', 'memory'].some((k) => parseQuantity(q[k]) > parseQuantity(l[k]));

/** A container's preStop sleep, in seconds (exec `sleep N` or the native sleep action). */
export function preStopSeconds(c: IContainer): number {
  const ps = c.lifecycle?.preStop;
  return ps?.exec?.command?.[0] === 'sleep' ? Number(ps.exec.command[1]) : (ps?.sleep?.seconds ?? 0);
}
const probePorts = (c: IContainer) =>
  [c.livenessProbe, c.readinessProbe, c.startupProbe].flatMap(
    (p) => (p?.httpGet ?? p?.tcpSocket)?.port ?? [],
  );
const secretsFrom = (objs: K8sObject[], c: IContainer) => [...effectiveEnv(objs, c)].filter(([, s]) => s.ref);

/** Names of the Secret keys the app containers reference. */
export const referencedSecretKeys = (objs: K8sObject[]) =>
  new Set(appImageContainers(objs).flatMap(({ c }) => secretsFrom(objs, c).map(([, s]) => s.ref!.key)));

// ---------------------------------------------------------------------------
// the policy

const at = (x: { where: string }) => x.where;
const literal = (value: string): EnvSource => ({ source: 'literal', value });
const sameEnv = (a?: EnvSource, b?: EnvSource) => JSON.stringify(a) === JSON.stringify(b);
const named = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
const phase = (o: K8sObject | undefined) => o && labelsOf(o)['vllm-batch.io/phase'];
const wave = (o?: K8sObject) => Number(annotation(o, 'argocd.argoproj.io/sync-wave') ?? 0);
const nginx = (o: K8sObject, key: string) => annotation(o, `nginx.ingress.kubernetes.io/${key}`);

type Check = (objs: K8sObject[], overlay: Overlay) => string[];

export const CHECKS = {
  /** Namespaced objects are all in the overlay's namespace. */
  namespace: (objs, { namespace }) =>
    breaks(objs, named, {
      [`not in ${namespace}`]: (o) => o.kind !== 'Namespace' && o.metadata.namespace !== namespace,
    }),

  /**
   * Every container has cpu+memory requests and a memory limit, requests <= limits. Every container
   * but the worker's has a cpu limit; the worker must not: a throttled worker misses its BullMQ lock
   * renewals and its batches are taken as stalled.
   */
  resources: (objs) =>
    breaks(allContainers(objs), at, {
      'needs cpu and memory requests': ({ res }) => !(res.requests?.cpu && res.requests.memory),
      'needs a memory limit': ({ res }) => !res.limits?.memory,
      'needs a cpu limit': ({ owner, res }) => !isWorker(owner) && !res.limits?.cpu,
      'the worker must have no cpu limit': ({ owner, res }) => isWorker(owner) && res.limits?.cpu,
      'requests above limits': ({ res }) => aboveLimit(res),
    }),

  /** Deployment containers have liveness and readiness probes on declared ports; the app's on /health and /ready. */
  probes: (objs) =>
    breaks(allContainers(ofKind(objs, 'Deployment')), at, {
      'no livenessProbe': ({ c }) => !c.livenessProbe,
      'no readinessProbe': ({ c }) => !c.readinessProbe,
      'livenessProbe must be GET /health': ({ app, c }) =>
        app && c.livenessProbe?.httpGet?.path !== '/health',
      'readinessProbe must be GET /ready': ({ app, c }) =>
        app && c.readinessProbe?.httpGet?.path !== '/ready',
      'a probe on an undeclared port': ({ c }) => probePorts(c).some((port) => !declares(c, port)),
    }),

  /** Exactly one api and one worker Deployment, one container each, APP_ROLE literal, listening port declared. */
  roles: (objs) => [
    ...(ofKind(objs, 'Deployment').filter(isApp).map(component).sort().join() === 'api,worker'
      ? []
      : ['app Deployments must be exactly api and worker']),
    ...breaks(roles(objs), at, {
      'must have one container': ({ w }) => containersOf(w, false).length !== 1,
      'APP_ROLE must be its role, literally': ({ comp, env }) => !sameEnv(env.get('APP_ROLE'), literal(comp)),
      'PORT / METRICS_PORT is not declared': (x) =>
        !declares(x.c, x.comp === 'api' ? x.config.port : x.config.metricsPort),
    }),
  ],

  /** Secret-ish variables come only from Secrets; each role's required ones are required secretKeyRefs. */
  secretEnv: (objs) => [
    ...breaks(ofKind(objs, 'ConfigMap'), named, {
      'holds a secret': (cm) => Object.keys(cm.data ?? {}).some((k) => SECRET_ENV_NAMES.has(k)),
    }),
    ...breaks(appImageContainers(objs), at, {
      // The API server's own validation, which no schema states.
      'an env item needs one of value / valueFrom': ({ c }) => c.env?.some((e) => !e.value === !e.valueFrom),
      'a secret variable does not come from a Secret': ({ c }) =>
        [...effectiveEnv(objs, c)].some(([n, s]) => SECRET_ENV_NAMES.has(n) && s.source !== 'secret'),
    }),
    ...breaks(roles(objs, ['api', 'worker', 'migrate']), at, {
      'a required secret is optional or missing': (x) =>
        REQUIRED_SECRETS[x.comp].some((n) => x.env.get(n)?.ref?.optional !== false),
    }),
  ],

  /**
   * Every env name of an app container is one app-config.ts reads, or (worker) one the upstreams
   * file names as an endpoint's api_key_env; the simulator only uses SIM_*.
   */
  envNames: (objs) => {
    const keyEnvs = new Set(upstreamsFile(objs)?.endpoints.flatMap((e) => e.api_key_env ?? []));
    return appImageContainers(objs).flatMap(({ app, c, owner, where }) =>
      [...effectiveEnv(objs, c).keys()]
        .filter(
          (n) =>
            !(app ? APP_ENV_NAMES.has(n) || (isWorker(owner) && keyEnvs.has(n)) : /^SIM_[A-Z0-9_]+$/.test(n)),
        )
        .map((n) => `${where}: unknown environment variable ${n}`),
    );
  },

  /** secretKeyRefs: the rendered Secret has the key (unless optional); an external Secret is not rendered. */
  secretRefs: (objs, { externalSecret }) => {
    const refs = appImageContainers(objs).flatMap(({ c, where }) =>
      secretsFrom(objs, c).map(([, s]) => ({ where, ...s.ref! })),
    );
    const secret = (ref: (typeof refs)[number]) => find(objs, 'Secret', ref.name);
    return breaks(refs, (x) => `${x.where}: Secret ${x.name}`, {
      'must come from outside the overlay, is rendered': (x) => externalSecret && secret(x),
      'is not rendered': (x) => !externalSecret && !secret(x),
      'lacks a key': (x) =>
        secret(x) && !x.optional && !{ ...secret(x)!.data, ...secret(x)!.stringData }[x.key],
    });
  },

  /** PDBs select existing pods and cover api and worker. */
  pdbs: (objs) => {
    const pdbs = ofKind(objs, 'PodDisruptionBudget');
    const selected = (pdb: (typeof pdbs)[number]) => podOwners(objs, matchLabels(pdb.spec?.selector));
    return [
      ...breaks(pdbs, named, { 'selects no pods': (pdb) => selected(pdb).length === 0 }),
      ...breaks(roles(objs), at, {
        'no PodDisruptionBudget covers it': ({ w }) => !pdbs.some((p) => selected(p).includes(w)),
      }),
    ];
  },

  /** Workloads select their own template; Services select pods that declare their target ports; api and worker have one. */
  services: (objs) => {
    const targets = (s: Of<'Service'>) => (s.spec?.ports ?? []).map((p) => p.targetPort ?? p.port);
    const declared = (o: K8sObject, port: unknown) => containersOf(o, false).some((c) => declares(c, port));
    return [
      ...breaks(objs.filter((o) => POD_OWNERS.includes(o.kind)) as Array<Of<'Deployment'>>, named, {
        'selector does not match its template': (o) =>
          !matches(matchLabels(o.spec?.selector), templateLabels(o)),
      }),
      ...breaks(ofKind(objs, 'Service'), named, {
        'selects no pods': (s) => podOwners(objs, s.spec?.selector).length === 0,
        'targets an undeclared port': (s) =>
          podOwners(objs, s.spec?.selector).some((o) => targets(s).some((p) => !declared(o, p))),
      }),
      ...breaks(roles(objs), at, {
        'no Service exposes its port': (x) =>
          !servicesOf(objs, x.w).some((s) => s.spec?.ports?.some((p) => p.port === ROLE_PORTS[x.comp])),
      }),
    ];
  },

  /** One HPA, on cpu, targeting the api Deployment, which leaves its replica count to it. */
  hpa: (objs) => {
    const api = appWorkload(objs, 'api') as Of<'Deployment'> | undefined;
    const hpas = ofKind(objs, 'HorizontalPodAutoscaler');
    return [
      ...(hpas.length === 1 ? [] : [`expected one HorizontalPodAutoscaler, found ${hpas.length}`]),
      ...breaks(
        hpas.map((h) => ({ ...h.spec!, where: named(h), min: h.spec?.minReplicas ?? 1 })),
        at,
        {
          'must target the api Deployment': (x) =>
            x.scaleTargetRef.kind !== 'Deployment' || x.scaleTargetRef.name !== api?.metadata.name,
          'needs 1 <= minReplicas <= maxReplicas': (x) => !(1 <= x.min && x.min <= x.maxReplicas),
          'must scale on cpu': (x) =>
            !x.metrics?.some((m) => m.type === 'Resource' && m.resource?.name === 'cpu'),
        },
      ),
      ...breaks(api ? [api] : [], named, {
        'sets spec.replicas, which fights the HPA': (d) => d.spec?.replicas !== undefined,
      }),
    ];
  },

  /** ServiceMonitors select Services on ports they have, at /metrics; with the operator, api and worker are scraped. */
  serviceMonitors: (objs, { serviceMonitor }) => {
    const monitors = ofKind(objs, 'ServiceMonitor');
    const endpoints = monitors.flatMap((sm) =>
      sm.spec.endpoints.map((ep) => ({ sm, ep, where: `${named(sm)} ${ep.port}` })),
    );
    const scrapes = (x: (typeof endpoints)[number], s: Of<'Service'>) =>
      monitored(objs, x.sm).includes(s) && s.spec?.ports?.some((p) => p.name === x.ep.port);
    return [
      ...(monitors.length === (serviceMonitor ? 1 : 0)
        ? []
        : [`expected ${serviceMonitor ? 1 : 0} ServiceMonitor`]),
      ...breaks(monitors, named, { 'selects no Service': (sm) => monitored(objs, sm).length === 0 }),
      ...breaks(endpoints, at, {
        'path is not /metrics': ({ ep }) => (ep.path ?? '/metrics') !== '/metrics',
        'is on no selected Service': (x) => !ofKind(objs, 'Service').some((s) => scrapes(x, s)),
      }),
      ...breaks(serviceMonitor ? roles(objs) : [], at, {
        'no ServiceMonitor scrapes it': ({ w }) =>
          !servicesOf(objs, w).some((s) => endpoints.some((x) => scrapes(x, s))),
      }),
    ];
  },

  /**
   * Pods that require a metrics token (METRICS_AUTH_TOKEN from a Secret) are scraped with exactly that
   * token: every ServiceMonitor endpoint reaching them sends the same Secret key as its bearer token,
   * else Prometheus only collects 401s.
   */
  metricsAuth: (objs) => {
    const reached = ofKind(objs, 'ServiceMonitor').flatMap((sm) =>
      sm.spec.endpoints.flatMap((ep) =>
        monitored(objs, sm)
          .filter((s) => s.spec?.ports?.some((p) => p.name === ep.port))
          .flatMap((s) => podOwners(objs, s.spec?.selector))
          .map((owner) => ({
            where: `${named(sm)} port ${ep.port} (${owner.metadata.name})`,
            sent: ep.authorization?.credentials ?? ep.bearerTokenSecret,
            token: effectiveEnv(objs, containersOf(owner, false)[0] ?? {}).get('METRICS_AUTH_TOKEN'),
          })),
      ),
    );
    return breaks(reached, at, {
      'METRICS_AUTH_TOKEN must come from a Secret': ({ token }) => token && !token.ref,
      "does not send the pods' metrics token": ({ token: t, sent }) =>
        t?.ref && (sent?.name !== t.ref.name || sent?.key !== t.ref.key),
    });
  },

  /**
   * Migrations: one Job running dist/src/migrate.js (as args, so that the image's entrypoint, the heap
   * cap, stays in front) with the app image; the Deployments set MIGRATIONS_RUN=false; Argo CD
   * ordering (config wave < Job wave < Deployment wave); everything the Job needs exists and carries
   * the pre-deploy label for the plain-kubectl two-step apply.
   */
  migrations: (objs) => {
    const [job] = roles(objs, ['migrate']);
    if (!job) return ['no migration Job (app.kubernetes.io/component=migrate)'];
    const hook = (key: string) => annotation(job.w, `argocd.argoproj.io/${key}`);
    // What the Job needs: its ConfigMaps, the Secrets it reads that the overlay renders, its ServiceAccount.
    const needs = new Set([
      ...(job.c.envFrom ?? []).flatMap((f) => (f.configMapRef ? [`ConfigMap/${f.configMapRef.name}`] : [])),
      ...secretsFrom(objs, job.c).flatMap(([, s]) =>
        find(objs, 'Secret', s.ref!.name) ? [`Secret/${s.ref!.name}`] : [],
      ),
      ...(job.pod.serviceAccountName ? [`ServiceAccount/${job.pod.serviceAccountName}`] : []),
    ]);
    const needed = (id: string) => find(objs, id.split('/')[0], id.split('/')[1]);
    return [
      ...breaks([job], () => 'migration Job', {
        'must have one container': ({ w }) => containersOf(w, false).length !== 1,
        'must run args node dist/src/migrate.js, no command': ({ c }) =>
          c.command || c.args?.join(' ') !== 'node dist/src/migrate.js',
        'must use the api image': ({ c }) => c.image !== appContainer(objs, 'api')?.image,
        'needs restartPolicy Never or OnFailure': ({ pod }) =>
          !['Never', 'OnFailure'].includes(String(pod.restartPolicy)),
        'must be an Argo CD Sync hook': () => hook('hook') !== 'Sync',
        'must be recreated on each sync': () => hook('hook-delete-policy') !== 'BeforeHookCreation',
        'needs the label vllm-batch.io/phase=pre-deploy': ({ w }) => phase(w) !== 'pre-deploy',
      }),
      ...breaks(roles(objs), at, {
        'must set MIGRATIONS_RUN=false': ({ config }) => config.migrationsRun,
        'must sync after the migration Job': ({ w }) => !(wave(w) > wave(job.w)),
      }),
      ...breaks([...needs], (id) => `${id}, which the migration Job needs`, {
        'is not rendered': (id) => !needed(id),
        'needs the label vllm-batch.io/phase=pre-deploy': (id) =>
          needed(id) && phase(needed(id)) !== 'pre-deploy',
        'must sync before the Job': (id) => needed(id) && !(wave(needed(id)) < wave(job.w)),
      }),
    ];
  },

  /**
   * Timeouts that fit the platform: pods get more termination grace than their drain (plus a preStop
   * sleep); app processes keep idle connections open longer than ingress-nginx keeps them pooled; the
   * api drains long enough for the supported upload and its own upload deadline allows it; the
   * Ingress's proxy timeouts (ingress-nginx default 60 s when unset) are never shorter, and uploads
   * stream through.
   */
  timeouts: (objs) => {
    const seconds = (ms: number) => ms / 1000;
    const upload = SUPPORTED_UPLOAD_SECONDS;
    return [
      ...breaks(roles(objs), at, {
        'terminationGracePeriodSeconds must exceed SHUTDOWN_GRACE_SECONDS + preStop': ({ pod, c, config }) =>
          !((pod.terminationGracePeriodSeconds ?? 30) > seconds(config.shutdownGraceMs) + preStopSeconds(c)),
        "keep-alive must exceed ingress-nginx's": ({ config }) =>
          !(seconds(config.http.keepAliveTimeoutMs) > NGINX_UPSTREAM_KEEPALIVE_SECONDS),
        'SHUTDOWN_GRACE_SECONDS cuts uploads on rollouts': (x) =>
          x.comp === 'api' && seconds(x.config.shutdownGraceMs) < upload,
        'UPLOAD_TIMEOUT_SECONDS is below the supported upload': (x) =>
          x.comp === 'api' && seconds(x.config.http.uploadTimeoutMs) < upload,
      }),
      ...breaks(ofKind(objs, 'Ingress'), named, {
        'proxy-read-timeout is below the supported upload': (ing) =>
          !(Number(nginx(ing, 'proxy-read-timeout') ?? 60) >= upload),
        'proxy-send-timeout is below the supported upload': (ing) =>
          !(Number(nginx(ing, 'proxy-send-timeout') ?? 60) >= upload),
        'uploads must stream through (proxy-request-buffering off)': (ing) =>
          nginx(ing, 'proxy-request-buffering') !== 'off',
      }),
    ];
  },

  /**
   * The admin surface (the queue board, which can retry and delete jobs): the api declares its
   * `admin` port at ADMIN_PORT, and an internal ClusterIP Service exposes exactly that port, unscraped.
   */
  adminSurface: (objs) => {
    const svc = find(objs, 'Service', 'vllm-batch-admin');
    return breaks(roles(objs, ['api']), () => 'admin surface', {
      'port "admin" must be ADMIN_PORT': ({ c, config }) =>
        c.ports?.find((p) => p.name === 'admin')?.containerPort !== config.adminPort,
      'no Service vllm-batch-admin': () => !svc,
      'its Service must be ClusterIP': () => svc && (svc.spec?.type ?? 'ClusterIP') !== 'ClusterIP',
      'its Service must select the api pods': ({ w }) => svc && !servicesOf(objs, w).includes(svc),
      'its Service must expose only the admin port': () =>
        svc && svc.spec?.ports?.map((p) => p.targetPort).join() !== 'admin',
      'its Service must not be scraped': () => svc && labelsOf(svc)['vllm-batch.io/metrics'] !== undefined,
    });
  },

  /** Storage: s3 needs bucket+region+credentials from the Secret; local needs one claim shared by api and worker. */
  storage: (objs, { storage }) => {
    const s3 = storage === 's3';
    const apps = roles(objs).map((x) => {
      const dir = x.config.storageDir;
      const mount = x.c.volumeMounts?.find((m) => dir === m.mountPath || dir.startsWith(`${m.mountPath}/`));
      return {
        ...x,
        claim: x.pod.volumes?.find((v) => v.name === mount?.name)?.persistentVolumeClaim?.claimName,
      };
    });
    return [
      ...breaks(apps, at, {
        [`STORAGE_DRIVER must be ${storage}`]: ({ config }) => config.storageDriver !== storage,
        'S3_BUCKET and S3_REGION must be set': ({ env }) =>
          s3 && !(env.get('S3_BUCKET')?.value && env.get('S3_REGION')?.value),
        'S3 credentials must come from the Secret': ({ env }) =>
          s3 && !(env.get('S3_ACCESS_KEY_ID')?.ref && env.get('S3_SECRET_ACCESS_KEY')?.ref),
        'STORAGE_DIR must be on a PersistentVolumeClaim': ({ claim }) => !s3 && !claim,
      }),
      ...(!s3 && new Set(apps.map((x) => x.claim)).size > 1
        ? ['api and worker must share one files volume with local storage']
        : []),
      ...(s3 && ofKind(objs, 'PersistentVolumeClaim').some(isApp)
        ? ['no app PersistentVolumeClaim is needed with s3']
        : []),
    ];
  },

  /** Volumes have one source (the API server's rule, not the schema's), mounts name declared volumes, claims exist. */
  volumes: (objs) => {
    const volumes = objs.flatMap((o) =>
      (podOf(o).volumes ?? []).map((v) => ({ v, where: `${named(o)} ${v.name}` })),
    );
    return [
      ...breaks(volumes, at, {
        'needs exactly one source': ({ v }) => Object.keys(v).length !== 2,
        'claims what is not rendered': ({ v }) =>
          v.persistentVolumeClaim && !find(objs, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName),
      }),
      ...breaks(allContainers(objs), at, {
        'mounts an undeclared volume': ({ c, pod }) =>
          c.volumeMounts?.some((m) => !pod.volumes?.some((v) => v.name === m.name)),
      }),
    ];
  },

  /** App-image pods: non-root, read-only root filesystem, no privilege escalation, /tmp on an emptyDir, no API token. */
  security: (objs) =>
    breaks(appImageContainers(objs), at, {
      'must run as non-root': ({ pod }) =>
        pod.securityContext?.runAsNonRoot !== true || pod.securityContext.runAsUser === 0,
      'automountServiceAccountToken must be false': ({ pod }) => pod.automountServiceAccountToken !== false,
      'readOnlyRootFilesystem must be true': ({ sc }) => sc.readOnlyRootFilesystem !== true,
      'allowPrivilegeEscalation must be false': ({ sc }) => sc.allowPrivilegeEscalation !== false,
      '/tmp must be an emptyDir': ({ c, pod }) =>
        !pod.volumes?.find((v) => v.name === c.volumeMounts?.find((m) => m.mountPath === '/tmp')?.name)
          ?.emptyDir,
    }),

  /** App-image containers use one image, pinned by tag (not :latest) or digest. */
  images: (objs) => {
    const placed = appImageContainers(objs).map((x) => ({ ...x, ...parseImage(String(x.c.image)) }));
    return breaks(placed, at, {
      'image needs a pinned tag or digest': ({ tag, digest }) => !digest && (!tag || tag === 'latest'),
      'app containers must share one image': ({ c }) => c.image !== placed[0].c.image,
    });
  },

  /**
   * Ingress backends exist; internal paths and the admin surface (a path under /admin, or a backend
   * on the admin port) are not routed. An internal Ingress for the board belongs in an operator's own
   * overlay, with its own allowlist (k8s/README.md, "Admin access").
   */
  ingress: (objs) => {
    const ingresses = ofKind(objs, 'Ingress');
    const paths = ingresses.flatMap((ing) =>
      (ing.spec?.rules ?? [])
        .flatMap((r) => r.http?.paths ?? [])
        .map(({ path = '', backend: { service: to } }) => {
          const ports = find(objs, 'Service', to?.name)?.spec?.ports;
          const port = ports?.find((p) =>
            to?.port?.name ? p.name === to.port.name : p.port === to?.port?.number,
          );
          return { ing, where: `${named(ing)} ${path}`, path, ports, port };
        }),
    );
    return [
      ...breaks(ingresses, named, { 'routes nothing': (ing) => !paths.some((p) => p.ing === ing) }),
      ...breaks(paths, at, {
        'routes an internal path': ({ path }) => ['/', '/metrics', '/health', '/ready'].includes(path),
        'routes the admin surface': ({ path }) => /^\/admin(\/|$)/.test(path),
        'backend Service does not exist': ({ ports }) => !ports,
        'backend port is not on the Service': ({ ports, port }) => ports && !port,
        'routes the admin port': ({ port }) => port && (port.targetPort === 'admin' || port.name === 'admin'),
      }),
    ];
  },

  /**
   * The workers' upstream source is the overlay's, and it points at something real: a DNS name is
   * the FQDN of a headless Service of this namespace on its port, whose pods declare it; an
   * upstreams file is a mounted folder of a rendered ConfigMap holding valid endpoints, whose key
   * variables come from the Secret; a single URL is an http(s) base URL ending in /v1.
   */
  upstreams: (objs, { upstreams, namespace }) => {
    const [worker] = roles(objs, ['worker']);
    if (!worker) return ['no worker'];
    const { source, value } = upstreamSource(worker.env);
    const expected = { discovery: 'VLLM_DISCOVERY', single: 'VLLM_BASE_URL', file: 'UPSTREAMS_FILE' }[
      upstreams
    ];
    const dns = /^dns:([a-z0-9.-]+):(\d+)(\/v1)?$/.exec(value ?? '');
    const host = dns?.[1] ?? '';
    const [svcName, svcNs, ...rest] = host.split('.');
    const svc = find(objs, 'Service', svcName);
    const port = Number(dns?.[2]);
    const file = upstreamsFile(objs);
    return [
      ...failing({
        [`the workers' upstream source must be ${expected}, is ${source}`]: () => source !== expected,
        'the api must not read the upstreams file': () =>
          (appContainer(objs, 'api')?.volumeMounts ?? []).some((m) => m.name === file?.volume),
      }),
      ...(source === 'VLLM_DISCOVERY'
        ? failing({
            'VLLM_DISCOVERY must be dns:<fqdn>:<port>/v1': () => !dns || !dns[3],
            [`its name must be <service>.${namespace}.svc.cluster.local`]: () =>
              svcNs !== namespace || rest.join('.') !== 'svc.cluster.local',
            'its Service must be rendered and headless (clusterIP: None)': () =>
              svc?.spec?.clusterIP !== 'None',
            'its Service must expose the port': () => !svc?.spec?.ports?.some((p) => p.port === port),
            "its Service's pods must listen on the port": () =>
              !podOwners(objs, svc?.spec?.selector).some((o) =>
                containersOf(o, false).some((c) => (c.ports ?? []).some((p) => p.containerPort === port)),
              ),
          })
        : []),
      ...(source === 'VLLM_BASE_URL'
        ? failing({
            'VLLM_BASE_URL must be an http(s) URL ending in /v1': () =>
              !/^https?:\/\/[^/]+\/v1\/?$/.test(value ?? ''),
          })
        : []),
      ...(source === 'UPSTREAMS_FILE'
        ? [
            ...failing({
              'UPSTREAMS_FILE must be in a folder mounted from a rendered ConfigMap (no subPath)': () =>
                !file,
              'the upstreams file must list endpoints': () => !file?.endpoints.length,
            }),
            ...breaks(file?.endpoints ?? [], (e) => `upstreams file endpoint ${String(e.url)}`, {
              'url must be an http(s) base URL ending in /v1': (e) =>
                !/^https?:\/\/[^/]+\/v1\/?$/.test(String(e.url)),
              'unknown field': (e) =>
                Object.keys(e).some(
                  (k) =>
                    !['url', 'api_key', 'api_key_env', 'models', 'max_inflight', 'metrics_url'].includes(k),
                ),
              'max_inflight must be a positive integer': (e) =>
                e.max_inflight !== undefined &&
                !(Number.isInteger(e.max_inflight) && Number(e.max_inflight) > 0),
              'models must be a list of names': (e) =>
                e.models !== undefined &&
                !(Array.isArray(e.models) && e.models.every((m) => typeof m === 'string' && m)),
              'api_key_env must be set on the worker from a Secret': (e) =>
                e.api_key_env !== undefined && !worker.env.get(e.api_key_env)?.ref,
              'api_key in a ConfigMap: name a Secret variable with api_key_env': (e) =>
                e.api_key !== undefined,
            }),
          ]
        : []),
    ];
  },

  /**
   * vLLM replicas (vllm/vllm-openai): a pinned image, one GPU requested and limited, a served model
   * name, the probes on /health (a startup probe for the model's loading), and /dev/shm on a memory
   * emptyDir (a container's 64 MB is too small).
   */
  vllm: (objs) =>
    breaks(
      allContainers(objs).filter((x) => /^vllm\/vllm-openai[:@]/.test(String(x.c.image))),
      at,
      {
        'image needs a pinned tag or digest': ({ c }) => {
          const { tag, digest } = parseImage(String(c.image));
          return !digest && (!tag || tag === 'latest');
        },
        'must request and limit nvidia.com/gpu: 1': ({ res }) =>
          String(res.requests?.['nvidia.com/gpu']) !== '1' || String(res.limits?.['nvidia.com/gpu']) !== '1',
        'needs --served-model-name': ({ c }) => !(c.args ?? []).includes('--served-model-name'),
        'startup, readiness and liveness probes must be GET /health': ({ c }) =>
          [c.startupProbe, c.readinessProbe, c.livenessProbe].some((p) => p?.httpGet?.path !== '/health'),
        '/dev/shm must be a memory emptyDir': ({ c, pod }) =>
          pod.volumes?.find((v) => v.name === c.volumeMounts?.find((m) => m.mountPath === '/dev/shm')?.name)
            ?.emptyDir?.medium !== 'Memory',
      },
    ),
} satisfies Record<string, Check>;

/** The upstream sources the app reads, in the order it picks the first one set. */
export const UPSTREAM_SOURCES = ['UPSTREAMS_FILE', 'VLLM_DISCOVERY', 'VLLM_ENDPOINTS', 'VLLM_BASE_URL'];

/** The source a container's environment selects, and its value (VLLM_BASE_URL's default when none). */
export function upstreamSource(env: Map<string, EnvSource>): { source: string; value?: string } {
  const source = UPSTREAM_SOURCES.find((k) => (env.get(k)?.value ?? '').trim() !== '') ?? 'VLLM_BASE_URL';
  return { source, value: env.get(source)?.value?.trim() };
}

export interface UpstreamEndpoint {
  url?: unknown;
  api_key?: unknown;
  api_key_env?: string;
  models?: unknown;
  max_inflight?: unknown;
  metrics_url?: unknown;
}

/**
 * The worker's upstreams file as the pods see it: UPSTREAMS_FILE inside a folder mounted (without
 * subPath) from a rendered ConfigMap that has the file's key. Undefined when not so.
 */
export function upstreamsFile(
  objs: K8sObject[],
): { volume: string; configMap: string; endpoints: UpstreamEndpoint[] } | undefined {
  const w = appWorkload(objs, 'worker');
  const c = appContainer(objs, 'worker');
  const file = c && effectiveEnv(objs, c).get('UPSTREAMS_FILE')?.value;
  if (!w || !c || !file) return undefined;
  const mount = c.volumeMounts?.find(
    (m) => !m.subPath && file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`),
  );
  const name = mount && podOf(w).volumes?.find((v) => v.name === mount.name)?.configMap?.name;
  const key = mount && file.slice(mount.mountPath.replace(/\/$/, '').length + 1);
  const data = name && key ? find(objs, 'ConfigMap', name)?.data?.[key] : undefined;
  if (!mount || !name || data === undefined) return undefined;
  const doc = parseYaml(data) as unknown;
  const endpoints =
    isObject(doc as never) && Array.isArray((doc as { endpoints?: unknown }).endpoints)
      ? ((doc as { endpoints: unknown[] }).endpoints.filter((e) =>
          isObject(e as never),
        ) as UpstreamEndpoint[])
      : [];
  return { volume: mount.name, configMap: name, endpoints };
}
