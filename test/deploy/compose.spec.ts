/**
 * docker/: the compose stack, the Dockerfile, the files they mount and the
 * container healthcheck script, checked without a Docker engine.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import {
  checkAppServices,
  checkDashboardDatasources,
  checkDependsOn,
  checkDockerfile,
  checkGpuProfile,
  checkGrafana,
  checkPorts,
  checkPrometheus,
  checkReferencedFiles,
  checkSharedStorage,
  checkUpstreams,
  Compose,
  contextSources,
  DOCKER_DIR,
  dockerIgnored,
  durationSeconds,
  envOf,
  interpolate,
  loadCompose,
  parseYaml,
  PrometheusConfig,
  provisionedDatasourceUids,
  ROOT,
  servicePort,
} from './compose-checks';
import { isObject, Json, renderKustomization } from './kustomize';
import { appContainer } from './manifest-checks';

const DOCKERFILE = fs.readFileSync(path.join(DOCKER_DIR, 'Dockerfile'), 'utf8');
const PROMETHEUS = parseYaml(
  fs.readFileSync(path.join(DOCKER_DIR, 'prometheus', 'prometheus.yml'), 'utf8'),
  'prometheus.yml',
) as PrometheusConfig;
const DOCKERIGNORE = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');

describe('docker/docker-compose.yml', () => {
  let compose: Compose;
  beforeAll(() => {
    compose = loadCompose();
  });

  it('has the services of the stack', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        'api',
        'grafana',
        'migrate',
        'postgres',
        'prometheus',
        'redis',
        'sim-a',
        'sim-b',
        'vllm',
        'worker',
      ].sort(),
    );
    expect(String(compose.services.postgres.image)).toMatch(/^postgres:16/);
    expect(String(compose.services.redis.image)).toMatch(/^redis:7/);
  });

  it('depends only on services that exist, with conditions they can meet', () => {
    expect(checkDependsOn(compose)).toEqual([]);
  });

  it('runs api, worker, migrate and the simulators from one image with the right roles', () => {
    expect(checkAppServices(compose)).toEqual([]);
  });

  it('has the worker feed a pool of two simulator replicas (VLLM_ENDPOINTS) that share a model', () => {
    expect(checkUpstreams(compose)).toEqual([]);
    expect(envOf(compose.services.worker).get('VLLM_ENDPOINTS')).toBe(
      'http://sim-a:8000/v1,http://sim-b:8000/v1',
    );
    expect(envOf(compose.services['sim-a']).get('SIM_MODELS')).toBe('sim-model');
    expect(envOf(compose.services['sim-b']).get('SIM_MODELS')).toBe('sim-model,sim-model-b');
  });

  it('keeps one vLLM one line of configuration (docker/.env.example and docker/README.md say which)', () => {
    const example = fs.readFileSync(path.join(DOCKER_DIR, '.env.example'), 'utf8');
    const readme = fs.readFileSync(path.join(DOCKER_DIR, 'README.md'), 'utf8');
    const line = 'VLLM_ENDPOINTS=http://vllm:8000/v1';
    expect(example).toContain(`# ${line}\n`);
    expect(readme).toContain(line);
    // That one URL is the gpu profile's vLLM on the port it listens on.
    const url = new URL(line.split('=')[1]);
    expect(servicePort(compose, url.hostname)).toBe(Number(url.port));
    // The interpolation has no colon, so an empty VLLM_ENDPOINTS= leaves the other sources to the host.
    expect(fs.readFileSync(path.join(DOCKER_DIR, 'docker-compose.yml'), 'utf8')).toContain(
      'VLLM_ENDPOINTS: ${VLLM_ENDPOINTS-http',
    );
  });

  it('has Prometheus scrape the compose services on their ports', () => {
    expect(checkPrometheus(compose, PROMETHEUS)).toEqual([]);
  });

  it('reserves an NVIDIA GPU for vLLM under the gpu profile', () => {
    expect(checkGpuProfile(compose)).toEqual([]);
  });

  it('mounts and builds only files that exist in the repository', () => {
    expect(checkReferencedFiles(compose)).toEqual([]);
  });

  it('shares the local file storage between api and worker', () => {
    expect(checkSharedStorage(compose)).toEqual([]);
  });

  it('provisions Grafana with the Prometheus datasource and the dashboards folder', () => {
    expect(checkGrafana(compose)).toEqual([]);
  });

  it('every provisioned dashboard uses a provisioned datasource', () => {
    const dir = path.join(DOCKER_DIR, 'grafana', 'dashboards');
    const uids = provisionedDatasourceUids();
    expect(uids.has('prometheus')).toBe(true);
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
    for (const f of files) {
      const dashboard = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Json;
      expect({ file: f, problems: checkDashboardDatasources(dashboard, uids) }).toEqual({
        file: f,
        problems: [],
      });
    }
  });

  it('listens on the ports the Kubernetes manifests declare: api http and admin, worker metrics', () => {
    const objs = renderKustomization(path.join(ROOT, 'k8s', 'overlays', 'production'));
    const port = (comp: string, name: string) =>
      appContainer(objs, comp)!.ports!.find((p) => p.name === name)?.containerPort;
    const admin = Number(envOf(compose.services.api).get('ADMIN_PORT'));
    expect([servicePort(compose, 'api'), admin, servicePort(compose, 'worker')]).toEqual([
      port('api', 'http'),
      port('api', 'admin'),
      port('worker', 'metrics'),
    ]);
  });

  it('documents in docker/.env.example exactly the variables the compose file reads', () => {
    const text = fs.readFileSync(path.join(DOCKER_DIR, 'docker-compose.yml'), 'utf8');
    const interpolated = [...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]);
    const passedThrough = Object.values(compose.services).flatMap((svc) =>
      [...envOf(svc)].filter(([, v]) => v === null).map(([k]) => k),
    );
    const example = fs.readFileSync(path.join(DOCKER_DIR, '.env.example'), 'utf8');
    const listed = [...example.matchAll(/^#? ?([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]);
    expect([...new Set(listed)].sort()).toEqual([...new Set([...interpolated, ...passedThrough])].sort());
  });

  it('publishes host ports on the loopback interface by default, the queue board whatever API_BIND says', () => {
    expect(checkPorts(compose)).toEqual([]);
  });
});

describe('docker/Dockerfile', () => {
  it('is multi-stage on node 22/24, non-root, with a healthcheck, running dist/src/main.js', () => {
    expect(checkDockerfile(DOCKERFILE)).toEqual([]);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const sources = contextSources(DOCKERFILE);
    expect(sources).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'docker/healthcheck.cjs',
        'docker/entrypoint.sh',
      ]),
    );
    for (const s of sources) {
      expect({
        s,
        exists: fs.existsSync(path.join(ROOT, s)),
        ignored: dockerIgnored(DOCKERIGNORE, s),
      }).toEqual({
        s,
        exists: true,
        ignored: false,
      });
    }
  });

  it('has a .dockerignore that keeps the build inputs and drops local state', () => {
    for (const f of [
      'node_modules/x/index.js',
      'dist/src/main.js',
      'data/files/a',
      '.git/HEAD',
      'coverage/lcov.info',
      'k8s/base/kustomization.yaml',
    ]) {
      expect({ f, ignored: dockerIgnored(DOCKERIGNORE, f) }).toEqual({ f, ignored: true });
    }
    const inputs = [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'nest-cli.json',
      'src/main.ts',
      'src/migrate.ts',
      'simulator/main.ts',
      'migrations/index.ts',
    ];
    for (const f of inputs.filter((x) => fs.existsSync(path.join(ROOT, x)))) {
      expect({ f, ignored: dockerIgnored(DOCKERIGNORE, f) }).toEqual({ f, ignored: false });
    }
  });

  it('builds with the scripts and entry points the image runs', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts?: Record<string, string>;
    };
    expect(pkg.scripts?.build).toBeDefined();
    for (const f of ['src/main.ts', 'src/migrate.ts', 'simulator/main.ts'])
      expect(fs.existsSync(path.join(ROOT, f))).toBe(true);
  });
});

describe('docker/healthcheck.cjs', () => {
  const script = path.join(DOCKER_DIR, 'healthcheck.cjs');
  let server: http.Server;
  let port: number;
  let status = 200;
  const seen: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(String(req.url));
      res.statusCode = req.url === '/health' ? status : 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function run(env: Record<string, string>, args: string[] = []): Promise<number> {
    return new Promise((resolve) => {
      const base = { PATH: process.env.PATH ?? '' };
      execFile(process.execPath, [script, ...args], { env: { ...base, ...env }, timeout: 15000 }, (err) => {
        resolve(err ? Number((err as NodeJS.ErrnoException & { code?: unknown }).code ?? 1) || 1 : 0);
      });
    });
  }

  it('checks /health on PORT for the api and all roles', async () => {
    status = 200;
    expect(await run({ APP_ROLE: 'api', PORT: String(port), METRICS_PORT: '1' })).toBe(0);
    expect(await run({ PORT: String(port), METRICS_PORT: '1' })).toBe(0);
    expect(seen).toContain('/health');
  });

  it('checks /health on METRICS_PORT for the worker role', async () => {
    status = 200;
    expect(await run({ APP_ROLE: 'worker', METRICS_PORT: String(port), PORT: '1' })).toBe(0);
    expect(await run({ APP_ROLE: 'worker', PORT: String(port), METRICS_PORT: '1' })).toBe(1);
  });

  it('fails on an error status or when nothing listens, and takes an explicit URL', async () => {
    status = 503;
    expect(await run({ APP_ROLE: 'api', PORT: String(port) })).toBe(1);
    status = 200;
    expect(await run({}, [`http://127.0.0.1:${port}/health`])).toBe(0);
    expect(await run({ APP_ROLE: 'api', PORT: '1' })).toBe(1);
  });
});

describe('the compose and Dockerfile checks catch breakage', () => {
  const compose = loadCompose();
  const env = (c: Compose, n: string) => c.services[n].environment as Record<string, string>;
  const deps = (c: Compose, n: string) => c.services[n].depends_on as Record<string, object>;
  const jobs = (p: PrometheusConfig) => p.scrape_configs!;
  type Case = [
    string,
    (c: Compose, p: PrometheusConfig) => string[],
    (c: Compose, p: PrometheusConfig) => unknown,
  ];

  const cases: Case[] = [
    [
      'depends_on a missing service',
      checkDependsOn,
      (c) => (deps(c, 'api').cache = { condition: 'service_started' }),
    ],
    [
      'waiting for health of a service without healthcheck',
      checkDependsOn,
      (c) => (c.services.redis.healthcheck = { disable: true }),
    ],
    [
      'a default service depending on the gpu profile',
      checkDependsOn,
      (c) => (deps(c, 'worker').vllm = { condition: 'service_healthy' }),
    ],
    ['worker with another image', checkAppServices, (c) => (c.services.worker.image = 'other:1')],
    [
      'a simulator with another command',
      checkAppServices,
      (c) => (c.services['sim-b'].command = 'node x.js'),
    ],
    ['a simulator on the loopback only', checkAppServices, (c) => (env(c, 'sim-a').SIM_HOST = '127.0.0.1')],
    [
      'api configuring upstreams',
      checkAppServices,
      (c) => (env(c, 'api').VLLM_ENDPOINTS = 'http://sim-a:8000/v1'),
    ],
    ['one replica only', checkUpstreams, (c) => (env(c, 'worker').VLLM_ENDPOINTS = 'http://sim-a:8000/v1')],
    [
      'a replica URL without /v1',
      checkUpstreams,
      (c) => (env(c, 'worker').VLLM_ENDPOINTS = 'http://sim-a:8000,http://sim-b:8000/v1'),
    ],
    [
      'a replica on the wrong port',
      checkUpstreams,
      (c) => (env(c, 'worker').VLLM_ENDPOINTS = 'http://sim-a:8001/v1,http://sim-b:8000/v1'),
    ],
    [
      'a replica that is no simulator service',
      checkUpstreams,
      (c) => (env(c, 'worker').VLLM_ENDPOINTS = 'http://sim-a:8000/v1,http://redis:6379/v1'),
    ],
    ['replicas without a common model', checkUpstreams, (c) => (env(c, 'sim-b').SIM_MODELS = 'other')],
    ['the worker not waiting for a replica', checkUpstreams, (c) => delete deps(c, 'worker')['sim-b']],
    [
      'a DNS source fixed in the file (it would win over VLLM_ENDPOINTS)',
      checkUpstreams,
      (c) => (env(c, 'worker').VLLM_DISCOVERY = 'dns:vllm:8000/v1'),
    ],
    [
      'a simulator replica not scraped',
      checkPrometheus,
      (_, p) => (jobs(p)[2].dns_sd_configs![0].names = ['sim-a']),
    ],
    ['worker with APP_ROLE=all', checkAppServices, (c) => (env(c, 'worker').APP_ROLE = 'all')],
    ['api migrating on start', checkAppServices, (c) => (env(c, 'api').MIGRATIONS_RUN = 'true')],
    ['unknown env var', checkAppServices, (c) => (env(c, 'worker').INFLIGHT = '4')],
    ['stop_grace_period too short', checkAppServices, (c) => (c.services.worker.stop_grace_period = '20s')],
    ['vllm without a GPU reservation', checkGpuProfile, (c) => delete c.services.vllm.deploy],
    [
      'mount of a missing file',
      checkReferencedFiles,
      (c) => c.services.prometheus.volumes!.push('./prometheus/rules.yml:/etc/rules.yml'),
    ],
    [
      'undeclared named volume',
      checkReferencedFiles,
      (c) => c.services.api.volumes!.push('uploads:/uploads'),
    ],
    [
      'the admin port published on API_BIND',
      checkPorts,
      (c) => (c.services.api.ports![1] = '${API_BIND:-127.0.0.1}:4081:4081'),
    ],
    ['the admin port not published', checkPorts, (c) => c.services.api.ports!.pop()],
    ['a port published on all interfaces', checkPorts, (c) => (c.services.grafana.ports = ['3000:3000'])],
    [
      'api and worker on different volumes',
      checkSharedStorage,
      (c) => (c.services.worker.volumes = ['worker-files:/app/data']),
    ],
    [
      'a Prometheus target on the wrong port',
      checkPrometheus,
      (_, p) => (jobs(p)[1].dns_sd_configs![0].port = 4080),
    ],
    [
      'a Prometheus target that is no service',
      checkPrometheus,
      (_, p) => jobs(p).push({ job_name: 'x', static_configs: [{ targets: ['gateway:8080'] }] }),
    ],
    ['Prometheus without its alerting rules', checkPrometheus, (_, p) => delete p.rule_files],
    [
      'Prometheus rules from an unmounted folder',
      checkPrometheus,
      (_, p) => (p.rule_files = ['/etc/prometheus/alerts/*.rules.yml']),
    ],
  ];

  it.each(cases)('%s', (_label, check, mutate) => {
    expect(check(compose, PROMETHEUS)).toEqual([]);
    const [c, p] = JSON.parse(JSON.stringify([compose, PROMETHEUS])) as [Compose, PrometheusConfig];
    mutate(c, p);
    expect(check(c, p).length).toBeGreaterThan(0);
  });

  it('a dashboard bound to an unprovisioned datasource', () => {
    const uids = new Set(['prometheus']);
    const ok: Json = {
      templating: { list: [{ name: 'ds', type: 'datasource', query: 'prometheus' }] },
      panels: [{ datasource: { type: 'prometheus', uid: '${ds}' } }, { datasource: { uid: 'prometheus' } }],
    };
    expect(checkDashboardDatasources(ok, uids)).toEqual([]);
    const exported: Json = { panels: [{ targets: [{ datasource: { uid: '${DS_PROMETHEUS}' } }] }] };
    expect(checkDashboardDatasources(exported, uids).length).toBe(1);
  });

  const dockerfileCases: Array<[string, (t: string) => string]> = [
    ['running as root', (t) => t.replace(/^USER .*$/m, 'USER root')],
    ['no USER', (t) => t.replace(/^USER .*$/m, '')],
    ['no HEALTHCHECK', (t) => t.replace(/^HEALTHCHECK[\s\S]*?CMD \[.*\]$/m, '')],
    ['node 20', (t) => t.replace(/node:22-bookworm-slim AS runtime/, 'node:20-bookworm-slim AS runtime')],
    ['another CMD', (t) => t.replace(/^CMD .*$/m, 'CMD ["node", "dist/main.js"]')],
    ['dev dependencies in the image', (t) => t.replace('npm ci --omit=dev --ignore-scripts', 'npm ci')],
    ['single stage', (t) => `FROM node:22-bookworm-slim\n${t.split(/^FROM .* AS runtime$/m)[1]}`],
    ['STORAGE_DIR off the volume', (t) => t.replace('VOLUME ["/app/data"]', 'VOLUME ["/data"]')],
    ['no heap-capping entrypoint', (t) => t.replace(/^ENTRYPOINT .*$/m, '')],
    ['not in production mode', (t) => t.replace(/^ENV NODE_ENV=production/m, 'ENV NODE_ENV=development')],
  ];

  it.each(dockerfileCases)('Dockerfile: %s', (_label, mutate) => {
    const broken = mutate(DOCKERFILE);
    expect(broken).not.toBe(DOCKERFILE);
    expect(checkDockerfile(broken).length).toBeGreaterThan(0);
  });

  it('parses compose helpers as compose does', () => {
    expect(interpolate('${A:-x}-${B}-$$')).toBe('x--$');
    expect(durationSeconds('1m30s')).toBe(90);
    expect(durationSeconds(undefined)).toBe(10);
    expect(dockerIgnored(['docker/*', '!docker/healthcheck.cjs'], 'docker/healthcheck.cjs')).toBe(false);
    expect(dockerIgnored(['docker/*', '!docker/healthcheck.cjs'], 'docker/Dockerfile')).toBe(true);
    expect(dockerIgnored(['**/node_modules'], 'a/b/node_modules/c')).toBe(true);
    expect(isObject(compose.services.api)).toBe(true);
  });
});
