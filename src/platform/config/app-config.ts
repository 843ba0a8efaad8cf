/**
 * The one typed configuration object. Every environment variable the service reads is parsed and
 * validated here, so a bad value stops the start with a message naming the variable instead of
 * failing later in some unrelated place. `.env.example` and the README table list the same names.
 */
import { BatchEndpoint, isKnownBatchEndpoint, KNOWN_BATCH_ENDPOINTS } from '../../common/batch-endpoints';
import {
  DnsDiscovery,
  normalizeUpstreamBaseUrl,
  parseDnsDiscovery,
  parseNameserver,
  UpstreamUrlError,
} from './upstream-url';

export type AppRole = 'all' | 'api' | 'worker';
export type ConcurrencyMode = 'adaptive' | 'fixed';
export type StorageDriverName = 'local' | 's3';

export interface ApiKeyEntry {
  tenant: string;
  key: string;
  tier: string;
}

/** One admin login of the admin surface (ADMIN_USER/ADMIN_PASSWORD and ADMIN_USERS). */
export interface AdminUser {
  user: string;
  /** Never logged. */
  password: string;
}

export interface WebhookEndpoint {
  url: string;
  /** `whsec_<base64>`: the Standard Webhooks signing secret. Never logged. */
  secret: string;
}

export interface ThrottleLimit {
  limit: number;
  ttlMs: number;
}

export interface AppConfig {
  port: number;
  role: AppRole;
  logLevel: string;
  databaseUrl: string;
  /** Most PostgreSQL connections this process opens (its pool size). */
  databasePoolMax: number;
  migrationsRun: boolean;
  redisUrl: string;
  queuePrefix: string;
  vllmBaseUrl: string;
  vllmApiKey?: string;
  vllmMetricsUrl: string;
  /**
   * Where the worker's vLLM replicas come from; exactly one source is used, in this order:
   * upstreamsFile, else vllmDiscovery, else vllmEndpoints (when non-empty), else vllmBaseUrl alone.
   */
  upstreamsFile?: string;
  vllmDiscovery?: DnsDiscovery;
  /** How often VLLM_DISCOVERY resolves its name (ms). */
  vllmDiscoveryIntervalMs: number;
  /** The DNS server VLLM_DISCOVERY asks (`ip[:port]`); the system's resolvers when unset. */
  vllmDiscoveryNameserver?: string;
  /** VLLM_ENDPOINTS, normalised (see upstream-url.ts); empty when unset. */
  vllmEndpoints: string[];
  vllmRequestTimeoutMs: number;
  vllmPriority?: number;
  storageDriver: StorageDriverName;
  storageDir: string;
  s3: {
    endpoint?: string;
    bucket: string;
    region: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    forcePathStyle: boolean;
  };
  apiKeys: ApiKeyEntry[];
  /** Production may run without API keys only when this says so explicitly. */
  allowOpenAccess: boolean;
  /** NODE_ENV=production: an API with no key anywhere refuses every caller instead of running open. */
  production: boolean;
  /** Who may use the admin surface; empty = it is not served. */
  adminUsers: AdminUser[];
  /** Port of the admin surface (queue board), separate from the public API port. */
  adminPort: number;
  trustProxy: boolean | number | string;
  corsOrigins: string[];
  metricsPort: number;
  metricsAuthToken?: string;
  jsonBodyLimit: string;
  ready: {
    /** Dependencies whose loss makes this pod unready; the others are only reported. */
    requires: ReadyDependency[];
    /** How long a required dependency must stay unreachable before readiness fails. */
    failAfterMs: number;
  };
  /** Failed admin Basic-auth attempts allowed per client IP per minute before 429s. */
  adminAuthFailLimit: number;
  http: {
    /** Node's headersTimeout: a client must finish sending its headers within this. */
    headersTimeoutMs: number;
    /** Idle keep-alive connections are closed after this; above a proxy's upstream keep-alive. */
    keepAliveTimeoutMs: number;
    /** Deadline for receiving a whole request other than a file upload. */
    requestTimeoutMs: number;
    /** Deadline for receiving a file upload (POST /v1/files). */
    uploadTimeoutMs: number;
    /** Most simultaneous connections the HTTP server holds. */
    maxConnections: number;
  };
  files: {
    maxBatchFileBytes: number;
    maxUploadBytes: number;
    /** Default lifetime of purpose=batch uploads and generated files (days); 0 = never expire. */
    defaultExpiryDays: number;
  };
  batches: {
    /** Endpoints a batch may target on this deployment. */
    endpoints: BatchEndpoint[];
    maxLines: number;
    completionWindows: Record<string, number>;
    maxErrorsReported: number;
    /** Most estimated tokens a tenant's unfinished batches may hold per model; 0 = unlimited. */
    enqueuedTokenLimit: number;
    /** Output tokens assumed for a line that sets no max_tokens, when estimating enqueued tokens. */
    defaultMaxTokens: number;
    /** Most unfinished batches one tenant may have; 0 = unlimited. */
    maxActivePerTenant: number;
  };
  worker: {
    concurrencyMode: ConcurrencyMode;
    fixedInflight: number;
    minInflight: number;
    maxInflight: number;
    batchConcurrency: number;
    maxAttempts: number;
    retryBaseMs: number;
    retryMaxMs: number;
    reconcileIntervalMs: number;
  };
  models: {
    /**
     * A model counts as served now (GET /v1/models) while an endpoint listed it within this many
     * milliseconds; above the workers' refresh interval, so one missed refresh does not hide it.
     */
    freshMs: number;
  };
  throttle: {
    batchCreate: ThrottleLimit;
    fileUpload: ThrottleLimit;
    reads: ThrottleLimit;
    mutations: ThrottleLimit;
    tiers: Record<string, number>;
    /** Redis for the shared rate-limit counters; defaults to REDIS_URL. */
    redisUrl?: string;
  };
  shutdownGraceMs: number;
  /**
   * The AES-256 key (32 bytes) that encrypts secrets stored in PostgreSQL (tenants' webhook
   * secrets); absent, nothing secret can be stored. Never logged.
   */
  secretsEncryptionKey?: Buffer;
  webhooks: {
    /** Where each tenant's batch events go, by tenant; a tenant without an entry gets none. */
    endpoints: Record<string, WebhookEndpoint>;
    /** How long a rotated-out webhook secret keeps signing next to the new one (seconds). */
    rotationGraceSeconds: number;
    /** Seconds to wait before each delivery attempt (the first counted from the event). */
    retryScheduleSeconds: number[];
    /** Deadline of one delivery attempt (connect, send, receiver's answer). */
    timeoutMs: number;
  };
}

