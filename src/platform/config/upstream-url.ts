/**
 * The spelling rules for vLLM base URLs, shared by the configuration (VLLM_ENDPOINTS, checked at
 * start) and the upstream sources (UPSTREAMS_FILE, DNS discovery). A replica's normalised base URL
 * is its identity: the pool keys replicas by it and metrics label them with it, so two spellings
 * of one server (`HTTP://Host:8000/v1/`, `http://host:8000/v1`) must come out the same, and a URL
 * must never carry credentials (they would end up in metric labels and logs).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Thrown with the reason only; callers prefix the variable or entry it came from. */
export class UpstreamUrlError extends Error {}

function parseHttpUrl(raw: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(raw.trim());
  } catch {
    throw new UpstreamUrlError(`must be an http:// or https:// URL, got "${raw}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UpstreamUrlError(`must use http: or https:, got "${parsed.protocol}"`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    // The URL becomes a metric label and a log field; a key belongs in api_key / VLLM_API_KEY.
    throw new UpstreamUrlError('must not hold credentials (user:password@); give the key as an API key');
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new UpstreamUrlError(`must have no query or fragment, got "${parsed.origin}${parsed.pathname}…"`);
  }
  return parsed;
}

/**
 * `http(s)://host[:port][/prefix]/v1`, lower-case scheme and host, default port dropped, no
 * trailing slash. Throws UpstreamUrlError when the URL is not an http(s) base URL ending in /v1.
 */
export function normalizeUpstreamBaseUrl(raw: string): string {
  const parsed = parseHttpUrl(raw);
  const path = parsed.pathname.replace(/\/+$/, '');
  if (!path.endsWith('/v1')) {
    throw new UpstreamUrlError(
      `must be vLLM's OpenAI base URL ending in /v1 (e.g. http://vllm:8000/v1), got "${parsed.origin}${parsed.pathname}"`,
    );
  }
  return `${parsed.origin}${path}`;
}

/** An http(s) URL such as a metrics page, normalised like a base URL but with any path. */
export function normalizeHttpUrl(raw: string): string {
  const parsed = parseHttpUrl(raw);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

/** vLLM serves Prometheus metrics at the server root: the base URL without /v1, plus /metrics. */
export function defaultMetricsUrl(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '') + '/metrics';
}

export interface DnsDiscovery {
  /** The name resolved for A records (a Kubernetes headless Service). */
  host: string;
  port: number;
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** `dns:<host>:<port>[/v1]`; throws UpstreamUrlError naming what is wrong. */
export function parseDnsDiscovery(raw: string): DnsDiscovery {
  const m = /^dns:([^:/]+):([^/]+)(\/v1\/?)?$/.exec(raw.trim());
  if (!m) {
    throw new UpstreamUrlError(
      `must look like dns:<host>:<port>[/v1], e.g. dns:vllm-headless.default.svc.cluster.local:8000, got "${raw}"`,
    );
  }
  const [, host, portText] = m;
  if (!HOSTNAME.test(host)) throw new UpstreamUrlError(`has an invalid host name "${host}"`);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new UpstreamUrlError(`port must be 1-65535, got "${portText}"`);
  }
  // A trailing dot (a fully qualified name, no search domains) is kept: it changes what resolves.
  return { host: host.toLowerCase(), port: Number(portText) };
}

/**
 * `VLLM_DISCOVERY_NAMESERVER`: the DNS server VLLM_DISCOVERY asks instead of the system's, as
 * `<ipv4>[:port]`, `<ipv6>` or `[<ipv6>]:port` (the form node:dns `setServers` takes; a resolver
 * is addressed by IP, never by name). Returned as given, port 53 implied when absent.
 */
export function parseNameserver(raw: string): string {
  const text = raw.trim();
  const bad = (): UpstreamUrlError =>
    new UpstreamUrlError(
      `must be a DNS server's IP address with an optional port, e.g. 10.96.0.10, 10.96.0.10:53 or [fd00::a]:53, got "${raw}"`,
    );
  const checkPort = (port: string): void => {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw new UpstreamUrlError(`port must be 1-65535, got "${port}"`);
    }
  };
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    if (!isIPv6(bracketed[1])) throw bad();
    if (bracketed[2] !== undefined) checkPort(bracketed[2]);
    return text;
  }
  if (isIPv6(text)) return text;
  const [host, port, ...rest] = text.split(':');
  if (rest.length > 0 || !isIPv4(host)) throw bad();
  if (port !== undefined) checkPort(port);
  return text;
}
