/**
 * Invariants of docker/docker-compose.yml, docker/Dockerfile and the files
 * they mount, checked without a Docker engine. Each check returns a list of
 * problems (empty = fine).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { isObject, Json, JsonObject } from './kustomize';
import { APP_ENV_NAMES } from './manifest-checks';

export const ROOT = path.resolve(__dirname, '..', '..');
export const DOCKER_DIR = path.join(ROOT, 'docker');

/** Parse one YAML document, with YAML 1.1 merge keys (`<<: *anchor`) as compose resolves them. */
export function parseYaml(text: string, source: string): Json {
  const docs = parseAllDocuments(text, { merge: true });
  if (!Array.isArray(docs) || docs.length !== 1) throw new Error(`${source}: expected one YAML document`);
  const [doc] = docs;
  if (doc.errors.length) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
  return doc.toJS() as Json;
}

/**
 * Compose interpolation with an empty environment: `${X:-def}` / `${X-def}`
 * give the default, `${X}` the empty string, `$$` a dollar.
 */
export function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}/g, (m, _name, op, arg) => {
    if (m === '$$') return '$';
    if (op === ':-' || op === '-') return String(arg);
    return '';
  });
}

export type Compose = JsonObject & { services: Record<string, JsonObject> };

export function loadCompose(file = path.join(DOCKER_DIR, 'docker-compose.yml')): Compose {
  const c = parseYaml(fs.readFileSync(file, 'utf8'), file);
  if (!isObject(c) || !isObject(c.services)) throw new Error(`${file}: no services`);
  return c as Compose;
}

/** A service's environment as a map (list or mapping form); null = passed through from the host. */
export function envOf(svc: JsonObject): Map<string, string | null> {
  const env = new Map<string, string | null>();
  if (Array.isArray(svc.environment)) {
    for (const item of svc.environment) {
      const [k, ...rest] = String(item).split('=');
      env.set(k, rest.length ? interpolate(rest.join('=')) : null);
    }
  } else if (isObject(svc.environment)) {
    for (const [k, v] of Object.entries(svc.environment))
      env.set(k, v === null ? null : interpolate(String(v)));
  }
  return env;
}

function asArgs(v: Json | undefined): string[] {
  if (Array.isArray(v)) return v.map((x) => interpolate(String(x)));
  if (typeof v === 'string') return interpolate(v).split(/\s+/).filter(Boolean);
  return [];
}

/** Parses compose durations like 45s, 1m30s, 900s. */
export function durationSeconds(v: Json | undefined): number {
  if (v === undefined || v === null) return 10; // compose default stop_grace_period
  let total = 0;
  const s = String(v);
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g;
  let m: RegExpExecArray | null;
  let matched = '';
  while ((m = re.exec(s))) {
    matched += m[0];
    const n = Number(m[1]);
    total += { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 }[m[2] as 'h']! * n;
  }
  return matched === s ? total : NaN;
}

// ---------------------------------------------------------------------------
// Dockerfile

export interface Instruction {
  op: string;
  args: string;
}

export interface Stage {
  name?: string;
  base: string;
  instructions: Instruction[];
}

/** Split a Dockerfile into stages of instructions (continuations joined, comments dropped). */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (current !== '' && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push((current + line).trim());
    current = '';
  }
  if (current.trim()) logical.push(current.trim());
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l);
    if (!m) continue;
    const op = m[1].toUpperCase();
    const args = m[2];
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`bad FROM: ${args}`);
      stages.push({ base: f[1], name: f[2], instructions: [] });
    } else if (op !== 'ARG' || stages.length > 0) {
      if (stages.length === 0) throw new Error(`instruction before FROM: ${l}`);
      stages[stages.length - 1].instructions.push({ op, args });
    }
  }
  return stages;
}

function execForm(args: string): string[] | undefined {
  try {
    const v = JSON.parse(args) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
}

function stageEnv(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const i of stage.instructions.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g))
      env.set(m[1], m[2].replace(/^"|"$/g, ''));
  }
  return env;
}

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
  const stages = parseDockerfile(text);
  const final = stages[stages.length - 1];
  const last = (op: string) => final.instructions.filter((i) => i.op === op).pop();
  const form = (op: string) => {
    const i = last(op);
    return i ? (execForm(i.args) ?? ['/bin/sh', '-c', i.args]) : [];
  };
  return { entrypoint: form('ENTRYPOINT'), cmd: form('CMD'), env: stageEnv(final) };
}

