/**
 * Invariants of the rendered Kubernetes manifests (k8s/overlays/*).
 *
 * Each check takes the rendered objects and returns a list of problems
 * (empty = fine), so the spec can assert both that the real overlays pass and
 * that a deliberately broken copy fails.
 */
import { AppConfig, loadConfig } from '../../src/platform/config/app-config';
import { isObject, Json, JsonObject, K8sObject, parseImage, podSpecOf } from './kustomize';

/** Every environment variable name the app reads (its run contract). */
export const APP_ENV_NAMES = new Set([
  'PORT',
  'DATABASE_URL',
  'REDIS_URL',
  'VLLM_BASE_URL',
  'VLLM_API_KEY',
  'VLLM_METRICS_URL',
  'WEBHOOKS',
  'WEBHOOK_SECRET',
  'STORAGE_DRIVER',
  'STORAGE_DIR',
  'S3_ENDPOINT',
  'S3_BUCKET',
  'S3_REGION',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'S3_FORCE_PATH_STYLE',
  'API_KEYS',
  'ADMIN_USER',
  'ADMIN_PASSWORD',
  'APP_ROLE',
  'LOG_LEVEL',
  'TRUST_PROXY',
  'METRICS_PORT',
  'METRICS_AUTH_TOKEN',
  'WORKER_CONCURRENCY_MODE',
  'WORKER_MAX_INFLIGHT',
  'WORKER_MIN_INFLIGHT',
  'WORKER_FIXED_INFLIGHT',
  'SHUTDOWN_GRACE_SECONDS',
  'MIGRATIONS_RUN',
  'ADMIN_PORT',
  'HTTP_KEEPALIVE_TIMEOUT_MS',
  'UPLOAD_TIMEOUT_SECONDS',
  'DATABASE_POOL_MAX',
]);

/**
 * Variables that must come from a Secret (secretKeyRef/secretRef), never a
 * literal or a ConfigMap. REDIS_URL and ADMIN_USER are here by choice: a
 * production Redis URL carries a password, and the admin user name is half
 * of a credential.
 */
export const SECRET_ENV_NAMES = new Set([
  'API_KEYS',
  'DATABASE_URL',
  'REDIS_URL',
  'ADMIN_USER',
  'ADMIN_PASSWORD',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'VLLM_API_KEY',
  'METRICS_AUTH_TOKEN',
]);

const APP_NAME = 'vllm-batch';
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob']);

// ---------------------------------------------------------------------------
// helpers

export function ofKind(objs: K8sObject[], kind: string): K8sObject[] {
  return objs.filter((o) => o.kind === kind);
}

