import type { AppConfig } from '../../../platform/config/app-config';

/** One vLLM replica as configured: where it is and what applies to it. */
export interface UpstreamSpec {
  /** Base URL ending in /v1, normalised (no trailing slash); the replica's identity. */
  url: string;
  /** Resolved value (from api_key, or api_key_env naming an env var, or VLLM_API_KEY). */
  apiKey?: string;
  /** Configured names/aliases it serves; undefined = discovered from GET /v1/models. */
  models?: string[];
  /** Its /metrics. */
  metricsUrl: string;
  /** Cap for this endpoint (file only). */
  maxInflight?: number;
  /** Per-endpoint overrides of WORKER_MIN/FIXED_INFLIGHT (file only). */
  minInflight?: number;
  fixedInflight?: number;
}

/** Where the worker's list of replicas comes from (file, DNS, list or the single VLLM_BASE_URL). */
export interface UpstreamSource {
  readonly kind: 'file' | 'dns' | 'list' | 'single';
  /** Starts watching; calls onChange with the full current list at once and on every change. */
  start(onChange: (specs: UpstreamSpec[]) => void): Promise<void>;
  stop(): Promise<void>;
  /** For logs, e.g. "UPSTREAMS_FILE /etc/vllm-batch/upstreams.yaml (2 endpoints)". */
  describe(): string;
}

/** The single VLLM_BASE_URL (until the other sources land). */
export function createUpstreamSource(config: AppConfig): UpstreamSource {
  const spec: UpstreamSpec = {
    url: config.vllmBaseUrl.replace(/\/+$/, ''),
    apiKey: config.vllmApiKey,
    metricsUrl: config.vllmMetricsUrl,
  };
  return {
    kind: 'single',
    start: async (onChange) => onChange([spec]),
    stop: async () => undefined,
    describe: () => `VLLM_BASE_URL ${spec.url}`,
  };
}
