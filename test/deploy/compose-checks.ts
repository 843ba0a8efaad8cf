/**
 * Our policy for docker/docker-compose.yml, docker/Dockerfile and the files they mount, checked
 * without a Docker engine. No schema package for compose files is installed, so the few shapes the
 * rules read are typed here. Each check returns its problems (empty = fine).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { isObject, Json } from './kustomize';
import { APP_ENV_NAMES, UPSTREAM_SOURCES } from './manifest-checks';
import { breaks, failing } from './rules';

export const ROOT = path.resolve(__dirname, '..', '..');
export const DOCKER_DIR = path.join(ROOT, 'docker');

type Volume = string | { source?: string; target?: string };
type Dependency = { condition?: string; required?: boolean };
export interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: string[] | Record<string, string | number | boolean | null>;
  depends_on?: string[] | Record<string, Dependency>;
  healthcheck?: { test?: unknown; disable?: boolean };
  restart?: string;
  profiles?: string[];
  ports?: Array<string | number>;
  volumes?: Volume[];
  stop_grace_period?: string;
  env_file?: unknown;
  deploy?: {
    resources?: { reservations?: { devices?: Array<{ driver?: string; capabilities?: string[] }> } };
  };
}
export interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { file?: string }>;
  secrets?: Record<string, { file?: string }>;
}
export interface PrometheusConfig {
  rule_files?: string[];
  scrape_configs?: Array<{
    job_name: string;
    metrics_path?: string;
    static_configs?: Array<{ targets: string[] }>;
    dns_sd_configs?: Array<{ names: string[]; port: number }>;
  }>;
}

/** Parse one YAML document, with YAML 1.1 merge keys (`<<: *anchor`) as compose resolves them. */
export function parseYaml(text: string, source: string): Json {
  const docs = parseAllDocuments(text, { merge: true });
  if (!Array.isArray(docs) || docs.length !== 1) throw new Error(`${source}: expected one YAML document`);
  if (docs[0].errors.length) throw new Error(`${source}: ${docs[0].errors.map((e) => e.message).join('; ')}`);
  return docs[0].toJS() as Json;
}
const readYaml = <T>(file: string) => parseYaml(fs.readFileSync(file, 'utf8'), file) as T;

/** Compose interpolation with an empty environment: `${X:-def}` / `${X-def}` give the default, `${X}` '', `$$` a dollar. */
export function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}/g, (m, _name, op, arg) =>
    m === '$$' ? '$' : op === ':-' || op === '-' ? String(arg) : '',
  );
}

export function loadCompose(file = path.join(DOCKER_DIR, 'docker-compose.yml')): Compose {
  const c = readYaml<Compose>(file);
  if (!isObject(c) || !isObject(c.services)) throw new Error(`${file}: no services`);
  return c;
}

/** A service's environment as a map (list or mapping form); null = passed through from the host. */
export function envOf(svc: Service): Map<string, string | null> {
  const entries = Array.isArray(svc.environment)
    ? svc.environment.map((item) => String(item).split(/=(.*)/s).slice(0, 2) as [string, string | undefined])
    : Object.entries(svc.environment ?? {});
  return new Map(entries.map(([k, v]) => [k, v === null || v === undefined ? null : interpolate(String(v))]));
}

const asArgs = (v: string | string[] | undefined): string[] =>
  Array.isArray(v)
    ? v.map((x) => interpolate(x))
    : interpolate(v ?? '')
        .split(/\s+/)
        .filter(Boolean);

/** Parses compose durations like 45s, 1m30s, 900s; unset is compose's default stop_grace_period (10 s). */
export function durationSeconds(v: string | undefined): number {
  if (v === undefined) return 10;
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 };
  const parts = [...String(v).matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g)];
  return parts.map((p) => p[0]).join('') === v
    ? parts.reduce((t, p) => t + Number(p[1]) * units[p[2]], 0)
    : NaN;
}

const depends = (svc: Service): Record<string, Dependency> =>
  Array.isArray(svc.depends_on)
    ? Object.fromEntries(svc.depends_on.map((d) => [d, {}]))
    : (svc.depends_on ?? {});
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const mounts = (svc: Service) =>
  (svc.volumes ?? []).map((v) =>
    typeof v === 'string' ? interpolate(v).split(':') : [String(v.source), String(v.target)],
  );