export function find(objs: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objs.find((o) => o.kind === kind && o.metadata.name === name);
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function labelsOf(o: K8sObject): Record<string, string> {
  return o.metadata.labels ?? {};
}

/** The app's generated ConfigMap, vllm-batch-config-<content hash>. */
export function appConfigMap(objs: K8sObject[]): K8sObject | undefined {
  return ofKind(objs, 'ConfigMap').find((c) => /^vllm-batch-config-[a-z0-9]{10}$/.test(c.metadata.name));
}

export function isApp(o: K8sObject): boolean {
  return labelsOf(o)['app.kubernetes.io/name'] === APP_NAME;
}

export function component(o: K8sObject): string | undefined {
  return labelsOf(o)['app.kubernetes.io/component'];
}

export function appWorkload(objs: K8sObject[], kind: string, comp: string): K8sObject | undefined {
  const found = objs.filter((o) => o.kind === kind && isApp(o) && component(o) === comp);
  return found.length === 1 ? found[0] : undefined;
}

export function containersOf(o: K8sObject, withInit = true): JsonObject[] {
  const pod = podSpecOf(o);
  if (!pod) return [];
  const lists = withInit ? ['initContainers', 'containers'] : ['containers'];
  return lists.flatMap((f) => (Array.isArray(pod[f]) ? (pod[f] as Json[]).filter(isObject) : []));
}

function templateLabels(o: K8sObject): Record<string, string> {
  const spec = o.spec;
  if (isObject(spec) && isObject(spec.template) && isObject(spec.template.metadata)) {
    const l = spec.template.metadata.labels;
    if (isObject(l)) return l as Record<string, string>;
  }
  return {};
}

function matchLabelsOf(selector: Json | undefined): Record<string, string> | undefined {
  if (!isObject(selector)) return undefined;
  if (selector.matchExpressions !== undefined) return undefined; // not used in k8s/
  const ml = isObject(selector.matchLabels) ? selector.matchLabels : selector;
  return ml as Record<string, string>;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** Pod-template owners (Deployments, StatefulSets, ...) whose pods a selector selects. */
function podOwnersSelectedBy(objs: K8sObject[], selector: Record<string, string>): K8sObject[] {
  return objs.filter(
    (o) =>
      ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind) && matches(selector, templateLabels(o)),
  );
}

function declaredPorts(c: JsonObject): Array<{ name?: string; containerPort: number }> {
  return (Array.isArray(c.ports) ? c.ports : [])
    .filter(isObject)
    .map((p) => ({ name: str(p.name), containerPort: Number(p.containerPort) }));
}

function portDeclared(c: JsonObject, port: Json | undefined): boolean {
  return declaredPorts(c).some((p) =>
    typeof port === 'string' ? p.name === port : p.containerPort === port,
  );
}

function podPortDeclared(o: K8sObject, port: Json | undefined): boolean {
  return containersOf(o, false).some((c) => portDeclared(c, port));
}

export interface EnvSource {
  source: 'literal' | 'configMap' | 'secret' | 'other';
  value?: string;
  ref?: { name: string; key: string; optional: boolean };
}

/** The variables a container ends up with: envFrom first, env overriding. */
export function effectiveEnv(objs: K8sObject[], c: JsonObject): Map<string, EnvSource> {
  const env = new Map<string, EnvSource>();
  for (const from of Array.isArray(c.envFrom) ? c.envFrom : []) {
    if (!isObject(from)) continue;
    if (from.prefix !== undefined) throw new Error('envFrom.prefix is not supported by the checks');
    if (isObject(from.configMapRef)) {
      const cm = find(objs, 'ConfigMap', String(from.configMapRef.name));
      const data = cm && isObject(cm.data) ? cm.data : {};
      for (const [k, v] of Object.entries(data)) env.set(k, { source: 'configMap', value: String(v) });
    }
    if (isObject(from.secretRef)) {
      const name = String(from.secretRef.name);
      const s = find(objs, 'Secret', name);
      const keys = s
        ? [
            ...Object.keys(isObject(s.data) ? s.data : {}),
            ...Object.keys(isObject(s.stringData) ? s.stringData : {}),
          ]
        : [];
      for (const k of keys)
        env.set(k, { source: 'secret', ref: { name, key: k, optional: from.secretRef.optional === true } });
    }
  }
  for (const e of Array.isArray(c.env) ? c.env : []) {
    if (!isObject(e) || typeof e.name !== 'string') continue;
    if (e.valueFrom === undefined) {
      env.set(e.name, { source: 'literal', value: e.value === undefined ? '' : String(e.value) });
    } else if (isObject(e.valueFrom) && isObject(e.valueFrom.secretKeyRef)) {
      const r = e.valueFrom.secretKeyRef;
      env.set(e.name, {
        source: 'secret',
        ref: { name: String(r.name), key: String(r.key), optional: r.optional === true },
      });
    } else if (isObject(e.valueFrom) && isObject(e.valueFrom.configMapKeyRef)) {
      const r = e.valueFrom.configMapKeyRef;
      const cm = find(objs, 'ConfigMap', String(r.name));
      const v = cm && isObject(cm.data) ? cm.data[String(r.key)] : undefined;
      env.set(e.name, { source: 'configMap', value: v === undefined ? undefined : String(v) });
    } else {
      env.set(e.name, { source: 'other' });
    }
  }
  return env;
}

function envValue(objs: K8sObject[], c: JsonObject, name: string): string | undefined {
  const e = effectiveEnv(objs, c).get(name);
  return e && e.source !== 'secret' ? e.value : undefined;
}

/** Containers running the app image (the app roles and the simulator). */
function appImageContainers(objs: K8sObject[]): Array<{ owner: K8sObject; c: JsonObject; where: string }> {
  const api = appWorkload(objs, 'Deployment', 'api');
  const image = api ? str(containersOf(api, false)[0]?.image) : undefined;
  return objs
    .filter((o) => WORKLOAD_KINDS.has(o.kind))
    .flatMap((owner) =>
      containersOf(owner).map((c) => ({
        owner,
        c,
        where: `${owner.kind}/${owner.metadata.name}/${String(c.name)}`,
      })),
    )
    .filter(({ owner, c }) => isApp(owner) || (image !== undefined && c.image === image));
}

const QUANTITY_UNITS: Record<string, number> = {
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

export function parseQuantity(q: Json | undefined): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(q));
  if (!m) return NaN;
  const unit = m[2] === '' ? 1 : QUANTITY_UNITS[m[2]];
  return unit === undefined ? NaN : Number(m[1]) * unit;
}

// ---------------------------------------------------------------------------
// checks

/**
 * Every Deployment/StatefulSet/DaemonSet/Job container has cpu+memory requests and a memory limit,
 * requests <= limits. Every container but the worker also has a cpu limit; the worker must not: a
 * throttled worker misses its BullMQ lock renewals and its batches are taken as stalled.
 */
export function checkResources(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objs.filter((x) => WORKLOAD_KINDS.has(x.kind))) {
    const isWorker =
      o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === 'worker';
    for (const c of containersOf(o)) {
      const where = `${o.kind}/${o.metadata.name}/${String(c.name)}`;
      const r = isObject(c.resources) ? c.resources : {};
      for (const kind of ['requests', 'limits']) {
        const block = r[kind];
        for (const res of ['cpu', 'memory']) {
          const v = isObject(block) ? block[res] : undefined;
          if (kind === 'limits' && res === 'cpu' && isWorker) {
            if (v !== undefined) problems.push(`${where}: the worker must have no cpu limit`);
          } else if (v === undefined || Number.isNaN(parseQuantity(v))) {
            problems.push(`${where}: no valid resources.${kind}.${res}`);
          }
        }
      }
      if (isObject(r.requests) && isObject(r.limits)) {
        for (const res of ['cpu', 'memory']) {
          if (r.limits[res] === undefined) continue;
          if (parseQuantity(r.requests[res]) > parseQuantity(r.limits[res])) {
            problems.push(`${where}: ${res} request above its limit`);
          }
        }
      }
    }
  }
  return problems;
}

/**
 * App Deployments: liveness on GET /health and readiness on GET /ready, on a
 * port the container declares. Any other Deployment container: some liveness
 * and readiness probe, httpGet/tcpSocket ports declared.
 */
export function checkProbes(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of ofKind(objs, 'Deployment')) {
    for (const c of containersOf(o, false)) {
      const where = `Deployment/${o.metadata.name}/${String(c.name)}`;
      const app = isApp(o);
      const want: Record<string, string | undefined> = {
        livenessProbe: app ? '/health' : undefined,
        readinessProbe: app ? '/ready' : undefined,
      };
      for (const [probeName, path] of Object.entries(want)) {
        const probe = c[probeName];
        if (!isObject(probe)) {
          problems.push(`${where}: no ${probeName}`);
          continue;
        }
        if (path !== undefined) {
          if (!isObject(probe.httpGet) || probe.httpGet.path !== path) {
            problems.push(`${where}: ${probeName} must be httpGet ${path}`);
          }
        }
      }
      for (const probeName of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const probe = c[probeName];
        if (!isObject(probe)) continue;
        const action = isObject(probe.httpGet)
          ? probe.httpGet
          : isObject(probe.tcpSocket)
            ? probe.tcpSocket
            : undefined;
        if (action && !portDeclared(c, action.port)) {
          problems.push(
            `${where}: ${probeName} port ${String(action.port)} is not a declared container port`,
          );
        }
      }
    }
  }
  return problems;
}

