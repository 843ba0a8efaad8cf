import { request } from 'undici';
import { parsePrometheusText, PromSample } from '../../common/prometheus-text';

/** What the concurrency controller reads from one scrape of vLLM's `/metrics`. */
export interface VllmSample {
  /** KV-cache usage 0..1 (mean over engines); null when vLLM exports neither name. */
  kvUsage: number | null;
  /** Requests in vLLM's waiting queue (all clients, summed over engines). */
  waiting: number;
  /** Requests in the running batch (all clients, summed over engines). */
  running: number;
  /** Cumulative preemptions (summed over engines); null when absent. */
  preemptionsTotal: number | null;
  /** num_gpu_blocks × block_size from `vllm:cache_config_info` (summed over engines); null when absent. */
  kvCapacityTokens: number | null;
}

const KV = 'vllm:kv_cache_usage_perc';
const KV_LEGACY = 'vllm:gpu_cache_usage_perc';
const WAITING = 'vllm:num_requests_waiting';
const RUNNING = 'vllm:num_requests_running';
const PREEMPTIONS = 'vllm:num_preemptions_total';
const CACHE_INFO = 'vllm:cache_config_info';
const WANTED = new Set([KV, KV_LEGACY, WAITING, RUNNING, PREEMPTIONS, CACHE_INFO]);

const sum = (s: PromSample[] | undefined): number | null =>
  s && s.length > 0 ? s.reduce((a, x) => a + (Number.isFinite(x.value) ? x.value : 0), 0) : null;

/**
 * Turns vLLM's Prometheus text into a sample. Every series may carry `model_name` and `engine`
 * labels; gauges and counters are summed over them (KV usage is averaged). The cache info gauge has
 * no `model_name` (vLLM labels it with the cache config and the engine only), so it is never filtered
 * by model. Returns null when the text holds neither the running nor the waiting gauge: whatever
 * answered is not a vLLM.
 */
export function readVllmSample(text: string): VllmSample | null {
  const m = parsePrometheusText(text, WANTED);
  const running = sum(m.get(RUNNING));
  const waiting = sum(m.get(WAITING));
  if (running === null && waiting === null) return null;
  const kvSeries = m.get(KV) ?? m.get(KV_LEGACY);
  const kvUsage =
    kvSeries && kvSeries.length > 0
      ? Math.min(1, Math.max(0, kvSeries.reduce((a, s) => a + s.value, 0) / kvSeries.length))
      : null;
  let kvCapacityTokens: number | null = null;
  const seenEngines = new Set<string>();
  for (const s of m.get(CACHE_INFO) ?? []) {
    const engine = s.labels.engine ?? '';
    if (seenEngines.has(engine)) continue;
    const blocks = Number(s.labels.num_gpu_blocks);
    const blockSize = Number(s.labels.block_size);
    if (!(blocks > 0) || !(blockSize > 0)) continue;
    seenEngines.add(engine);
    kvCapacityTokens = (kvCapacityTokens ?? 0) + blocks * blockSize;
  }
  return {
    kvUsage,
    waiting: waiting ?? 0,
    running: running ?? 0,
    preemptionsTotal: sum(m.get(PREEMPTIONS)),
    kvCapacityTokens,
  };
}

/** The adapter that fetches vLLM's `/metrics`; swapped for a fake in tests. */
export interface VllmMetricsSource {
  scrape(): Promise<VllmSample>;
}

const SCRAPE_TIMEOUT_MS = 2000;

export class HttpVllmMetricsSource implements VllmMetricsSource {
  private readonly headers: Record<string, string> = {};

  constructor(
    private readonly url: string,
    apiKey?: string,
  ) {
    if (apiKey) this.headers.authorization = `Bearer ${apiKey}`;
  }

  async scrape(): Promise<VllmSample> {
    const res = await request(this.url, {
      method: 'GET',
      headers: this.headers,
      headersTimeout: SCRAPE_TIMEOUT_MS,
      bodyTimeout: SCRAPE_TIMEOUT_MS,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET ${this.url} answered ${res.statusCode}`);
    const sample = readVllmSample(text);
    if (!sample) throw new Error(`${this.url} does not export vLLM's request gauges`);
    return sample;
  }
}