// ---------------------------------------------------------------------------
// Dockerfile

export interface Stage {
  name?: string;
  base: string;
  instructions: Array<{ op: string; args: string }>;
}

/** Split a Dockerfile into stages of instructions (continuations joined, comments dropped). */
export function parseDockerfile(text: string): Stage[] {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => !l.startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim());
  const stages: Stage[] = [];
  for (const l of lines) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(l.trim())!;
    if (op.toUpperCase() === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`bad FROM: ${args}`);
      stages.push({ base: f[1], name: f[2], instructions: [] });
    } else if (op.toUpperCase() !== 'ARG' || stages.length > 0) {
      if (stages.length === 0) throw new Error(`instruction before FROM: ${l}`);
      stages[stages.length - 1].instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

function execForm(args: string | undefined): string[] | undefined {
  try {
    const v = JSON.parse(args ?? '') as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}
const argsOf = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).map((i) => i.args);
const stageEnv = (stage: Stage) =>
  new Map(
    argsOf(stage, 'ENV').flatMap((a) =>
      [...a.matchAll(/([A-Za-z_]\w*)=("[^"]*"|\S+)/g)].map((m) => [m[1], m[2].replace(/^"|"$/g, '')]),
    ),
  );
/** Node base image of a stage, following `FROM <earlier stage>`. */
function nodeBase(stages: Stage[], stage: Stage): string {
  const parent = stages.find((s) => s.name === stage.base);
  return parent && parent !== stage ? nodeBase(stages, parent) : stage.base;
}

/** What `docker run <image>` runs: the final stage's ENTRYPOINT and CMD (exec form) and its ENV. */
export function imageCommand(text: string): {
  entrypoint: string[];
  cmd: string[];
  env: Map<string, string>;
} {
  const final = parseDockerfile(text).pop()!;
  const form = (op: string) => {
    const args = argsOf(final, op).pop();
    return args === undefined ? [] : (execForm(args) ?? ['/bin/sh', '-c', args]);
  };
  return { entrypoint: form('ENTRYPOINT'), cmd: form('CMD'), env: stageEnv(final) };
}

export function checkDockerfile(text: string): string[] {
  const stages = parseDockerfile(text);
  const final = stages[stages.length - 1];
  const copies = argsOf(final, 'COPY');
  const runs = (s: Stage | undefined) => (s ? argsOf(s, 'RUN').join(' && ') : '');
  const healthchecks = argsOf(final, 'HEALTHCHECK');
  const healthcheck = execForm(/\bCMD\s+(.*)$/.exec(healthchecks[0] ?? '')?.[1]);
  const script = healthcheck?.find((a) => /\.c?js$/.test(a));
  const { entrypoint } = imageCommand(text);
  const from = /--from=(\S+)/.exec(copies.find((c) => /node_modules/.test(c)) ?? '')?.[1];
  const exposed = argsOf(final, 'EXPOSE').flatMap((e) => e.split(/\s+/).map((p) => p.replace(/\/tcp$/, '')));
  const storageDir = stageEnv(final).get('STORAGE_DIR') ?? '';
  const volumes = argsOf(final, 'VOLUME').flatMap((v) => execForm(v) ?? v.split(/\s+/));
  if (stages.length < 2) return ['Dockerfile must be multi-stage'];
  return failing({
    'every stage must be on node 22 or 24': () =>
      stages.some((s) => !/^node:(22|24)([.-]|$)/.test(nodeBase(stages, s))),
    'the final stage must not run as root': () =>
      /^(root|0)(:|$)/.test(argsOf(final, 'USER').pop()?.trim() ?? 'root'),
    'one HEALTHCHECK, node running a script copied into the final stage': () =>
      healthchecks.length !== 1 ||
      healthcheck?.[0] !== 'node' ||
      !script ||
      !copies.some((c) => c.includes(path.posix.basename(script))),
    'CMD must be ["node","dist/src/main.js"]': () =>
      !sameJson(execForm(argsOf(final, 'CMD').pop()), ['node', 'dist/src/main.js']),
    'ENTRYPOINT must be ["/app/docker/entrypoint.sh"] (the heap cap), copied into the final stage': () =>
      entrypoint.length !== 1 ||
      path.posix.basename(entrypoint[0]) !== 'entrypoint.sh' ||
      !copies.some((c) => c.includes('docker/entrypoint.sh')),
    'the image must set NODE_ENV=production': () => stageEnv(final).get('NODE_ENV') !== 'production',
    'EXPOSE 4080, 4081 and 9464': () => !['4080', '4081', '9464'].every((p) => exposed.includes(p)),
    // Build happens in an earlier stage; only production dependencies reach the final one.
    'no builder stage running npm ci and npm run build': () =>
      !stages.slice(0, -1).some((s) => /\bnpm ci\b/.test(runs(s)) && /\bnpm run build\b/.test(runs(s))),
    'the final stage installs dev dependencies': () =>
      /\bnpm (ci|install)\b/.test(runs(final)) && !/--omit=dev/.test(runs(final)),
    'node_modules must come from a stage with production dependencies only': () =>
      !/(npm ci[^&]*--omit=dev|npm prune[^&]*(--omit=dev|--production))/.test(
        runs(stages.find((s) => s.name === from)),
      ),
    'the final stage must copy dist/ from the build stage': () =>
      !copies.some((c) => /--from=\S+/.test(c) && /\bdist\b/.test(c)),
    'STORAGE_DIR must be on a VOLUME': () =>
      !storageDir ||
      !volumes.some((v) => storageDir === v || storageDir.startsWith(`${v.replace(/\/$/, '')}/`)),
  });
}

/** COPY sources of the build context that the Dockerfile needs, relative to the repository root. */
export const contextSources = (text: string): string[] =>
  parseDockerfile(text)
    .flatMap((s) => argsOf(s, 'COPY').filter((a) => !/--from=/.test(a)))
    .flatMap((a) =>
      a
        .split(/\s+/)
        .filter((p) => !p.startsWith('--'))
        .slice(0, -1)
        .filter((p) => p !== '.'),
    );

/** .dockerignore matching (patterns with * and **, `!` exceptions, last match wins). */
export function dockerIgnored(patterns: string[], file: string): boolean {
  let ignored = false;
  for (const line of patterns.map((p) => p.trim()).filter((p) => p && !p.startsWith('#'))) {
    const negate = line.startsWith('!');
    const re = (negate ? line.slice(1) : line)
      .replace(/^\/+|\/+$/g, '')
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(
        /\*\*\/|\*\*|\*|\?/g,
        (m) => ({ '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' })[m]!,
      );
    if (new RegExp(`^${re}(?:/.*)?$`).test(file)) ignored = !negate;
  }
  return ignored;
}

// ---------------------------------------------------------------------------
// compose

const SIMULATOR_COMMAND = 'node dist/simulator/main.js';
const isSimulator = (s: Service) => asArgs(s.command).join(' ') === SIMULATOR_COMMAND;
/** The simulator replicas of the stack: services running the simulator from the app image. */
export const simulators = (c: Compose) =>
  Object.keys(c.services).filter((n) => isSimulator(c.services[n]) || /^sim-/.test(n));

/** The base URLs a worker environment names: the first upstream source set (file and DNS: none here). */
export function upstreamUrls(env: Map<string, string | null>): { source: string; urls: string[] } {
  const source = UPSTREAM_SOURCES.find((k) => (env.get(k) ?? '').trim() !== '') ?? 'VLLM_BASE_URL';
  const value = env.get(source) ?? 'http://127.0.0.1:8000/v1';
  const urls =
    source === 'VLLM_ENDPOINTS' || source === 'VLLM_BASE_URL'
      ? value
          .split(',')
          .map((u) => u.trim())
          .filter(Boolean)
      : [];
  return { source, urls };
}

/** The port a compose service listens on inside the network (for the services of this stack). */
export function servicePort(c: Compose, name: string): number | undefined {
  const s = c.services[name];
  const env = s ? envOf(s) : new Map<string, string | null>();
  const args = asArgs(s?.command);
  if (!s) return undefined;
  if (isSimulator(s)) return Number(env.get('SIM_PORT') ?? 8000);
  if (args.includes('--port')) return Number(args[args.indexOf('--port') + 1]);
  if (env.get('APP_ROLE') === 'worker') return Number(env.get('METRICS_PORT') ?? 9464);
  if (env.has('APP_ROLE')) return Number(env.get('PORT') ?? 4080);
  return { prometheus: 9090, grafana: 3000, postgres: 5432, redis: 6379 }[name];
}

/** Host path of a bind mount of a service at `target`, resolved against docker/. */
const bindSource = (svc: Service | undefined, target: string) => {
  const src = mounts(svc ?? {}).find(([s, t]) => t === target && /^\.\.?\//.test(s))?.[0];
  return src && path.resolve(DOCKER_DIR, src);
};

/** depends_on targets exist, are not behind a profile the dependant lacks, and their conditions can be met. */
export function checkDependsOn(c: Compose): string[] {
  const edges = Object.entries(c.services).flatMap(([name, svc]) =>
    Object.entries(depends(svc)).map(([dep, { condition = 'service_started', required }]) => {
      const target = c.services[dep] ?? {};
      // A service built here inherits the Dockerfile's HEALTHCHECK (checkDockerfile requires one).
      const hc = target.healthcheck;
      const healthy = hc ? !hc.disable && hc.test !== undefined : target.build !== undefined;
      return { name, dep, svc, target, condition, required, healthy, exists: dep in c.services };
    }),
  );
  return breaks(edges, (e) => `${e.name} -> ${e.dep}`, {
    'no such service': (e) => !e.exists,
    'runs only under a profile the dependant lacks': (e) =>
      e.target.profiles?.length &&
      !e.target.profiles.some((p) => e.svc.profiles?.includes(p)) &&
      e.required !== false,
    'waits for health, but it has no healthcheck': (e) => e.condition === 'service_healthy' && !e.healthy,
    'waits for it to complete, but it restarts': (e) =>
      e.condition === 'service_completed_successfully' &&
      !['no', 'on-failure'].includes(String(e.target.restart)),
    'unknown condition': (e) =>
      !['service_started', 'service_healthy', 'service_completed_successfully'].includes(e.condition),
  });
}

/** One image and build for every app role; roles, migrations, grace periods and env names as the run contract says. */
export function checkAppServices(c: Compose): string[] {
  const sims = simulators(c);
  const missing = ['migrate', 'api', 'worker'].filter((n) => !c.services[n]);
  if (missing.length) return missing.map((n) => `service ${n} missing`);
  const { api, migrate } = c.services;
  const apps = ['api', 'worker', 'migrate', ...sims].map((name) => ({
    name,
    svc: c.services[name],
    env: envOf(c.services[name]),
  }));
  return [
    ...breaks(apps, (x) => x.name, {
      'must use the same image and build as api': ({ svc }) =>
        !sameJson([svc.image, svc.build], [api.image, api.build]) || !(api.image || api.build),
      'unknown environment variable': ({ name, env }) =>
        [...env.keys()].some((k) => (sims.includes(name) ? !/^SIM_/.test(k) : !APP_ENV_NAMES.has(k))),
    }),
    ...breaks(apps.slice(0, 2), (x) => x.name, {
      'APP_ROLE must be its role': ({ name, env }) => env.get('APP_ROLE') !== name,
      'must set MIGRATIONS_RUN=false': ({ env }) => env.get('MIGRATIONS_RUN') !== 'false',
      'must wait for migrate to complete': ({ svc }) =>
        depends(svc).migrate?.condition !== 'service_completed_successfully',
      'stop_grace_period must exceed SHUTDOWN_GRACE_SECONDS': ({ svc, env }) =>
        !(durationSeconds(svc.stop_grace_period) > Number(env.get('SHUTDOWN_GRACE_SECONDS') ?? 30)),
    }),
    ...breaks(
      sims.map((name) => ({ name, svc: c.services[name] })),
      (x) => x.name,
      {
        [`must run ${SIMULATOR_COMMAND}`]: ({ svc }) => !isSimulator(svc),
        'must listen on SIM_HOST=0.0.0.0': ({ svc }) => envOf(svc).get('SIM_HOST') !== '0.0.0.0',
      },
    ),
    ...failing({
      'migrate must run node dist/src/migrate.js': () =>
        asArgs(migrate.command).join(' ') !== 'node dist/src/migrate.js',
      'api must not configure upstreams (only workers call vLLM)': () =>
        UPSTREAM_SOURCES.some((k) => envOf(api).has(k)),
    }),
  ];
}

/**
 * The worker feeds a pool: by default VLLM_ENDPOINTS names two simulator replicas (each URL a
 * compose service on the port it listens on, ending in /v1), which serve a common model, and the
 * worker waits for every one of them. The other sources pass through from the host.
 */
export function checkUpstreams(c: Compose): string[] {
  const worker = c.services.worker;
  if (!worker) return ['service worker missing'];
  const env = envOf(worker);
  const { source, urls } = upstreamUrls(env);
  const parsed = urls.map((u) => ({ u, url: URL.canParse(u) ? new URL(u) : undefined }));
  const hosts = parsed.flatMap(({ url }) => (url ? [url.hostname] : []));
  const models = (name: string) =>
    new Set(
      (envOf(c.services[name] ?? {}).get('SIM_MODELS') ?? 'sim-model')
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean),
    );
  const shared = hosts.length
    ? [...models(hosts[0])].filter((m) => hosts.every((h) => models(h).has(m)))
    : [];
  return [
    ...failing({
      'the worker must default to VLLM_ENDPOINTS': () => source !== 'VLLM_ENDPOINTS',
      'VLLM_ENDPOINTS must name at least two replicas': () => new Set(urls).size < 2,
      'the replicas must serve a common model': () => shared.length === 0,
      'UPSTREAMS_FILE, VLLM_DISCOVERY, VLLM_BASE_URL must pass through from the host': () =>
        ['UPSTREAMS_FILE', 'VLLM_DISCOVERY', 'VLLM_BASE_URL'].some((k) => env.get(k) !== null),
    }),
    ...breaks(parsed, (x) => `VLLM_ENDPOINTS ${x.u}`, {
      'is not an http(s) URL ending in /v1': ({ url }) =>
        !url || !['http:', 'https:'].includes(url.protocol) || url.pathname.replace(/\/$/, '') !== '/v1',
      'is not a simulator service of the stack': ({ url }) => url && !simulators(c).includes(url.hostname),
      'is not the port the service listens on': ({ url }) =>
        url && String(servicePort(c, url.hostname)) !== (url.port || '80'),
      'the worker does not wait for it to be healthy': ({ url }) =>
        url && depends(worker)[url.hostname]?.condition !== 'service_healthy',
    }),
  ];
}

/**
 * Host ports are published on the loopback address by default; the api's admin port (the queue board)
 * on the loopback address only, written out rather than interpolated, so no variable
 * (API_BIND=0.0.0.0) can publish it further.
 */
export function checkPorts(c: Compose): string[] {
  const published = Object.entries(c.services).flatMap(([name, svc]) =>
    (svc.ports ?? []).map((p) => ({ name, p: String(p) })),
  );
  const adminPort = String(c.services.api && (envOf(c.services.api).get('ADMIN_PORT') ?? 4081));
  const admin = published.filter(({ name, p }) => name === 'api' && p.split(':').pop() === adminPort);
  return [
    ...failing({ [`api does not publish its admin port ${adminPort}`]: () => admin.length === 0 }),
    ...breaks(published, ({ name, p }) => `${name} ${p}`, {
      'publishes beyond 127.0.0.1 by default': ({ p }) => !interpolate(p).startsWith('127.0.0.1:'),
      'publishes the admin port beyond 127.0.0.1': (x) => admin.includes(x) && !x.p.startsWith('127.0.0.1:'),
    }),
  ];
}

/** Files the stack mounts or builds from exist; named volumes are declared; no env_file. */
export function checkReferencedFiles(c: Compose): string[] {
  const exists = (p: string) => fs.existsSync(path.resolve(DOCKER_DIR, p));
  const services = Object.entries(c.services).map(([name, svc]) => {
    const build = typeof svc.build === 'string' ? { context: svc.build } : svc.build;
    const context = path.resolve(DOCKER_DIR, build?.context ?? '.');
    return { name, svc, build, context, sources: mounts(svc).map(([s]) => s) };
  });
  const files = Object.entries({ ...c.configs, ...c.secrets }).filter(([, v]) => v.file);
  return [
    ...breaks(services, (x) => x.name, {
      'mounts a file that does not exist': ({ sources }) =>
        sources.some((s) => /^(\.\.?\/|\/)/.test(s) && !exists(s)),
      'uses an undeclared named volume': ({ sources }) =>
        sources.some((s) => !/^(\.\.?\/|\/)/.test(s) && !(s in (c.volumes ?? {}))),
      'builds from a context or Dockerfile that does not exist': ({ build, context }) =>
        build && !fs.existsSync(path.resolve(context, build.dockerfile ?? 'Dockerfile')),
      'env_file is not used by this stack': ({ svc }) => svc.env_file !== undefined,
    }),
    ...breaks(files, ([n, v]) => `${n}: ${v.file}`, { 'does not exist': ([, v]) => !exists(v.file!) }),
  ];
}

/** With local storage, api and worker share one named volume holding STORAGE_DIR. */
export function checkSharedStorage(c: Compose): string[] {
  const apps = ['api', 'worker'].map((name) => {
    const env = envOf(c.services[name] ?? {});
    const dir = env.get('STORAGE_DIR') ?? '';
    const volume = mounts(c.services[name] ?? {}).find(
      ([s, t]) => !/^[./]/.test(s) && t && (dir === t || dir.startsWith(`${t}/`)),
    );
    return { name, env, dir, volume: volume?.[0] };
  });
  return [
    ...breaks(apps, (x) => x.name, {
      'default STORAGE_DRIVER must be local': ({ env }) => (env.get('STORAGE_DRIVER') ?? 'local') !== 'local',
      'STORAGE_DIR must be an absolute path on a named volume': ({ dir, volume }) =>
        !dir.startsWith('/') || !volume,
    }),
    ...failing({
      'api and worker must share a named volume for STORAGE_DIR': () => apps[0].volume !== apps[1].volume,
    }),
  ];
}

/** The gpu profile runs vllm/vllm-openai as service vllm, with an NVIDIA device reservation. */
export function checkGpuProfile(c: Compose): string[] {
  const gpu = Object.entries(c.services).filter(([, s]) => s.profiles?.includes('gpu'));
  return [
    ...failing({
      'no service under profile gpu': () => gpu.length === 0,
      'the gpu profile must run vllm/vllm-openai as service vllm': () =>
        !interpolate(String(c.services.vllm?.image)).startsWith('vllm/vllm-openai:'),
    }),
    ...breaks(gpu, ([name]) => name, {
      'no nvidia gpu device reservation': ([, s]) =>
        !s.deploy?.resources?.reservations?.devices?.some(
          (d) => d.driver === 'nvidia' && d.capabilities?.includes('gpu'),
        ),
    }),
  ];
}

export const scrapeTargets = (prom: PrometheusConfig) =>
  (prom.scrape_configs ?? []).flatMap((j) => [
    ...(j.static_configs ?? []).flatMap((sc) =>
      sc.targets.map((t) => ({ job: j.job_name, host: t.split(':')[0], port: Number(t.split(':')[1]) })),
    ),
    ...(j.dns_sd_configs ?? []).flatMap((d) =>
      d.names.map((host) => ({ job: j.job_name, host, port: d.port })),
    ),
  ]);

/** Prometheus scrapes api, worker, every simulator replica and vllm at /metrics on the ports they listen on, and loads mounted rules. */
export function checkPrometheus(c: Compose, prom: PrometheusConfig): string[] {
  const unknownSd = (prom.scrape_configs ?? []).flatMap((j) =>
    Object.keys(j).filter((k) => k.endsWith('_sd_configs') && k !== 'dns_sd_configs'),
  );
  if (unknownSd.length) throw new Error(`${unknownSd} not understood`);
  const targets = scrapeTargets(prom).filter((t) => !['localhost', '127.0.0.1'].includes(t.host));
  const prometheus = c.services.prometheus;
  const rules = (prom.rule_files ?? []).map((pattern) => {
    const src = bindSource(prometheus, path.posix.dirname(pattern));
    const glob = new RegExp(
      `^${path.posix.basename(pattern).replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`,
    );
    return {
      pattern,
      found: src && fs.existsSync(src) ? fs.readdirSync(src).filter((f) => glob.test(f)) : [],
    };
  });
  const wanted = [
    ...Object.entries({ api: 4080, worker: 9464, vllm: 8000 }),
    ...simulators(c).map((n) => [n, 8000] as [string, number]),
  ];
  return [
    ...breaks(targets, (t) => `job ${t.job}`, {
      'is not a compose service': (t) => !c.services[t.host],
      'scrapes another port than the service listens on': (t) =>
        c.services[t.host] && servicePort(c, t.host) !== t.port,
    }),
    ...breaks(wanted, ([host, port]) => `${host}:${port}`, {
      'is not scraped': ([h, p]) => !targets.some((t) => t.host === h && t.port === p),
    }),
    ...breaks(prom.scrape_configs ?? [], (j) => `job ${j.job_name}`, {
      'metrics_path is not /metrics': (j) => (j.metrics_path ?? '/metrics') !== '/metrics',
    }),
    ...failing({
      'prometheus must mount its config file': () =>
        !bindSource(prometheus, '/etc/prometheus/prometheus.yml'),
      'prometheus loads no rule_files': () => rules.length === 0,
    }),
    ...breaks(rules, (r) => `rule_files ${r.pattern}`, {
      'no mounted file matches': (r) => r.found.length === 0,
    }),
  ];
}

const yamlsIn = (dir: string) =>
  (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)) : []).map((f) =>
    path.join(dir, f),
  );
const provisioned = <T>(dir: string, key: string) =>
  yamlsIn(dir).flatMap((f) => readYaml<Record<string, T[]>>(f)?.[key] ?? []);
type Datasource = { name: string; type: string; url: string; uid?: string };

/** Grafana's provisioning: datasource on the prometheus service, dashboards provider on a mounted folder. */
export function checkGrafana(c: Compose): string[] {
  const g = c.services.grafana;
  const prov = bindSource(g, '/etc/grafana/provisioning');
  if (!prov) return ['grafana must mount ./grafana/provisioning at /etc/grafana/provisioning'];
  const datasources = provisioned<Datasource>(path.join(prov, 'datasources'), 'datasources');
  const providers = provisioned<{ name: string; options?: { path?: string } }>(
    path.join(prov, 'dashboards'),
    'providers',
  );
  return [
    ...failing({
      'no datasource provisioning file': () => datasources.length === 0,
      'no dashboard provider file': () => providers.length === 0,
    }),
    ...breaks(
      datasources.filter((d) => d.type === 'prometheus'),
      (d) => `datasource ${d.name}`,
      {
        'is not the prometheus service': (d) =>
          servicePort(c, new URL(d.url).hostname) !== Number(new URL(d.url).port),
      },
    ),
    ...breaks(providers, (p) => `dashboard provider ${p.name}`, {
      'is not mounted from an existing folder of the repository': (p) =>
        !fs.existsSync(bindSource(g, String(p.options?.path)) ?? ''),
    }),
  ];
}

/** Datasource uids provisioned for Grafana. */
export const provisionedDatasourceUids = () =>
  new Set(
    provisioned<Datasource>(
      path.join(DOCKER_DIR, 'grafana', 'provisioning', 'datasources'),
      'datasources',
    ).flatMap((d) => d.uid ?? []),
  );

/**
 * A file-provisioned dashboard must name a provisioned datasource uid or a datasource-type template
 * variable: `${DS_...}` inputs of an exported dashboard are not resolved by file provisioning.
 */
export function checkDashboardDatasources(dashboard: Json, uids: Set<string>): string[] {
  const templating = isObject(dashboard) && isObject(dashboard.templating) ? dashboard.templating.list : [];
  const vars = new Set(
    (Array.isArray(templating) ? templating.filter(isObject) : [])
      .filter((v) => v.type === 'datasource')
      .map((v) => String(v.name)),
  );
  const found: string[] = [];
  const visit = (node: Json): void => {
    if (Array.isArray(node)) node.forEach(visit);
    if (!isObject(node)) return;
    for (const [k, v] of Object.entries(node)) {
      const uid = k === 'datasource' && v !== null ? (isObject(v) ? v.uid : v) : undefined;
      if (k !== 'datasource') visit(v);
      else if (typeof uid === 'string') found.push(uid);
    }
  };
  visit(dashboard);
  return breaks(found, (uid) => `datasource ${uid}`, {
    'is neither provisioned nor a datasource variable': (uid) => {
      const m = /^\$\{?([A-Za-z0-9_]+)(?::[a-z]+)?\}?$/.exec(uid);
      return m ? !vars.has(m[1]) : !(uids.has(uid) || uid === '-- Grafana --' || uid === 'grafana');
    },
  });
}