/** Exactly one api and one worker Deployment, with APP_ROLE api / worker and ports matching PORT / METRICS_PORT. */
export function checkRoles(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  const appDeployments = ofKind(objs, 'Deployment').filter(isApp);
  const comps = appDeployments.map(component).sort();
  if (JSON.stringify(comps) !== JSON.stringify(['api', 'worker'])) {
    problems.push(`app Deployments must be exactly api and worker, found ${JSON.stringify(comps)}`);
  }
  for (const [comp, role, portVar, defaultPort] of [
    ['api', 'api', 'PORT', '4080'],
    ['worker', 'worker', 'METRICS_PORT', '9464'],
  ] as const) {
    const d = appWorkload(objs, 'Deployment', comp);
    if (!d) continue;
    const cs = containersOf(d, false);
    if (cs.length !== 1) {
      problems.push(`${comp} Deployment must have one container`);
      continue;
    }
    const env = effectiveEnv(objs, cs[0]).get('APP_ROLE');
    if (!env || env.source !== 'literal' || env.value !== role) {
      problems.push(`${comp} Deployment: APP_ROLE must be the literal "${role}", is ${JSON.stringify(env)}`);
    }
    const port = Number(envValue(objs, cs[0], portVar) ?? defaultPort);
    if (!portDeclared(cs[0], port))
      problems.push(`${comp} Deployment: ${portVar}=${port} is not a declared containerPort`);
  }
  return problems;
}

/** Secret-ish variables only from Secrets; required ones present; env items well formed. */
export function checkSecretEnv(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const cm of ofKind(objs, 'ConfigMap')) {
    for (const key of Object.keys(isObject(cm.data) ? cm.data : {})) {
      if (SECRET_ENV_NAMES.has(key)) problems.push(`ConfigMap/${cm.metadata.name} holds secret ${key}`);
    }
  }
  for (const { c, where } of appImageContainers(objs)) {
    for (const e of Array.isArray(c.env) ? c.env : []) {
      if (!isObject(e)) continue;
      if ((e.value !== undefined) === (e.valueFrom !== undefined)) {
        problems.push(`${where}: env ${String(e.name)} needs exactly one of value / valueFrom`);
      }
    }
    for (const [name, src] of effectiveEnv(objs, c)) {
      if (SECRET_ENV_NAMES.has(name) && src.source !== 'secret') {
        problems.push(`${where}: ${name} must come from a Secret, comes from ${src.source}`);
      }
    }
  }
  const required: Array<[string, string, string[]]> = [
    ['Deployment', 'api', ['DATABASE_URL', 'REDIS_URL', 'API_KEYS']],
    ['Deployment', 'worker', ['DATABASE_URL', 'REDIS_URL']],
    ['Job', 'migrate', ['DATABASE_URL']],
  ];
  for (const [kind, comp, names] of required) {
    const w = appWorkload(objs, kind, comp);
    if (!w) continue;
    const env = effectiveEnv(objs, containersOf(w, false)[0] ?? {});
    for (const n of names) {
      const e = env.get(n);
      if (!e || e.source !== 'secret' || e.ref?.optional)
        problems.push(`${kind} ${comp}: ${n} must be a required secretKeyRef`);
    }
  }
  return problems;
}

/** Every env name of an app container is in the contract; the simulator only uses SIM_*. */
export function checkEnvNames(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const { owner, c, where } of appImageContainers(objs)) {
    const simulator = !isApp(owner);
    for (const name of effectiveEnv(objs, c).keys()) {
      const ok = simulator ? /^SIM_[A-Z0-9_]+$/.test(name) : APP_ENV_NAMES.has(name);
      if (!ok) problems.push(`${where}: unknown environment variable ${name}`);
    }
  }
  return problems;
}

/** secretKeyRefs: rendered Secret has the key (unless optional); or, with `externalSecret`, no Secret rendered at all. */
export function checkSecretRefs(objs: K8sObject[], externalSecret: boolean): string[] {
  const problems: string[] = [];
  for (const { c, where } of appImageContainers(objs)) {
    for (const [name, src] of effectiveEnv(objs, c)) {
      if (src.source !== 'secret' || !src.ref) continue;
      const secret = find(objs, 'Secret', src.ref.name);
      if (externalSecret) {
        if (secret)
          problems.push(
            `${where}: Secret ${src.ref.name} must come from outside the overlay, but it is rendered`,
          );
        continue;
      }
      if (!secret) {
        problems.push(`${where}: ${name} refers to missing Secret ${src.ref.name}`);
        continue;
      }
      const keys = new Set([
        ...Object.keys(isObject(secret.data) ? secret.data : {}),
        ...Object.keys(isObject(secret.stringData) ? secret.stringData : {}),
      ]);
      if (!keys.has(src.ref.key) && !src.ref.optional)
        problems.push(`${where}: Secret ${src.ref.name} has no key ${src.ref.key}`);
    }
  }
  return problems;
}

/** Names of the Secret keys the app containers reference. */
export function referencedSecretKeys(objs: K8sObject[]): Set<string> {
  const keys = new Set<string>();
  for (const { c } of appImageContainers(objs)) {
    for (const src of effectiveEnv(objs, c).values()) if (src.ref) keys.add(src.ref.key);
  }
  return keys;
}