export const READY_DEPENDENCIES = ['postgres', 'redis', 'storage'] as const;
export type ReadyDependency = (typeof READY_DEPENDENCIES)[number];

export class ConfigError extends Error {}

function readyDependencies(env: Env): ReadyDependency[] {
  const raw = str(env, 'READY_REQUIRES', 'postgres');
  const list =
    raw === 'none'
      ? []
      : raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  for (const dep of list) {
    if (!(READY_DEPENDENCIES as readonly string[]).includes(dep))
      throw new ConfigError(
        `READY_REQUIRES lists ${READY_DEPENDENCIES.join(', ')} (or none), comma-separated; got "${dep}"`,
      );
  }
  return list as ReadyDependency[];
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, def: string): string {
  const v = env[name];
  return v === undefined || v === '' ? def : v.trim();
}

function optional(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return def;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, def: T, allowed: readonly T[]): T {
  const v = str(env, name, def) as T;
  if (!allowed.includes(v)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${v}"`);
  return v;
}

function url(env: Env, name: string, def: string, protocols: string[]): string {
  const v = str(env, name, def);
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new ConfigError(`${name} must be a URL, got "${v}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
  }
  return v.replace(/\/+$/, '');
}

const KEY_PART = /^[A-Za-z0-9._~+/=-]+$/;

/** The marker of the example values in k8s/base/secret.example.yaml and the docs. */
const PLACEHOLDER = /change-me/i;

/** `tenant:key[:tier]` pairs separated by commas. */
export function parseApiKeys(raw: string | undefined): ApiKeyEntry[] {
  if (!raw || raw.trim() === '') return [];
  const seen = new Set<string>();
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((entry, i) => {
      const parts = entry.split(':');
      if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
        throw new ConfigError(`API_KEYS entry #${i + 1} must be tenant:key or tenant:key:tier`);
      }
      const [tenant, key, tier = 'default'] = parts;
      // The example Secret's values are public: accepting them would hand anyone a working key.
      if (PLACEHOLDER.test(tenant) || PLACEHOLDER.test(key)) {
        throw new ConfigError(
          `API_KEYS entry #${i + 1} still holds the example placeholder CHANGE-ME, which is published ` +
            'and so would let anyone in: replace it with a tenant name and a generated key (e.g. openssl rand -hex 24)',
        );
      }
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(tenant)) {
        throw new ConfigError(`API_KEYS entry #${i + 1}: tenant must be 1-64 of [A-Za-z0-9_.-]`);
      }
      if (!KEY_PART.test(key) || key.length < 8) {
        throw new ConfigError(`API_KEYS entry #${i + 1}: key must be at least 8 URL-safe characters`);
      }
      if (seen.has(key)) throw new ConfigError(`API_KEYS entry #${i + 1}: the same key is listed twice`);
      seen.add(key);
      return { tenant, key, tier };
    });
}