export function checkDockerfile(text: string): string[] {
  const problems: string[] = [];
  const stages = parseDockerfile(text);
  if (stages.length < 2) return ['Dockerfile must be multi-stage'];
  const final = stages[stages.length - 1];
  const ops = (op: string) => final.instructions.filter((i) => i.op === op);

  for (const s of stages) {
    if (!/^node:(22|24)([.-]|$)/.test(nodeBase(stages, s))) {
      problems.push(`stage ${s.name ?? '?'}: base ${s.base} is not node 22 or 24`);
    }
  }

  const users = ops('USER');
  const user = users.length ? users[users.length - 1].args.trim() : 'root';
  if (/^(root|0)(:|$)/.test(user)) problems.push(`final stage runs as ${user}`);

  const hc = ops('HEALTHCHECK');
  if (hc.length !== 1 || /^NONE$/i.test(hc[0].args.trim())) {
    problems.push('final stage needs one HEALTHCHECK');
  } else {
    const cmd = /\bCMD\s+(.*)$/.exec(hc[0].args);
    const form = cmd ? execForm(cmd[1]) : undefined;
    if (!form || form[0] !== 'node') problems.push('HEALTHCHECK must run node (exec form)');
    const script = form?.find((a) => a.endsWith('.cjs') || a.endsWith('.js'));
    const copied = ops('COPY').some(
      (c) => script !== undefined && c.args.includes(path.posix.basename(script)),
    );
    if (!script || !copied) problems.push('HEALTHCHECK script must be copied into the final stage');
  }

  const cmds = ops('CMD');
  const cmd = cmds.length ? execForm(cmds[cmds.length - 1].args) : undefined;
  if (JSON.stringify(cmd) !== JSON.stringify(['node', 'dist/src/main.js'])) {
    problems.push(`CMD must be ["node","dist/src/main.js"], is ${cmds.map((c) => c.args).join(' ')}`);
  }

  // The heap cap comes from the entrypoint, so every command of the image must go through it.
  const { entrypoint } = imageCommand(text);
  const script = entrypoint.length === 1 ? path.posix.basename(entrypoint[0]) : undefined;
  if (script !== 'entrypoint.sh' || !ops('COPY').some((c) => c.args.includes(`docker/${script}`))) {
    problems.push(
      'ENTRYPOINT must be ["/app/docker/entrypoint.sh"] (the heap cap), copied into the final stage',
    );
  }
  if (stageEnv(final).get('NODE_ENV') !== 'production')
    problems.push('the image must set NODE_ENV=production');

  const exposed = ops('EXPOSE').flatMap((e) => e.args.split(/\s+/).map((p) => p.replace(/\/tcp$/, '')));
  for (const p of ['4080', '4081', '9464']) if (!exposed.includes(p)) problems.push(`EXPOSE ${p} missing`);

  // Build happens in an earlier stage; only production dependencies reach the final one.
  const runs = (s: Stage) =>
    s.instructions
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join(' && ');
  if (!stages.slice(0, -1).some((s) => /\bnpm ci\b/.test(runs(s)) && /\bnpm run build\b/.test(runs(s)))) {
    problems.push('no builder stage running npm ci and npm run build');
  }
  if (/\bnpm (ci|install)\b/.test(runs(final)) && !/--omit=dev/.test(runs(final))) {
    problems.push('final stage installs dev dependencies');
  }
  const nm = ops('COPY').find((c) => /node_modules/.test(c.args));
  const from = nm ? /--from=(\S+)/.exec(nm.args)?.[1] : undefined;
  const depsStage = stages.find((s) => s.name === from);
  if (
    !depsStage ||
    !/(npm ci[^&]*--omit=dev|npm prune[^&]*(--omit=dev|--production))/.test(runs(depsStage))
  ) {
    problems.push('final stage must copy node_modules from a stage with production dependencies only');
  }
  if (!ops('COPY').some((c) => /--from=\S+/.test(c.args) && /\bdist\b/.test(c.args))) {
    problems.push('final stage must copy dist/ from the build stage');
  }

  // STORAGE_DIR lives on a declared volume.
  const storageDir = stageEnv(final).get('STORAGE_DIR');
  const volumes = ops('VOLUME').flatMap((v) => execForm(v.args) ?? v.args.split(/\s+/));
  if (
    !storageDir ||
    !volumes.some((v) => storageDir === v || storageDir.startsWith(`${v.replace(/\/$/, '')}/`))
  ) {
    problems.push(`STORAGE_DIR (${storageDir}) must be on a VOLUME`);
  }
  return problems;
}