/** PDBs exist for api and worker and select existing pods. */
export function checkPdbs(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  const covered = new Set<string>();
  for (const pdb of ofKind(objs, 'PodDisruptionBudget')) {
    const sel = matchLabelsOf(isObject(pdb.spec) ? pdb.spec.selector : undefined);
    const owners = sel ? podOwnersSelectedBy(objs, sel) : [];
    if (owners.length === 0) problems.push(`PodDisruptionBudget/${pdb.metadata.name} selects no pods`);
    owners.forEach((o) => covered.add(o.metadata.name));
  }
  for (const comp of ['api', 'worker']) {
    const d = appWorkload(objs, 'Deployment', comp);
    if (d && !covered.has(d.metadata.name))
      problems.push(`no PodDisruptionBudget covers the ${comp} Deployment`);
  }
  return problems;
}

/** Services select existing pods and target ports those pods declare; api and worker have one. */
export function checkServices(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const svc of ofKind(objs, 'Service')) {
    const spec = isObject(svc.spec) ? svc.spec : {};
    const sel = matchLabelsOf(spec.selector);
    const owners = sel ? podOwnersSelectedBy(objs, sel) : [];
    if (owners.length === 0) {
      problems.push(`Service/${svc.metadata.name} selects no pods`);
      continue;
    }
    for (const p of Array.isArray(spec.ports) ? spec.ports.filter(isObject) : []) {
      const target = p.targetPort ?? p.port;
      for (const o of owners) {
        if (!podPortDeclared(o, target)) {
          problems.push(
            `Service/${svc.metadata.name}: targetPort ${String(target)} not declared by ${o.kind}/${o.metadata.name}`,
          );
        }
      }
    }
  }
  for (const [comp, port] of [
    ['api', 4080],
    ['worker', 9464],
  ] as const) {
    const d = appWorkload(objs, 'Deployment', comp);
    if (!d) continue;
    const has = ofKind(objs, 'Service').some((svc) => {
      const spec = isObject(svc.spec) ? svc.spec : {};
      const sel = matchLabelsOf(spec.selector);
      return (
        sel !== undefined &&
        matches(sel, templateLabels(d)) &&
        (Array.isArray(spec.ports) ? spec.ports : []).some((p) => isObject(p) && p.port === port)
      );
    });
    if (!has) problems.push(`no Service exposes the ${comp} Deployment on port ${port}`);
  }
  return problems;
}

/** Deployment selectors select their own template. */
export function checkSelectors(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objs.filter((x) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(x.kind))) {
    const sel = matchLabelsOf(isObject(o.spec) ? o.spec.selector : undefined);
    if (!sel || !matches(sel, templateLabels(o)))
      problems.push(`${o.kind}/${o.metadata.name}: selector does not match its template`);
  }
  return problems;
}

/** One HPA, on the api Deployment, which has cpu requests and no fixed replica count. */
export function checkHpa(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  const api = appWorkload(objs, 'Deployment', 'api');
  const hpas = ofKind(objs, 'HorizontalPodAutoscaler');
  if (hpas.length !== 1) problems.push(`expected one HorizontalPodAutoscaler, found ${hpas.length}`);
  for (const hpa of hpas) {
    const spec = isObject(hpa.spec) ? hpa.spec : {};
    const ref = isObject(spec.scaleTargetRef) ? spec.scaleTargetRef : {};
    if (!api || ref.kind !== 'Deployment' || ref.name !== api.metadata.name) {
      problems.push(`HorizontalPodAutoscaler/${hpa.metadata.name} must target the api Deployment`);
    }
    if (!(Number(spec.minReplicas) >= 1 && Number(spec.minReplicas) <= Number(spec.maxReplicas))) {
      problems.push(`HorizontalPodAutoscaler/${hpa.metadata.name}: bad min/max replicas`);
    }
    const usesCpu = (Array.isArray(spec.metrics) ? spec.metrics : []).some(
      (m) => isObject(m) && m.type === 'Resource' && isObject(m.resource) && m.resource.name === 'cpu',
    );
    if (!usesCpu) problems.push(`HorizontalPodAutoscaler/${hpa.metadata.name} must scale on cpu`);
  }
  if (api) {
    if (isObject(api.spec) && api.spec.replicas !== undefined) {
      problems.push('api Deployment sets spec.replicas, which fights the HorizontalPodAutoscaler');
    }
    for (const c of containersOf(api, false)) {
      const req = isObject(c.resources) && isObject(c.resources.requests) ? c.resources.requests : {};
      if (req.cpu === undefined) problems.push('api container needs a cpu request for the HPA');
    }
  }
  return problems;
}