/** `name=seconds` pairs, e.g. `24h=86400,1h=3600`. `24h` is always accepted, as at OpenAI. */
function parseWindows(raw: string): Record<string, number> {
  const windows: Record<string, number> = { '24h': 86400 };
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)([smhd])$/.exec(part);
    if (!m) throw new ConfigError(`BATCH_COMPLETION_WINDOWS entries look like 1h, 30m or 2d, got "${part}"`);
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
    windows[part] = Number(m[1]) * unit;
  }
  return windows;
}

/** A comma-separated subset of KNOWN_BATCH_ENDPOINTS, at least one. */
function parseEndpoints(raw: string): BatchEndpoint[] {
  const list = [
    ...new Set(
      raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  for (const e of list) {
    if (!isKnownBatchEndpoint(e))
      throw new ConfigError(`BATCH_ENDPOINTS lists ${KNOWN_BATCH_ENDPOINTS.join(', ')}; got "${e}"`);
  }
  if (list.length === 0) throw new ConfigError('BATCH_ENDPOINTS must list at least one endpoint');
  return list as BatchEndpoint[];
}

/** `tier=multiplier` pairs, e.g. `free=1,pro=5`. */
function parseTiers(raw: string): Record<string, number> {
  const tiers: Record<string, number> = { default: 1 };
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9_.-]+)=(\d+(?:\.\d+)?)$/.exec(part);
    if (!m || Number(m[2]) <= 0)
      throw new ConfigError(`THROTTLE_TIERS entries look like pro=5, got "${part}"`);
    tiers[m[1]] = Number(m[2]);
  }
  return tiers;
}

const WEBHOOK_SECRET_MIN_BYTES = 24;

/**
 * Throws unless `secret` is `whsec_` + base64 of at least 24 random bytes (the Standard Webhooks
 * format the SDKs decode). `where` names the entry; the secret itself never enters a message.
 */
export function checkWebhookSecret(secret: string, where: string): void {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!m || Buffer.from(m[1], 'base64').length < WEBHOOK_SECRET_MIN_BYTES) {
    throw new ConfigError(
      `${where}: the secret must be whsec_ followed by the base64 of at least ${WEBHOOK_SECRET_MIN_BYTES} ` +
        'random bytes (e.g. echo "whsec_$(openssl rand -base64 32)")',
    );
  }
}

/** What a webhook URL must be, as a sentence's predicate ("url must be …"). */
export const WEBHOOK_URL_RULE = 'must be an http:// or https:// URL';

