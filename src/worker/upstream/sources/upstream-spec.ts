/**
 * What every upstream source produces: the worker's current list of vLLM replicas. The pool
 * (../pool) consumes it; a source only says which replicas exist and how to reach them.
 */

export interface UpstreamSpec {
  /** Base URL ending in /v1, normalised (no trailing slash): the replica's identity. */
  url: string;
  /** Resolved key (api_key, or the env var api_key_env names, or VLLM_API_KEY). Never logged. */
  apiKey?: string;
  /** Configured model names/aliases it serves; undefined = discover from GET /v1/models. */
  models?: string[];
  /** Its Prometheus page (default: url without /v1, plus /metrics). */
  metricsUrl: string;
  /** Cap on this endpoint's in-flight requests (UPSTREAMS_FILE only). */
  maxInflight?: number;
  /** Per-endpoint WORKER_MIN_INFLIGHT (UPSTREAMS_FILE only). */
  minInflight?: number;
  /** Per-endpoint WORKER_FIXED_INFLIGHT (UPSTREAMS_FILE only). */
  fixedInflight?: number;
}

export type UpstreamSourceKind = 'file' | 'dns' | 'list' | 'single';

export interface UpstreamSource {
  readonly kind: UpstreamSourceKind;
  /**
   * Starts watching; calls onChange with the full current list before resolving and again on every
   * change (only when the list actually changed). Throws when the configuration is invalid at start.
   */
  start(onChange: (specs: UpstreamSpec[]) => void): Promise<void>;
  stop(): Promise<void>;
  /** For logs, e.g. "UPSTREAMS_FILE /etc/vllm-batch/upstreams.yaml (2 endpoints)"; never a key. */
  describe(): string;
}

/** The fields of a spec in a fixed order, so two lists compare by content. */
function canonical(spec: UpstreamSpec): unknown[] {
  return [
    spec.url,
    spec.apiKey ?? null,
    spec.models ?? null,
    spec.metricsUrl,
    spec.maxInflight ?? null,
    spec.minInflight ?? null,
    spec.fixedInflight ?? null,
  ];
}

/** A list's content regardless of order (the pool keys replicas by url; order means nothing). */
export function upstreamListKey(specs: readonly UpstreamSpec[]): string {
  return JSON.stringify(
    [...specs].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0)).map(canonical),
  );
}

export function sameUpstreamList(a: readonly UpstreamSpec[], b: readonly UpstreamSpec[]): boolean {
  return upstreamListKey(a) === upstreamListKey(b);
}

export function endpointCount(n: number): string {
  return `${n} endpoint${n === 1 ? '' : 's'}`;
}