/** ServiceMonitors select the api and worker Services, on named ports they have. */
export function checkServiceMonitors(objs: K8sObject[], required: boolean): string[] {
  const problems: string[] = [];
  const monitors = ofKind(objs, 'ServiceMonitor');
  if (required && monitors.length === 0) problems.push('no ServiceMonitor');
  const scraped = new Set<string>();
  for (const sm of monitors) {
    if (sm.apiVersion !== 'monitoring.coreos.com/v1')
      problems.push(`ServiceMonitor/${sm.metadata.name}: wrong apiVersion`);
    const spec = isObject(sm.spec) ? sm.spec : {};
    const sel = matchLabelsOf(spec.selector);
    const services = sel
      ? ofKind(objs, 'Service').filter(
          (s) => s.metadata.namespace === sm.metadata.namespace && matches(sel, labelsOf(s)),
        )
      : [];
    if (services.length === 0) problems.push(`ServiceMonitor/${sm.metadata.name} selects no Service`);
    const endpoints = (Array.isArray(spec.endpoints) ? spec.endpoints : []).filter(isObject);
    for (const ep of endpoints) {
      if (ep.path !== undefined && ep.path !== '/metrics')
        problems.push(`ServiceMonitor/${sm.metadata.name}: path ${String(ep.path)}`);
      const onSome = services.some((s) =>
        (isObject(s.spec) && Array.isArray(s.spec.ports) ? s.spec.ports : []).some(
          (p) => isObject(p) && p.name === ep.port,
        ),
      );
      if (!onSome)
        problems.push(
          `ServiceMonitor/${sm.metadata.name}: endpoint port ${String(ep.port)} is on no selected Service`,
        );
    }
    for (const s of services) {
      const ports = (isObject(s.spec) && Array.isArray(s.spec.ports) ? s.spec.ports : []).filter(isObject);
      if (ports.some((p) => endpoints.some((ep) => ep.port === p.name))) scraped.add(s.metadata.name);
    }
  }
  if (required) {
    for (const comp of ['api', 'worker']) {
      const d = appWorkload(objs, 'Deployment', comp);
      const svc = ofKind(objs, 'Service').find((s) => {
        const sel = matchLabelsOf(isObject(s.spec) ? s.spec.selector : undefined);
        return d !== undefined && sel !== undefined && matches(sel, templateLabels(d));
      });
      if (!svc || !scraped.has(svc.metadata.name))
        problems.push(`no ServiceMonitor scrapes the ${comp} Service`);
    }
  }
  return problems;
}

/** The Secret key a ServiceMonitor endpoint sends as its bearer token, if any. */
function endpointBearerSecret(ep: JsonObject): { name: string; key: string } | undefined {
  const auth = isObject(ep.authorization) ? ep.authorization : undefined;
  if (auth && (auth.type === undefined || auth.type === 'Bearer') && isObject(auth.credentials)) {
    return { name: String(auth.credentials.name), key: String(auth.credentials.key) };
  }
  if (isObject(ep.bearerTokenSecret)) {
    return { name: String(ep.bearerTokenSecret.name), key: String(ep.bearerTokenSecret.key) };
  }
  return undefined;
}

/**
 * Pods that require a metrics token (METRICS_AUTH_TOKEN from a Secret) are scraped with exactly
 * that token: every ServiceMonitor endpoint reaching them sends the same Secret key as its bearer
 * token (`authorization.credentials` or `bearerTokenSecret`), else Prometheus only collects 401s.
 */
export function checkMetricsAuth(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const sm of ofKind(objs, 'ServiceMonitor')) {
    const spec = isObject(sm.spec) ? sm.spec : {};
    const sel = matchLabelsOf(spec.selector);
    const services = sel
      ? ofKind(objs, 'Service').filter(
          (s) => s.metadata.namespace === sm.metadata.namespace && matches(sel, labelsOf(s)),
        )
      : [];
    for (const ep of (Array.isArray(spec.endpoints) ? spec.endpoints : []).filter(isObject)) {
      const sent = endpointBearerSecret(ep);
      for (const svc of services) {
        const svcSpec = isObject(svc.spec) ? svc.spec : {};
        const hasPort = (Array.isArray(svcSpec.ports) ? svcSpec.ports : []).some(
          (p) => isObject(p) && p.name === ep.port,
        );
        const podSel = matchLabelsOf(svcSpec.selector);
        if (!hasPort || !podSel) continue;
        for (const owner of podOwnersSelectedBy(objs, podSel)) {
          const token = effectiveEnv(objs, containersOf(owner, false)[0] ?? {}).get('METRICS_AUTH_TOKEN');
          if (!token) continue;
          const where = `ServiceMonitor/${sm.metadata.name} port ${String(ep.port)} (${owner.metadata.name})`;
          if (token.source !== 'secret' || !token.ref) {
            problems.push(`${where}: METRICS_AUTH_TOKEN must come from a Secret the ServiceMonitor can read`);
          } else if (!sent) {
            problems.push(`${where}: the pods require a metrics token, the endpoint sends none`);
          } else if (sent.name !== token.ref.name || sent.key !== token.ref.key) {
            problems.push(
              `${where}: sends ${sent.name}/${sent.key}, the pods expect ${token.ref.name}/${token.ref.key}`,
            );
          }
        }
      }
    }
  }
  return problems;
}

function annotation(o: K8sObject | undefined, key: string): string | undefined {
  return o?.metadata.annotations?.[key];
}

/**
 * Migrations: one Job running dist/src/migrate.js with the app image; the
 * Deployments set MIGRATIONS_RUN=false; Argo CD ordering (config wave <
 * Job wave < Deployment wave); everything the Job needs carries the
 * pre-deploy label for the plain-kubectl two-step apply.
 */
