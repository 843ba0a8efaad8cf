import { parseDocument } from 'yaml';
import {
  defaultMetricsUrl,
  normalizeHttpUrl,
  normalizeUpstreamBaseUrl,
  UpstreamUrlError,
} from '../../../platform/config/upstream-url';
import { UpstreamSpec } from './upstream-spec';

/**
 * The UPSTREAMS_FILE format:
 *
 *   endpoints:
 *     - url: http://vllm-a:8000/v1
 *       api_key_env: VLLM_A_KEY            # or api_key: "…"; neither = VLLM_API_KEY
 *       models: [llama-3.1-8b, llama]      # optional; otherwise GET /v1/models
 *       max_inflight: 64                   # optional cap for this endpoint
 *       min_inflight: 4                    # optional WORKER_MIN_INFLIGHT for this endpoint
 *       fixed_inflight: 32                 # optional WORKER_FIXED_INFLIGHT for this endpoint
 *       metrics_url: http://vllm-a:8000/metrics   # optional
 *
 * Checked strictly: a misspelt key is an error rather than a setting silently ignored. Messages
 * name the entry (`UPSTREAMS_FILE endpoints[1].url: …`) and never hold a key's value.
 */
export class UpstreamsFileError extends Error {}

export interface UpstreamsFileDefaults {
  /** VLLM_API_KEY, for entries that name no key. */
  apiKey?: string;
  /** WORKER_MAX_INFLIGHT, the bound a per-endpoint min_inflight must respect without max_inflight. */
  maxInflight: number;
  /** Where api_key_env names are looked up. */
  env: NodeJS.ProcessEnv;
}

const ENTRY_KEYS = [
  'url',
  'api_key',
  'api_key_env',
  'models',
  'max_inflight',
  'min_inflight',
  'fixed_inflight',
  'metrics_url',
] as const;
const INFLIGHT_MAX = 100_000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const PREFIX = 'UPSTREAMS_FILE';