/** A receiver's URL, wherever it is set (WEBHOOKS or the admin API): an absolute http(s) URL. */
export function isWebhookUrl(target: unknown): target is string {
  if (typeof target !== 'string') return false;
  try {
    const { protocol } = new URL(target);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * `WEBHOOKS` = a JSON object `{"<tenant>": {"url": "https://…", "secret": "whsec_…"}}` (JSON, so a
 * URL may hold commas and equals signs); an entry without `secret` is signed with `WEBHOOK_SECRET`.
 * Each tenant should have its own secret: one tenant's receiver could otherwise forge events for
 * another's.
 */
export function parseWebhooks(
  raw: string | undefined,
  defaultSecret: string | undefined,
): Record<string, WebhookEndpoint> {
  if (defaultSecret !== undefined) checkWebhookSecret(defaultSecret, 'WEBHOOK_SECRET');
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(
      'WEBHOOKS must be a JSON object {"<tenant>": {"url": "https://…", "secret": "whsec_…"}}: it is not valid JSON',
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(
      'WEBHOOKS must be a JSON object {"<tenant>": {"url": "https://…", "secret": "whsec_…"}}',
    );
  }
  const endpoints: Record<string, WebhookEndpoint> = {};
  for (const [tenant, entry] of Object.entries(parsed as Record<string, unknown>)) {
    const where = `WEBHOOKS entry "${tenant.slice(0, 64)}"`;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(tenant)) {
      throw new ConfigError(`${where}: the tenant must be 1-64 of [A-Za-z0-9_.-], as in API_KEYS`);
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new ConfigError(`${where} must be an object {"url": "https://…", "secret": "whsec_…"}`);
    }
    const { url: target, secret, ...rest } = entry as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new ConfigError(`${where}: unknown field(s) ${unknown.join(', ')}`);
    if (!isWebhookUrl(target)) throw new ConfigError(`${where}: url ${WEBHOOK_URL_RULE}`);
    if (secret !== undefined && typeof secret !== 'string') {
      throw new ConfigError(`${where}: secret must be a string whsec_…`);
    }
    const chosen = secret ?? defaultSecret;
    if (chosen === undefined) {
      throw new ConfigError(`${where} has no secret and WEBHOOK_SECRET is not set: set either`);
    }
    if (secret !== undefined) checkWebhookSecret(secret, where);
    endpoints[tenant] = { url: target as string, secret: chosen };
  }
  return endpoints;
}

/** `WEBHOOK_RETRY_SCHEDULE`: seconds before each attempt, comma-separated, e.g. `0,5,300`. */
function parseRetrySchedule(raw: string): number[] {
  const parts = raw.split(',').map((s) => s.trim());
  const week = 7 * 86_400;
  if (parts.length > 30 || parts.some((p) => !/^\d+$/.test(p) || Number(p) > week)) {
    throw new ConfigError(
      `WEBHOOK_RETRY_SCHEDULE lists the seconds before each attempt (1 to 30 whole numbers up to ${week}), ` +
        `e.g. 0,5,300; got "${raw}"`,
    );
  }
  return parts.map(Number);
}

/**
 * `SECRETS_ENCRYPTION_KEY`: 32 random bytes as 64 hex characters or as base64 (standard or URL-safe
 * alphabet, padding optional). Hex is tried first: 64 hex characters are also valid base64 (of 48
 * bytes). The message never repeats the value.
 */
export function parseSecretsKey(raw: string | undefined): Buffer | undefined {
  if (raw === undefined) return undefined;
  if (/^[0-9a-fA-F]{64}$/.test(raw)) return Buffer.from(raw, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(raw) || /^[A-Za-z0-9_-]{43}=?$/.test(raw)) {
    return Buffer.from(
      raw.replace(/=$/, ''),
      raw.includes('-') || raw.includes('_') ? 'base64url' : 'base64',
    );
  }
  throw new ConfigError(
    `SECRETS_ENCRYPTION_KEY must be 32 random bytes, as base64 (44 characters: openssl rand -base64 32) ` +
      `or as 64 hex characters (openssl rand -hex 32); the value given has ${raw.length} characters ` +
      'and is neither. Leave it empty to run without storing webhook secrets in the database',
  );
}

function parseTrustProxy(raw: string | undefined): boolean | number | string {
  if (raw === undefined || raw.trim() === '' || raw.trim() === 'false') return false;
  if (raw.trim() === 'true') return true;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  return raw.trim();
}

/** `VLLM_ENDPOINTS`: comma-separated vLLM base URLs, each ending in /v1, no duplicates. */
export function parseVllmEndpoints(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const seen = new Map<string, number>();
  const list: string[] = [];
  // Numbered by position in the variable, so a message points at the text the operator wrote.
  raw.split(',').forEach((text, i) => {
    const part = text.trim();
    if (part === '') return;
    const where = `VLLM_ENDPOINTS entry #${i + 1}`;
    let normalised: string;
    try {
      normalised = normalizeUpstreamBaseUrl(part);
    } catch (err) {
      if (err instanceof UpstreamUrlError) throw new ConfigError(`${where} ${err.message}`);
      throw err;
    }
    const first = seen.get(normalised);
    if (first !== undefined) {
      throw new ConfigError(`${where} is the same endpoint as entry #${first + 1} (${normalised})`);
    }
    seen.set(normalised, i);
    list.push(normalised);
  });
  return list;
}

function dnsDiscovery(env: Env): DnsDiscovery | undefined {
  const raw = optional(env, 'VLLM_DISCOVERY');
  if (raw === undefined) return undefined;
  try {
    return parseDnsDiscovery(raw);
  } catch (err) {
    if (err instanceof UpstreamUrlError) throw new ConfigError(`VLLM_DISCOVERY ${err.message}`);
    throw err;
  }
}

function discoveryNameserver(env: Env): string | undefined {
  const raw = optional(env, 'VLLM_DISCOVERY_NAMESERVER');
  if (raw === undefined) return undefined;
  try {
    return parseNameserver(raw);
  } catch (err) {
    if (err instanceof UpstreamUrlError) throw new ConfigError(`VLLM_DISCOVERY_NAMESERVER ${err.message}`);
    throw err;
  }
}

const MB = 1024 * 1024;

/** PostgreSQL settings, all a process needs to migrate (the migration CLI reads only these). */
export function loadDatabaseConfig(
  env: Env = process.env,
): Pick<AppConfig, 'databaseUrl' | 'databasePoolMax'> {
  return {
    databaseUrl: url(env, 'DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/vllm_batch', [
      'postgres:',
      'postgresql:',
    ]),
    databasePoolMax: int(env, 'DATABASE_POOL_MAX', 10, 1, 1000),
  };
}

/** `user:password` pairs separated by commas (the password may hold colons, not commas). */
export function parseAdminUsers(raw: string | undefined): AdminUser[] {
  if (raw === undefined || raw.trim() === '') return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((entry, i) => {
      const colon = entry.indexOf(':');
      if (colon <= 0 || colon === entry.length - 1) {
        throw new ConfigError(`ADMIN_USERS entry #${i + 1} must be user:password`);
      }
      return { user: entry.slice(0, colon), password: entry.slice(colon + 1) };
    });
}

function adminUsers(env: Env): AdminUser[] {
  const user = optional(env, 'ADMIN_USER');
  const password = optional(env, 'ADMIN_PASSWORD');
  if ((user === undefined) !== (password === undefined)) {
    throw new ConfigError('ADMIN_USER and ADMIN_PASSWORD must be set together');
  }
  const users = [...(user && password ? [{ user, password }] : []), ...parseAdminUsers(env.ADMIN_USERS)];
  const seen = new Set<string>();
  for (const u of users) {
    if (seen.has(u.user)) throw new ConfigError(`Admin user "${u.user}" is configured twice`);
    seen.add(u.user);
  }
  return users;
}

/**
 * Why an API process must not start, or null when it may. With no API key anywhere the API serves
 * every caller as one tenant: fine on a laptop; in production it must be asked for, so a Secret
 * that failed to mount cannot silently open the API. Keys may live in API_KEYS or in the database
 * (created through the admin API), so the check runs once the database can be asked. With neither,
 * a production process still starts when the admin API is on (it refuses every API request until a
 * key is created there); without the admin API no key could ever be made, so it refuses to start.
 * A worker-only process serves no API, so the rule does not concern it.
 */
export function openAccessRefusal(
  config: Pick<AppConfig, 'role' | 'apiKeys' | 'allowOpenAccess' | 'production' | 'adminUsers'>,
  databaseHasKeys: boolean,
): string | null {
  if (config.role === 'worker' || config.apiKeys.length > 0 || config.allowOpenAccess) return null;
  if (!config.production || databaseHasKeys || config.adminUsers.length > 0) return null;
  return (
    'API_KEYS is empty and NODE_ENV=production, and the database holds no API key: the API would be open to ' +
    'anyone who reaches it. Set API_KEYS=tenant:key,..., or ADMIN_USER/ADMIN_PASSWORD to create keys through ' +
    'the admin API, or, to run open on purpose, ALLOW_OPEN_ACCESS=true'
  );
}

export function loadConfig(env: Env = process.env): AppConfig {
  const vllmBaseUrl = url(env, 'VLLM_BASE_URL', 'http://127.0.0.1:8000/v1', ['http:', 'https:']);
  const derivedMetricsUrl = vllmBaseUrl.replace(/\/v1$/, '') + '/metrics';
  const role = oneOf<AppRole>(env, 'APP_ROLE', 'all', ['all', 'api', 'worker']);
  const apiKeys = parseApiKeys(env.API_KEYS);
  const allowOpenAccess = bool(env, 'ALLOW_OPEN_ACCESS', false);
  const priorityRaw = optional(env, 'VLLM_PRIORITY');
  const minute = 60_000;
  const minInflight = int(env, 'WORKER_MIN_INFLIGHT', 1, 1, 100_000);
  const maxInflight = int(env, 'WORKER_MAX_INFLIGHT', 512, 1, 100_000);
  if (minInflight > maxInflight)
    throw new ConfigError('WORKER_MIN_INFLIGHT must not exceed WORKER_MAX_INFLIGHT');
  const storageDriver = oneOf<StorageDriverName>(env, 'STORAGE_DRIVER', 'local', ['local', 's3']);
  const s3Bucket = str(env, 'S3_BUCKET', '');
  if (storageDriver === 's3' && s3Bucket === '')
    throw new ConfigError('S3_BUCKET is required when STORAGE_DRIVER=s3');

  return {
    port: int(env, 'PORT', 4080, 0, 65535),
    role,
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    ...loadDatabaseConfig(env),
    migrationsRun: bool(env, 'MIGRATIONS_RUN', true),
    redisUrl: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    queuePrefix: str(env, 'QUEUE_PREFIX', 'vllm-batch'),
    vllmBaseUrl,
    vllmApiKey: optional(env, 'VLLM_API_KEY'),
    vllmMetricsUrl: optional(env, 'VLLM_METRICS_URL') ?? derivedMetricsUrl,
    upstreamsFile: optional(env, 'UPSTREAMS_FILE'),
    vllmDiscovery: dnsDiscovery(env),
    vllmDiscoveryIntervalMs: int(env, 'VLLM_DISCOVERY_INTERVAL_MS', 5000, 100, 3_600_000),
    vllmDiscoveryNameserver: discoveryNameserver(env),
    vllmEndpoints: parseVllmEndpoints(env.VLLM_ENDPOINTS),
    vllmRequestTimeoutMs: int(env, 'VLLM_REQUEST_TIMEOUT_MS', 600_000, 100),
    vllmPriority: priorityRaw === undefined ? undefined : int(env, 'VLLM_PRIORITY', 0, -1_000_000, 1_000_000),
    storageDriver,
    storageDir: str(env, 'STORAGE_DIR', './data/files'),
    s3: {
      endpoint: optional(env, 'S3_ENDPOINT'),
      bucket: s3Bucket,
      region: str(env, 'S3_REGION', 'us-east-1'),
      accessKeyId: optional(env, 'S3_ACCESS_KEY_ID'),
      secretAccessKey: optional(env, 'S3_SECRET_ACCESS_KEY'),
      forcePathStyle: bool(env, 'S3_FORCE_PATH_STYLE', true),
    },
    apiKeys,
    allowOpenAccess,
    production: str(env, 'NODE_ENV', '') === 'production',
    adminUsers: adminUsers(env),
    adminPort: int(env, 'ADMIN_PORT', 4081, 0, 65535),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    corsOrigins: str(env, 'CORS_ORIGINS', '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    metricsPort: int(env, 'METRICS_PORT', 9464, 0, 65535),
    metricsAuthToken: optional(env, 'METRICS_AUTH_TOKEN'),
    jsonBodyLimit: str(env, 'JSON_BODY_LIMIT', '1mb'),
    ready: {
      requires: readyDependencies(env),
      failAfterMs: int(env, 'READY_FAIL_AFTER_SECONDS', 15, 0, 3600) * 1000,
    },
    adminAuthFailLimit: int(env, 'ADMIN_AUTH_FAIL_LIMIT', 10, 1, 100_000),
    http: {
      headersTimeoutMs: int(env, 'HTTP_HEADERS_TIMEOUT_MS', 20_000, 1000, 600_000),
      keepAliveTimeoutMs: int(env, 'HTTP_KEEPALIVE_TIMEOUT_MS', 65_000, 1000, 3_600_000),
      requestTimeoutMs: int(env, 'HTTP_REQUEST_TIMEOUT_SECONDS', 60, 1, 86_400) * 1000,
      uploadTimeoutMs: int(env, 'UPLOAD_TIMEOUT_SECONDS', 3600, 1, 86_400) * 1000,
      maxConnections: int(env, 'MAX_CONNECTIONS', 4096, 1, 1_000_000),
    },
    files: {
      maxBatchFileBytes: int(env, 'MAX_BATCH_FILE_MB', 200, 1, 100_000) * MB,
      maxUploadBytes: int(env, 'MAX_UPLOAD_MB', 512, 1, 100_000) * MB,
      defaultExpiryDays: int(env, 'FILE_DEFAULT_EXPIRY_DAYS', 30, 0, 36_500),
    },
    batches: {
      endpoints: parseEndpoints(str(env, 'BATCH_ENDPOINTS', KNOWN_BATCH_ENDPOINTS.join(','))),
      maxLines: int(env, 'BATCH_MAX_LINES', 50_000, 1, 10_000_000),
      completionWindows: parseWindows(str(env, 'BATCH_COMPLETION_WINDOWS', '1h')),
      maxErrorsReported: int(env, 'BATCH_MAX_ERRORS_REPORTED', 100, 1, 10_000),
      enqueuedTokenLimit: int(env, 'BATCH_ENQUEUED_TOKEN_LIMIT', 0, 0),
      defaultMaxTokens: int(env, 'BATCH_DEFAULT_MAX_TOKENS', 1024, 0, 2 ** 31 - 1),
      maxActivePerTenant: int(env, 'BATCH_MAX_ACTIVE_PER_TENANT', 0, 0, 1_000_000),
    },
    worker: {
      concurrencyMode: oneOf<ConcurrencyMode>(env, 'WORKER_CONCURRENCY_MODE', 'adaptive', [
        'adaptive',
        'fixed',
      ]),
      fixedInflight: int(env, 'WORKER_FIXED_INFLIGHT', 64, 1, 100_000),
      minInflight,
      maxInflight,
      batchConcurrency: int(env, 'WORKER_BATCH_CONCURRENCY', 8, 1, 1000),
      maxAttempts: int(env, 'WORKER_MAX_ATTEMPTS', 8, 1, 100),
      retryBaseMs: int(env, 'WORKER_RETRY_BASE_MS', 500, 1),
      retryMaxMs: int(env, 'WORKER_RETRY_MAX_MS', 15_000, 1),
      reconcileIntervalMs: int(env, 'RECONCILE_INTERVAL_MS', 30_000, 100),
    },
    models: {
      freshMs: int(env, 'MODELS_FRESH_SECONDS', 120, 1, 31_536_000) * 1000,
    },
    throttle: {
      batchCreate: {
        limit: int(env, 'THROTTLE_BATCH_CREATE_LIMIT', 10, 1),
        ttlMs: int(env, 'THROTTLE_BATCH_CREATE_TTL_MS', minute, 1),
      },
      fileUpload: {
        limit: int(env, 'THROTTLE_FILE_UPLOAD_LIMIT', 20, 1),
        ttlMs: int(env, 'THROTTLE_FILE_UPLOAD_TTL_MS', minute, 1),
      },
      reads: {
        limit: int(env, 'THROTTLE_READ_LIMIT', 600, 1),
        ttlMs: int(env, 'THROTTLE_READ_TTL_MS', minute, 1),
      },
      mutations: {
        limit: int(env, 'THROTTLE_MUTATION_LIMIT', 60, 1),
        ttlMs: int(env, 'THROTTLE_MUTATION_TTL_MS', minute, 1),
      },
      tiers: parseTiers(str(env, 'THROTTLE_TIERS', '')),
      redisUrl:
        optional(env, 'THROTTLE_REDIS_URL') === undefined
          ? undefined
          : url(env, 'THROTTLE_REDIS_URL', '', ['redis:', 'rediss:']),
    },
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_SECONDS', 30, 0, 3600) * 1000,
    secretsEncryptionKey: parseSecretsKey(optional(env, 'SECRETS_ENCRYPTION_KEY')),
    webhooks: {
      endpoints: parseWebhooks(optional(env, 'WEBHOOKS'), optional(env, 'WEBHOOK_SECRET')),
      rotationGraceSeconds: int(env, 'WEBHOOK_SECRET_ROTATION_GRACE_SECONDS', 86_400, 0, 30 * 86_400),
      retryScheduleSeconds: parseRetrySchedule(
        str(env, 'WEBHOOK_RETRY_SCHEDULE', '0,5,300,1800,7200,28800,86400'),
      ),
      timeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 300_000),
    },
  };
}

/** Injection token for the AppConfig object. */
export const APP_CONFIG = Symbol('APP_CONFIG');