export function checkMigrations(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  const job = appWorkload(objs, 'Job', 'migrate');
  if (!job) return ['no migration Job (app.kubernetes.io/component=migrate)'];
  const cs = containersOf(job, false);
  const api = appWorkload(objs, 'Deployment', 'api');
  const apiImage = api ? containersOf(api, false)[0]?.image : undefined;
  if (cs.length !== 1) problems.push('migration Job must have one container');
  const c = cs[0] ?? {};
  // As args, so that the image's entrypoint (the heap cap) stays in front.
  const cmd = (Array.isArray(c.args) ? c.args : []).map(String);
  if (c.command !== undefined || JSON.stringify(cmd) !== JSON.stringify(['node', 'dist/src/migrate.js'])) {
    problems.push(
      `migration Job must run args node dist/src/migrate.js without overriding the entrypoint, runs ${JSON.stringify(
        { command: c.command, args: c.args },
      )}`,
    );
  }
  if (c.image !== apiImage) problems.push('migration Job must use the api image');
  const pod = podSpecOf(job) ?? {};
  if (!['Never', 'OnFailure'].includes(String(pod.restartPolicy)))
    problems.push('migration Job needs restartPolicy Never or OnFailure');

  for (const comp of ['api', 'worker']) {
    const d = appWorkload(objs, 'Deployment', comp);
    if (!d) continue;
    for (const dc of containersOf(d, false)) {
      if (envValue(objs, dc, 'MIGRATIONS_RUN') !== 'false')
        problems.push(`${comp} Deployment must set MIGRATIONS_RUN=false`);
    }
  }

  const wave = (o: K8sObject | undefined) => Number(annotation(o, 'argocd.argoproj.io/sync-wave') ?? '0');
  if (annotation(job, 'argocd.argoproj.io/hook') !== 'Sync')
    problems.push('migration Job must be an Argo CD Sync hook');
  if (annotation(job, 'argocd.argoproj.io/hook-delete-policy') !== 'BeforeHookCreation') {
    problems.push('migration Job must be recreated on each sync (BeforeHookCreation)');
  }
  for (const comp of ['api', 'worker']) {
    const d = appWorkload(objs, 'Deployment', comp);
    if (d && !(wave(d) > wave(job))) problems.push(`${comp} Deployment must sync after the migration Job`);
  }

  // What the Job needs must exist before it, and be selectable as pre-deploy.
  const needs: K8sObject[] = [];
  const missing: string[] = [];
  for (const from of Array.isArray(c.envFrom) ? c.envFrom : []) {
    if (isObject(from) && isObject(from.configMapRef)) {
      const cm = find(objs, 'ConfigMap', String(from.configMapRef.name));
      if (cm) needs.push(cm);
      else missing.push(`ConfigMap/${String(from.configMapRef.name)}`);
    }
  }
  for (const src of effectiveEnv(objs, c).values()) {
    if (src.ref) {
      const s = find(objs, 'Secret', src.ref.name);
      if (s && !needs.includes(s)) needs.push(s);
    }
  }
  const sa = str(pod.serviceAccountName);
  if (sa) {
    const o = find(objs, 'ServiceAccount', sa);
    if (o) needs.push(o);
    else missing.push(`ServiceAccount/${sa}`);
  }
  for (const m of missing) problems.push(`migration Job needs ${m}, which is not rendered`);
  for (const o of [job, ...needs]) {
    if (labelsOf(o)['vllm-batch.io/phase'] !== 'pre-deploy')
      problems.push(`${o.kind}/${o.metadata.name} needs label vllm-batch.io/phase=pre-deploy`);
  }
  for (const o of needs) {
    if (!(wave(o) < wave(job)))
      problems.push(`${o.kind}/${o.metadata.name} must sync before the migration Job`);
  }
  return problems;
}

/** What the app makes of a container's non-secret environment (defaults and parsing included). */
export function appConfigOf(objs: K8sObject[], c: JsonObject): AppConfig {
  const env: Record<string, string> = {};
  for (const [name, src] of effectiveEnv(objs, c))
    if (src.source !== 'secret' && src.value !== undefined) env[name] = src.value;
  return loadConfig(env);
}

/** A container's preStop sleep, in seconds (exec `sleep N` or the native sleep action). */
export function preStopSeconds(c: JsonObject): number {
  const ps = isObject(c.lifecycle) && isObject(c.lifecycle.preStop) ? c.lifecycle.preStop : undefined;
  if (ps && isObject(ps.exec) && Array.isArray(ps.exec.command) && ps.exec.command[0] === 'sleep')
    return Number(ps.exec.command[1]);
  if (ps && isObject(ps.sleep)) return Number(ps.sleep.seconds);
  return 0;
}

/** terminationGracePeriodSeconds > SHUTDOWN_GRACE_SECONDS (+ a preStop sleep) on app pods. */
export function checkGracePeriods(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objs.filter((x) => x.kind === 'Deployment' && isApp(x))) {
    const pod = podSpecOf(o) ?? {};
    const tgps = Number(pod.terminationGracePeriodSeconds ?? 30);
    for (const c of containersOf(o, false)) {
      const grace = appConfigOf(objs, c).shutdownGraceMs / 1000;
      const preStop = preStopSeconds(c);
      if (!(tgps > grace + preStop)) {
        problems.push(
          `Deployment/${o.metadata.name}: terminationGracePeriodSeconds ${tgps} <= SHUTDOWN_GRACE_SECONDS ${grace} + preStop ${preStop}`,
        );
      }
    }
  }
  return problems;
}

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

const INGRESS_TIMEOUTS = ['proxy-read-timeout', 'proxy-send-timeout'];

/**
 * Timeouts that fit the platform: app processes keep idle connections open longer than
 * ingress-nginx keeps them pooled; the api drains long enough for the supported upload, the
 * app's own upload deadline allows it, and the Ingress's proxy timeouts (ingress-nginx default 60 s
 * when unset) are never shorter.
 */
export function checkTimeouts(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const comp of ['api', 'worker']) {
    const d = appWorkload(objs, 'Deployment', comp);
    for (const c of d ? containersOf(d, false) : []) {
      const keepAlive = appConfigOf(objs, c).http.keepAliveTimeoutMs / 1000;
      if (!(keepAlive > NGINX_UPSTREAM_KEEPALIVE_SECONDS))
        problems.push(
          `${comp}: HTTP_KEEPALIVE_TIMEOUT_MS ${keepAlive * 1000} must exceed ingress-nginx's upstream keep-alive (${NGINX_UPSTREAM_KEEPALIVE_SECONDS} s)`,
        );
    }
  }
  const api = appWorkload(objs, 'Deployment', 'api');
  const apiContainer = api ? containersOf(api, false)[0] : undefined;
  if (apiContainer) {
    const config = appConfigOf(objs, apiContainer);
    if (config.shutdownGraceMs / 1000 < SUPPORTED_UPLOAD_SECONDS)
      problems.push(
        `api: SHUTDOWN_GRACE_SECONDS ${config.shutdownGraceMs / 1000} cuts uploads shorter than ${SUPPORTED_UPLOAD_SECONDS} s on every rollout`,
      );
    if (config.http.uploadTimeoutMs / 1000 < SUPPORTED_UPLOAD_SECONDS)
      problems.push(
        `api: UPLOAD_TIMEOUT_SECONDS is below the supported upload (${SUPPORTED_UPLOAD_SECONDS} s)`,
      );
  }
  for (const ing of ofKind(objs, 'Ingress')) {
    const annotations = ing.metadata.annotations ?? {};
    for (const key of INGRESS_TIMEOUTS) {
      const value = Number(annotations[`nginx.ingress.kubernetes.io/${key}`] ?? 60);
      if (!(value >= SUPPORTED_UPLOAD_SECONDS))
        problems.push(
          `Ingress/${ing.metadata.name}: ${key} ${value} is below the supported upload (${SUPPORTED_UPLOAD_SECONDS} s)`,
        );
    }
    if (annotations['nginx.ingress.kubernetes.io/proxy-request-buffering'] !== 'off')
      problems.push(
        `Ingress/${ing.metadata.name}: uploads must stream through (proxy-request-buffering off)`,
      );
  }
  return problems;
}