function fail(where: string, message: string): never {
  throw new UpstreamsFileError(`${PREFIX} ${where}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function inflight(entry: Record<string, unknown>, key: string, where: string): number | undefined {
  const v = entry[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > INFLIGHT_MAX) {
    fail(`${where}.${key}`, `must be a whole number from 1 to ${INFLIGHT_MAX}`);
  }
  return v;
}

function url(value: unknown, where: string, normalise: (raw: string) => string): string {
  if (typeof value !== 'string' || value.trim() === '') fail(where, 'must be a URL string');
  try {
    return normalise(value);
  } catch (err) {
    if (err instanceof UpstreamUrlError) fail(where, err.message);
    throw err;
  }
}

function apiKey(entry: Record<string, unknown>, where: string, defaults: UpstreamsFileDefaults) {
  const { api_key: literal, api_key_env: envName } = entry;
  if (literal !== undefined && envName !== undefined) {
    fail(where, 'give api_key or api_key_env, not both');
  }
  if (literal !== undefined) {
    // The value never enters a message: it is a secret even when it is malformed.
    if (typeof literal !== 'string' || literal.trim() === '')
      fail(`${where}.api_key`, 'must be a non-empty string');
    return literal.trim();
  }
  if (envName !== undefined) {
    if (typeof envName !== 'string' || !ENV_NAME.test(envName)) {
      fail(`${where}.api_key_env`, 'must be the name of an environment variable, e.g. VLLM_A_KEY');
    }
    const value = defaults.env[envName];
    if (value === undefined || value.trim() === '') {
      fail(`${where}.api_key_env`, `the environment variable ${envName} is not set (or empty)`);
    }
    return value.trim();
  }
  return defaults.apiKey;
}

function models(value: unknown, where: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    fail(
      where,
      'must be a non-empty list of model names (leave it out to discover them from GET /v1/models)',
    );
  }
  const seen = new Set<string>();
  return value.map((m, i) => {
    if (typeof m === 'number' || typeof m === 'boolean') {
      fail(`${where}[${i}]`, `YAML reads ${String(m)} as a ${typeof m}: quote the model name`);
    }
    if (typeof m !== 'string' || m.trim() === '') fail(`${where}[${i}]`, 'must be a non-empty model name');
    const name = m.trim();
    if (seen.has(name)) fail(`${where}[${i}]`, `"${name}" is listed twice`);
    seen.add(name);
    return name;
  });
}

function entrySpec(raw: unknown, where: string, defaults: UpstreamsFileDefaults): UpstreamSpec {
  if (!isObject(raw)) fail(where, 'must be a mapping with at least url');
  const unknownKeys = Object.keys(raw).filter((k) => !(ENTRY_KEYS as readonly string[]).includes(k));
  if (unknownKeys.length > 0) {
    fail(where, `unknown key(s) ${unknownKeys.join(', ')}; allowed: ${ENTRY_KEYS.join(', ')}`);
  }
  if (raw.url === undefined) fail(`${where}.url`, 'is required');
  const base = url(raw.url, `${where}.url`, normalizeUpstreamBaseUrl);
  const key = apiKey(raw, where, defaults);
  const served = models(raw.models, `${where}.models`);
  const metricsUrl =
    raw.metrics_url === undefined || raw.metrics_url === null
      ? defaultMetricsUrl(base)
      : url(raw.metrics_url, `${where}.metrics_url`, normalizeHttpUrl);
  const maxInflight = inflight(raw, 'max_inflight', where);
  const minInflight = inflight(raw, 'min_inflight', where);
  const fixedInflight = inflight(raw, 'fixed_inflight', where);
  const cap = maxInflight ?? defaults.maxInflight;
  if (minInflight !== undefined && minInflight > cap) {
    fail(
      `${where}.min_inflight`,
      `${minInflight} exceeds ${maxInflight !== undefined ? 'max_inflight' : 'WORKER_MAX_INFLIGHT'} (${cap})`,
    );
  }
  if (fixedInflight !== undefined && maxInflight !== undefined && fixedInflight > maxInflight) {
    fail(`${where}.fixed_inflight`, `${fixedInflight} exceeds max_inflight (${maxInflight})`);
  }
  const spec: UpstreamSpec = { url: base, metricsUrl };
  if (key !== undefined) spec.apiKey = key;
  if (served !== undefined) spec.models = served;
  if (maxInflight !== undefined) spec.maxInflight = maxInflight;
  if (minInflight !== undefined) spec.minInflight = minInflight;
  if (fixedInflight !== undefined) spec.fixedInflight = fixedInflight;
  return spec;
}

/** The file's text as specs; throws UpstreamsFileError naming the first problem found. */
export function parseUpstreamsFile(text: string, defaults: UpstreamsFileDefaults): UpstreamSpec[] {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    // Only the first line of yaml's message: the rest quotes the file, which may hold a key.
    const first = doc.errors[0].message.split('\n')[0].replace(/:$/, '');
    fail('is not valid YAML', first);
  }
  const root: unknown = doc.toJS({ maxAliasCount: 100 });
  if (!isObject(root)) fail('content', 'must be a mapping with an endpoints list');
  const unknownKeys = Object.keys(root).filter((k) => k !== 'endpoints');
  if (unknownKeys.length > 0) fail('content', `unknown key(s) ${unknownKeys.join(', ')}; allowed: endpoints`);
  const list = root.endpoints;
  if (!Array.isArray(list)) fail('endpoints', 'must be a list of endpoints');
  if (list.length === 0) fail('endpoints', 'must list at least one endpoint');
  const seen = new Map<string, number>();
  return list.map((raw, i) => {
    const spec = entrySpec(raw, `endpoints[${i}]`, defaults);
    const first = seen.get(spec.url);
    if (first !== undefined) fail(`endpoints[${i}].url`, `${spec.url} is already endpoints[${first}]`);
    seen.set(spec.url, i);
    return spec;
  });
}