/** COPY sources of the build context that the Dockerfile needs, relative to the repository root. */
export function contextSources(text: string): string[] {
  const out: string[] = [];
  for (const s of parseDockerfile(text)) {
    for (const i of s.instructions.filter((x) => x.op === 'COPY' && !/--from=/.test(x.args))) {
      const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      out.push(...parts.slice(0, -1).filter((p) => p !== '.'));
    }
  }
  return out;
}

/** .dockerignore matching (patterns with * and **, `!` exceptions, last match wins). */
export function dockerIgnored(patterns: string[], file: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pat = (negate ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
    let re = '';
    for (let i = 0; i < pat.length; i++) {
      const ch = pat[i];
      if (ch === '*' && pat[i + 1] === '*') {
        re += pat[i + 2] === '/' ? '(?:.*/)?' : '.*';
        i += pat[i + 2] === '/' ? 2 : 1;
      } else if (ch === '*') {
        re += '[^/]*';
      } else if (ch === '?') {
        re += '[^/]';
      } else {
        re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
    }
    if (new RegExp(`^${re}(?:/.*)?$`).test(file)) ignored = !negate;
  }
  return ignored;
}

// ---------------------------------------------------------------------------
// compose

const APP_SERVICES = ['migrate', 'api', 'worker'];

function depends(svc: JsonObject): Record<string, JsonObject> {
  if (Array.isArray(svc.depends_on)) return Object.fromEntries(svc.depends_on.map((d) => [String(d), {}]));
  if (isObject(svc.depends_on)) {
    return Object.fromEntries(Object.entries(svc.depends_on).map(([k, v]) => [k, isObject(v) ? v : {}]));
  }
  return {};
}

function hasHealthcheck(c: Compose, name: string, dockerfileHasHealthcheck: boolean): boolean {
  const svc = c.services[name];
  const hc = svc.healthcheck;
  if (isObject(hc)) return hc.disable !== true && hc.test !== undefined;
  return dockerfileHasHealthcheck && svc.build !== undefined;
}

/** depends_on targets exist, are not behind a profile the dependant lacks, and their conditions can be met. */
export function checkDependsOn(c: Compose, dockerfileHasHealthcheck = true): string[] {
  const problems: string[] = [];
  for (const [name, svc] of Object.entries(c.services)) {
    for (const [dep, opts] of Object.entries(depends(svc))) {
      const target = c.services[dep];
      if (!target) {
        problems.push(`${name} depends on missing service ${dep}`);
        continue;
      }
      const tp = Array.isArray(target.profiles) ? target.profiles : [];
      const sp = Array.isArray(svc.profiles) ? svc.profiles : [];
      if (tp.length && !tp.some((p) => sp.includes(p)) && opts.required !== false) {
        problems.push(`${name} depends on ${dep}, which only runs with profile ${tp.join('/')}`);
      }
      const cond = opts.condition ?? 'service_started';
      if (cond === 'service_healthy' && !hasHealthcheck(c, dep, dockerfileHasHealthcheck)) {
        problems.push(`${name} waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
      }
      if (
        cond === 'service_completed_successfully' &&
        !['no', '"no"', 'on-failure'].includes(String(target.restart))
      ) {
        problems.push(
          `${name} waits for ${dep} to complete, but ${dep} restarts (${String(target.restart)})`,
        );
      }
      if (!['service_started', 'service_healthy', 'service_completed_successfully'].includes(String(cond))) {
        problems.push(`${name} -> ${dep}: unknown condition ${String(cond)}`);
      }
    }
  }
  return problems;
}

/** One image and build for every app role; roles, migrations and env names as the run contract says. */
export function checkAppServices(c: Compose): string[] {
  const problems: string[] = [];
  for (const n of [...APP_SERVICES, 'simulator']) if (!c.services[n]) problems.push(`service ${n} missing`);
  if (problems.length) return problems;
  const { api, worker, migrate, simulator } = c.services;
  for (const [n, s] of Object.entries({ worker, migrate, simulator })) {
    if (
      JSON.stringify(s.image) !== JSON.stringify(api.image) ||
      JSON.stringify(s.build) !== JSON.stringify(api.build)
    ) {
      problems.push(`${n} must use the same image and build as api`);
    }
  }
  if (!api.image && !api.build) problems.push('api has neither image nor build');
  if (envOf(api).get('APP_ROLE') !== 'api') problems.push('api must set APP_ROLE=api');
  if (envOf(worker).get('APP_ROLE') !== 'worker') problems.push('worker must set APP_ROLE=worker');
  for (const [n, s] of Object.entries({ api, worker })) {
    if (envOf(s).get('MIGRATIONS_RUN') !== 'false') problems.push(`${n} must set MIGRATIONS_RUN=false`);
    if (depends(s).migrate?.condition !== 'service_completed_successfully') {
      problems.push(`${n} must wait for migrate to complete`);
    }
    const grace = Number(envOf(s).get('SHUTDOWN_GRACE_SECONDS') ?? 30);
    if (!(durationSeconds(s.stop_grace_period) > grace)) {
      problems.push(`${n}: stop_grace_period must exceed SHUTDOWN_GRACE_SECONDS (${grace})`);
    }
  }
  if (JSON.stringify(asArgs(migrate.command)) !== JSON.stringify(['node', 'dist/src/migrate.js'])) {
    problems.push('migrate must run node dist/src/migrate.js');
  }
  if (JSON.stringify(asArgs(simulator.command)) !== JSON.stringify(['node', 'dist/simulator/main.js'])) {
    problems.push('simulator must run node dist/simulator/main.js');
  }
  if (envOf(simulator).get('SIM_HOST') !== '0.0.0.0')
    problems.push('simulator must listen on SIM_HOST=0.0.0.0');
  for (const n of APP_SERVICES) {
    for (const k of envOf(c.services[n]).keys()) {
      if (!APP_ENV_NAMES.has(k)) problems.push(`${n}: unknown environment variable ${k}`);
    }
  }
  for (const k of envOf(simulator).keys())
    if (!/^SIM_/.test(k)) problems.push(`simulator: unknown variable ${k}`);

  // The worker's upstream is a compose service on its listening port.
  const upstream = new URL(envOf(worker).get('VLLM_BASE_URL') ?? 'http://127.0.0.1:8000/v1');
  const port = servicePort(c, upstream.hostname);
  if (port === undefined || String(port) !== (upstream.port || '80')) {
    problems.push(`worker VLLM_BASE_URL ${upstream.href} does not point at a compose service port`);
  }
  return problems;
}

/**
 * The api publishes its admin port (the queue board) on the loopback address only, written out
 * rather than interpolated, so no variable (API_BIND=0.0.0.0) can publish it further.
 */
export function checkAdminPort(c: Compose): string[] {
  const api = c.services.api;
  if (!api) return ['service api missing'];
  const adminPort = String(envOf(api).get('ADMIN_PORT') ?? 4081);
  const mappings = (Array.isArray(api.ports) ? api.ports : []).map(String);
  const admin = mappings.filter((m) => m.split(':').pop() === adminPort);
  if (admin.length === 0) return [`api does not publish its admin port ${adminPort}`];
  return admin
    .filter((m) => !m.startsWith('127.0.0.1:'))
    .map((m) => `api publishes the admin port beyond 127.0.0.1: ${m}`);
}

/** The port a compose service listens on inside the network (for the services of this stack). */
export function servicePort(c: Compose, name: string): number | undefined {
  const s = c.services[name];
  if (!s) return undefined;
  const env = envOf(s);
  if (name === 'simulator') return Number(env.get('SIM_PORT') ?? 8000);
  const args = asArgs(s.command);
  const portArg = args.indexOf('--port');
  if (portArg >= 0) return Number(args[portArg + 1]);
  if (env.get('APP_ROLE') === 'worker') return Number(env.get('METRICS_PORT') ?? 9464);
  if (env.get('APP_ROLE') !== undefined) return Number(env.get('PORT') ?? 4080);
  const known: Record<string, number> = { prometheus: 9090, grafana: 3000, postgres: 5432, redis: 6379 };
  return known[name];
}

/** Host path of a bind mount of a service at `target`, resolved against docker/. */
function bindSource(svc: JsonObject, target: string): string | undefined {
  for (const v of Array.isArray(svc.volumes) ? svc.volumes : []) {
    const [src, dst] =
      typeof v === 'string' ? v.split(':') : isObject(v) ? [String(v.source), String(v.target)] : [];
    if (dst === target && src && /^\.\.?\//.test(src)) return path.resolve(DOCKER_DIR, src);
  }
  return undefined;
}

/** Files the stack mounts or builds from exist; named volumes are declared. */
export function checkReferencedFiles(c: Compose): string[] {
  const problems: string[] = [];
  const declared = new Set(Object.keys(isObject(c.volumes) ? c.volumes : {}));
  for (const [name, svc] of Object.entries(c.services)) {
    for (const v of Array.isArray(svc.volumes) ? svc.volumes : []) {
      const src = typeof v === 'string' ? interpolate(v).split(':')[0] : isObject(v) ? String(v.source) : '';
      if (/^(\.\.?\/|\/)/.test(src)) {
        if (!fs.existsSync(path.resolve(DOCKER_DIR, src)))
          problems.push(`${name}: mounted ${src} does not exist`);
      } else if (src && !declared.has(src)) {
        problems.push(`${name}: volume ${src} is not declared`);
      }
    }
    if (svc.build !== undefined) {
      const b = isObject(svc.build) ? svc.build : { context: svc.build };
      const ctx = path.resolve(DOCKER_DIR, String(b.context ?? '.'));
      const dockerfile = path.resolve(ctx, String(b.dockerfile ?? 'Dockerfile'));
      if (!fs.existsSync(ctx)) problems.push(`${name}: build context ${String(b.context)} does not exist`);
      if (!fs.existsSync(dockerfile))
        problems.push(`${name}: Dockerfile ${String(b.dockerfile)} does not exist`);
    }
    if (svc.env_file !== undefined) problems.push(`${name}: env_file is not used by this stack`);
  }
  for (const key of ['configs', 'secrets']) {
    const top = c[key];
    for (const [n, v] of Object.entries(isObject(top) ? top : {})) {
      if (isObject(v) && typeof v.file === 'string' && !fs.existsSync(path.resolve(DOCKER_DIR, v.file))) {
        problems.push(`${key}.${n}: ${v.file} does not exist`);
      }
    }
  }
  return problems;
}

/** With local storage, api and worker share one named volume holding STORAGE_DIR. */
export function checkSharedStorage(c: Compose): string[] {
  const volumeAt = (svc: JsonObject, dir: string) =>
    (Array.isArray(svc.volumes) ? svc.volumes : [])
      .map((v) => (typeof v === 'string' ? v.split(':') : []))
      .find(
        ([src, dst]) => src && dst && !/^[./]/.test(src) && (dir === dst || dir.startsWith(`${dst}/`)),
      )?.[0];
  const problems: string[] = [];
  const vols: Array<string | undefined> = [];
  for (const n of ['api', 'worker']) {
    const svc = c.services[n];
    if (!svc) continue;
    const env = envOf(svc);
    if ((env.get('STORAGE_DRIVER') ?? 'local') !== 'local')
      problems.push(`${n}: default STORAGE_DRIVER must be local`);
    const dir = env.get('STORAGE_DIR');
    if (!dir || !dir.startsWith('/'))
      problems.push(`${n}: STORAGE_DIR must be an absolute path on the shared volume`);
    vols.push(dir ? volumeAt(svc, dir) : undefined);
  }
  if (vols.length !== 2 || !vols[0] || vols[0] !== vols[1])
    problems.push('api and worker must share a named volume for STORAGE_DIR');
  return problems;
}

/** The gpu profile runs vLLM with an NVIDIA device reservation. */
export function checkGpuProfile(c: Compose): string[] {
  const problems: string[] = [];
  const gpu = Object.entries(c.services).filter(
    ([, s]) => Array.isArray(s.profiles) && s.profiles.includes('gpu'),
  );
  if (gpu.length === 0) problems.push('no service under profile gpu');
  for (const [name, s] of gpu) {
    const devices =
      isObject(s.deploy) && isObject(s.deploy.resources) && isObject(s.deploy.resources.reservations)
        ? s.deploy.resources.reservations.devices
        : undefined;
    const ok =
      Array.isArray(devices) &&
      devices.some(
        (d) =>
          isObject(d) &&
          d.driver === 'nvidia' &&
          Array.isArray(d.capabilities) &&
          d.capabilities.includes('gpu'),
      );
    if (!ok) problems.push(`${name}: no nvidia gpu device reservation`);
  }
  const vllm = c.services.vllm;
  if (!vllm || !String(interpolate(String(vllm.image))).startsWith('vllm/vllm-openai:')) {
    problems.push('the gpu profile must run vllm/vllm-openai as service vllm');
  }
  return problems;
}

export interface ScrapeTarget {
  job: string;
  host: string;
  port: number;
}

export function scrapeTargets(promConfig: Json): ScrapeTarget[] {
  const out: ScrapeTarget[] = [];
  const jobs =
    isObject(promConfig) && Array.isArray(promConfig.scrape_configs) ? promConfig.scrape_configs : [];
  for (const j of jobs.filter(isObject)) {
    const job = String(j.job_name);
    for (const sc of Array.isArray(j.static_configs) ? j.static_configs.filter(isObject) : []) {
      for (const t of Array.isArray(sc.targets) ? sc.targets : []) {
        const [host, port] = String(t).split(':');
        out.push({ job, host, port: Number(port) });
      }
    }
    for (const dns of Array.isArray(j.dns_sd_configs) ? j.dns_sd_configs.filter(isObject) : []) {
      for (const n of Array.isArray(dns.names) ? dns.names : [])
        out.push({ job, host: String(n), port: Number(dns.port) });
    }
    for (const key of Object.keys(j)) {
      if (key.endsWith('_sd_configs') && key !== 'dns_sd_configs')
        throw new Error(`${job}: ${key} not understood`);
    }
  }
  return out;
}

/** Prometheus scrapes api, worker, simulator and vllm on the ports those services listen on. */
export function checkPrometheus(c: Compose, promConfig: Json): string[] {
  const problems: string[] = [];
  const targets = scrapeTargets(promConfig);
  for (const t of targets) {
    if (t.host === 'localhost' || t.host === '127.0.0.1') continue;
    if (!c.services[t.host]) {
      problems.push(`job ${t.job}: ${t.host} is not a compose service`);
      continue;
    }
    const port = servicePort(c, t.host);
    if (port !== t.port)
      problems.push(`job ${t.job}: ${t.host}:${t.port}, but ${t.host} listens on ${String(port)}`);
  }
  for (const [host, port] of [
    ['api', 4080],
    ['worker', 9464],
    ['simulator', 8000],
    ['vllm', 8000],
  ] as const) {
    if (!targets.some((t) => t.host === host && t.port === port))
      problems.push(`Prometheus does not scrape ${host}:${port}`);
  }
  const jobs =
    isObject(promConfig) && Array.isArray(promConfig.scrape_configs) ? promConfig.scrape_configs : [];
  for (const j of jobs.filter(isObject)) {
    if (j.metrics_path !== undefined && j.metrics_path !== '/metrics')
      problems.push(`job ${String(j.job_name)}: metrics_path`);
  }
  const prom = c.services.prometheus;
  if (!prom || !bindSource(prom, '/etc/prometheus/prometheus.yml'))
    problems.push('prometheus must mount its config file');
  // Alerting rules: each rule_files pattern names mounted files that exist.
  const ruleFiles = isObject(promConfig) && Array.isArray(promConfig.rule_files) ? promConfig.rule_files : [];
  if (ruleFiles.length === 0) problems.push('prometheus loads no rule_files');
  for (const pattern of ruleFiles.map(String)) {
    const dir = path.posix.dirname(pattern);
    const src = prom ? bindSource(prom, dir) : undefined;
    const glob = new RegExp(
      `^${path.posix.basename(pattern).replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`,
    );
    const found = src && fs.existsSync(src) ? fs.readdirSync(src).filter((f) => glob.test(f)) : [];
    if (found.length === 0) problems.push(`rule_files ${pattern}: no mounted file matches`);
  }
  return problems;
}

/** Grafana's provisioning: datasource on the prometheus service, dashboards provider on the mounted folder. */
export function checkGrafana(c: Compose): string[] {
  const problems: string[] = [];
  const g = c.services.grafana;
  if (!g) return ['no grafana service'];
  const prov = bindSource(g, '/etc/grafana/provisioning');
  if (!prov) return ['grafana must mount ./grafana/provisioning at /etc/grafana/provisioning'];
  const dsDir = path.join(prov, 'datasources');
  const dbDir = path.join(prov, 'dashboards');
  const yamls = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).filter((f) => /\.ya?ml$/.test(f)) : []);
  if (yamls(dsDir).length === 0) problems.push('no datasource provisioning file');
  if (yamls(dbDir).length === 0) problems.push('no dashboard provider file');
  for (const f of yamls(dsDir)) {
    const doc = parseYaml(fs.readFileSync(path.join(dsDir, f), 'utf8'), f);
    const list = isObject(doc) && Array.isArray(doc.datasources) ? doc.datasources.filter(isObject) : [];
    for (const ds of list) {
      if (ds.type !== 'prometheus') continue;
      const u = new URL(String(ds.url));
      if (!c.services[u.hostname] || servicePort(c, u.hostname) !== Number(u.port)) {
        problems.push(`datasource ${String(ds.name)}: ${String(ds.url)} is not the prometheus service`);
      }
    }
  }
  for (const f of yamls(dbDir)) {
    const doc = parseYaml(fs.readFileSync(path.join(dbDir, f), 'utf8'), f);
    const list = isObject(doc) && Array.isArray(doc.providers) ? doc.providers.filter(isObject) : [];
    for (const p of list) {
      const target = isObject(p.options) ? String(p.options.path) : '';
      const host = bindSource(g, target);
      if (!host)
        problems.push(`dashboard provider ${String(p.name)}: ${target} is not mounted from the repository`);
      else if (!fs.existsSync(host))
        problems.push(`dashboard provider ${String(p.name)}: ${host} does not exist`);
    }
  }
  return problems;
}

/** Datasource uids provisioned for Grafana. */
export function provisionedDatasourceUids(): Set<string> {
  const dir = path.join(DOCKER_DIR, 'grafana', 'provisioning', 'datasources');
  const uids = new Set<string>();
  for (const f of fs.readdirSync(dir).filter((x) => /\.ya?ml$/.test(x))) {
    const doc = parseYaml(fs.readFileSync(path.join(dir, f), 'utf8'), f);
    for (const ds of isObject(doc) && Array.isArray(doc.datasources)
      ? doc.datasources.filter(isObject)
      : []) {
      if (typeof ds.uid === 'string') uids.add(ds.uid);
    }
  }
  return uids;
}

/**
 * A file-provisioned dashboard must name a provisioned datasource uid or a
 * datasource-type template variable: `${DS_...}` inputs of an exported
 * dashboard are not resolved by file provisioning.
 */
export function checkDashboardDatasources(dashboard: Json, uids: Set<string>): string[] {
  const problems: string[] = [];
  const vars = new Set<string>();
  const templating =
    isObject(dashboard) && isObject(dashboard.templating) ? dashboard.templating.list : undefined;
  for (const v of Array.isArray(templating) ? templating.filter(isObject) : []) {
    if (v.type === 'datasource') vars.add(String(v.name));
  }
  const visit = (node: Json, where: string): void => {
    if (Array.isArray(node)) node.forEach((n, i) => visit(n, `${where}[${i}]`));
    if (!isObject(node)) return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'datasource' && v !== null) {
        const uid = isObject(v) ? v.uid : v;
        if (typeof uid === 'string') {
          const m = /^\$\{?([A-Za-z0-9_]+)(?::[a-z]+)?\}?$/.exec(uid);
          const ok = m ? vars.has(m[1]) : uids.has(uid) || uid === '-- Grafana --' || uid === 'grafana';
          if (!ok)
            problems.push(`${where}.datasource: ${uid} is neither provisioned nor a datasource variable`);
        }
      } else {
        visit(v, `${where}.${k}`);
      }
    }
  };
  visit(dashboard, '$');
  return problems;
}