/**
 * The admin surface (the queue board, which can retry and delete jobs): the api declares its
 * `admin` port at ADMIN_PORT, and an internal ClusterIP Service exposes exactly that port, unscraped.
 */
export function checkAdminSurface(objs: K8sObject[]): string[] {
  const api = appWorkload(objs, 'Deployment', 'api');
  const c = api ? containersOf(api, false)[0] : undefined;
  if (!api || !c) return [];
  const problems: string[] = [];
  const adminPort = appConfigOf(objs, c).adminPort;
  const declared = declaredPorts(c).find((p) => p.name === 'admin');
  if (declared?.containerPort !== adminPort)
    problems.push(
      `api: container port "admin" must be ADMIN_PORT (${adminPort}), is ${declared?.containerPort}`,
    );
  const svc = find(objs, 'Service', 'vllm-batch-admin');
  const spec = svc && isObject(svc.spec) ? svc.spec : undefined;
  if (!svc || !spec) return [...problems, 'no Service vllm-batch-admin'];
  const ports = Array.isArray(spec.ports) ? spec.ports.filter(isObject) : [];
  const sel = matchLabelsOf(spec.selector);
  if ((spec.type ?? 'ClusterIP') !== 'ClusterIP') problems.push('Service vllm-batch-admin must be ClusterIP');
  if (!sel || !matches(sel, templateLabels(api)))
    problems.push('Service vllm-batch-admin must select the api pods');
  if (ports.length !== 1 || ports[0].targetPort !== 'admin')
    problems.push('Service vllm-batch-admin must expose only the admin port');
  if (labelsOf(svc)['vllm-batch.io/metrics'] !== undefined)
    problems.push('Service vllm-batch-admin must not be scraped (no vllm-batch.io/metrics label)');
  return problems;
}

/** Storage: s3 needs bucket+region+credentials from the Secret; local needs one volume shared by api and worker. */
export function checkStorage(objs: K8sObject[], expectedDriver: 'local' | 's3'): string[] {
  const problems: string[] = [];
  const claims = new Map<string, string>();
  for (const comp of ['api', 'worker']) {
    const d = appWorkload(objs, 'Deployment', comp);
    if (!d) continue;
    const c = containersOf(d, false)[0] ?? {};
    const env = effectiveEnv(objs, c);
    const driver = env.get('STORAGE_DRIVER')?.value ?? 'local';
    if (driver !== expectedDriver)
      problems.push(`${comp}: STORAGE_DRIVER is ${driver}, expected ${expectedDriver}`);
    if (driver === 's3') {
      for (const n of ['S3_BUCKET', 'S3_REGION'])
        if (!env.get(n)?.value) problems.push(`${comp}: ${n} must be set with s3`);
      for (const n of ['S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']) {
        if (env.get(n)?.source !== 'secret') problems.push(`${comp}: ${n} must come from the Secret with s3`);
      }
    } else {
      const dir = env.get('STORAGE_DIR')?.value ?? './data/files';
      const pod = podSpecOf(d) ?? {};
      const mounts = (Array.isArray(c.volumeMounts) ? c.volumeMounts : []).filter(isObject);
      const mount = mounts.find((m) => dir === m.mountPath || dir.startsWith(`${String(m.mountPath)}/`));
      const vol =
        mount && Array.isArray(pod.volumes)
          ? pod.volumes.filter(isObject).find((v) => v.name === mount.name)
          : undefined;
      const claim =
        vol && isObject(vol.persistentVolumeClaim) ? str(vol.persistentVolumeClaim.claimName) : undefined;
      if (!claim)
        problems.push(`${comp}: STORAGE_DIR ${dir} must be on a PersistentVolumeClaim with local storage`);
      else claims.set(comp, claim);
    }
  }
  if (expectedDriver === 'local' && claims.size === 2 && claims.get('api') !== claims.get('worker')) {
    problems.push('api and worker must share one files volume with local storage');
  }
  if (expectedDriver === 's3' && ofKind(objs, 'PersistentVolumeClaim').some(isApp)) {
    problems.push('no app PersistentVolumeClaim is needed with s3');
  }
  return problems;
}

/** Volumes have one source, mounts name declared volumes, claims exist. */
export function checkVolumes(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objs.filter((x) => WORKLOAD_KINDS.has(x.kind))) {
    const pod = podSpecOf(o) ?? {};
    const vols = (Array.isArray(pod.volumes) ? pod.volumes : []).filter(isObject);
    for (const v of vols) {
      const sources = Object.keys(v).filter((k) => k !== 'name');
      if (sources.length !== 1)
        problems.push(`${o.kind}/${o.metadata.name}: volume ${String(v.name)} has ${sources.length} sources`);
      if (isObject(v.persistentVolumeClaim)) {
        const claim = String(v.persistentVolumeClaim.claimName);
        if (!find(objs, 'PersistentVolumeClaim', claim))
          problems.push(`${o.kind}/${o.metadata.name}: claim ${claim} is not rendered`);
      }
    }
    for (const c of containersOf(o)) {
      for (const m of (Array.isArray(c.volumeMounts) ? c.volumeMounts : []).filter(isObject)) {
        if (!vols.some((v) => v.name === m.name)) {
          problems.push(
            `${o.kind}/${o.metadata.name}/${String(c.name)}: mount of undeclared volume ${String(m.name)}`,
          );
        }
      }
    }
  }
  return problems;
}

/** App-image pods: non-root, read-only root filesystem, no privilege escalation, /tmp on an emptyDir, no API token. */
export function checkSecurity(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  const owners = new Set(appImageContainers(objs).map((x) => x.owner));
  for (const o of owners) {
    const pod = podSpecOf(o) ?? {};
    const psc = isObject(pod.securityContext) ? pod.securityContext : {};
    if (psc.runAsNonRoot !== true) problems.push(`${o.kind}/${o.metadata.name}: runAsNonRoot must be true`);
    if (psc.runAsUser !== undefined && Number(psc.runAsUser) === 0)
      problems.push(`${o.kind}/${o.metadata.name}: runAsUser 0`);
    if (pod.automountServiceAccountToken !== false)
      problems.push(`${o.kind}/${o.metadata.name}: automountServiceAccountToken must be false`);
    const vols = (Array.isArray(pod.volumes) ? pod.volumes : []).filter(isObject);
    for (const c of containersOf(o)) {
      const where = `${o.kind}/${o.metadata.name}/${String(c.name)}`;
      const sc = isObject(c.securityContext) ? c.securityContext : {};
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem must be true`);
      if (sc.allowPrivilegeEscalation !== false)
        problems.push(`${where}: allowPrivilegeEscalation must be false`);
      const tmp = (Array.isArray(c.volumeMounts) ? c.volumeMounts : [])
        .filter(isObject)
        .find((m) => m.mountPath === '/tmp');
      const vol = tmp ? vols.find((v) => v.name === tmp.name) : undefined;
      if (!vol || !isObject(vol.emptyDir)) problems.push(`${where}: /tmp must be an emptyDir`);
    }
  }
  return problems;
}

/** App-image containers use one tagged image (not :latest, not the base placeholder). */
export function checkImages(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  const images = new Set<string>();
  for (const { c, where } of appImageContainers(objs)) {
    const image = String(c.image);
    images.add(image);
    const { tag, digest } = parseImage(image);
    if (!digest && (!tag || tag === 'latest'))
      problems.push(`${where}: image ${image} needs a pinned tag or digest`);
  }
  if (images.size !== 1)
    problems.push(`app containers must share one image, found ${[...images].join(', ')}`);
  return problems;
}

/** Namespaced objects are all in the overlay's namespace. */
export function checkNamespace(objs: K8sObject[], namespace: string): string[] {
  return objs
    .filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== namespace)
    .map(
      (o) =>
        `${o.kind}/${o.metadata.name} is in namespace ${String(o.metadata.namespace)}, expected ${namespace}`,
    );
}

/**
 * Ingress backends exist; internal paths and the admin surface (a path under /admin, or a backend
 * on the admin port) are not routed. An internal Ingress for the board belongs in an operator's own
 * overlay, with its own allowlist (k8s/README.md, "Admin access").
 */
export function checkIngress(objs: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const ing of ofKind(objs, 'Ingress')) {
    const rules = isObject(ing.spec) && Array.isArray(ing.spec.rules) ? ing.spec.rules.filter(isObject) : [];
    if (rules.length === 0) problems.push(`Ingress/${ing.metadata.name} has no rules`);
    for (const rule of rules) {
      const paths =
        isObject(rule.http) && Array.isArray(rule.http.paths) ? rule.http.paths.filter(isObject) : [];
      for (const p of paths) {
        const path = String(p.path);
        if (['/', '/metrics', '/health', '/ready'].includes(path))
          problems.push(`Ingress/${ing.metadata.name} routes internal path ${path}`);
        if (/^\/admin(\/|$)/.test(path))
          problems.push(`Ingress/${ing.metadata.name} routes the admin surface (${path})`);
        const svcRef = isObject(p.backend) && isObject(p.backend.service) ? p.backend.service : {};
        const svc = find(objs, 'Service', String(svcRef.name));
        if (!svc) {
          problems.push(
            `Ingress/${ing.metadata.name}: backend Service ${String(svcRef.name)} does not exist`,
          );
          continue;
        }
        const port = isObject(svcRef.port) ? svcRef.port : {};
        const ports =
          isObject(svc.spec) && Array.isArray(svc.spec.ports) ? svc.spec.ports.filter(isObject) : [];
        const target = ports.find((sp) =>
          port.name !== undefined ? sp.name === port.name : sp.port === port.number,
        );
        if (target && (target.targetPort === 'admin' || target.name === 'admin'))
          problems.push(`Ingress/${ing.metadata.name}: routes the admin port (Service ${svc.metadata.name})`);
        if (!target)
          problems.push(
            `Ingress/${ing.metadata.name}: backend port ${JSON.stringify(port)} not on Service ${svc.metadata.name}`,
          );
      }
    }
  }
  return problems;
}

export const ALL_CHECKS = {
  checkResources,
  checkProbes,
  checkRoles,
  checkSecretEnv,
  checkEnvNames,
  checkPdbs,
  checkServices,
  checkSelectors,
  checkHpa,
  checkGracePeriods,
  checkTimeouts,
  checkAdminSurface,
  checkVolumes,
  checkSecurity,
  checkImages,
  checkIngress,
};
