/** The /metrics page: Prometheus text in the shape vLLM's prometheus_client output has. */
import type { Engine } from './engine';

export interface MetricsSource {
  engine: Engine<unknown>;
  /** Labels every metric but the info gauge. */
  model: string;
  /** See SimulatorOptions.legacyMetricNames. */
  legacyMetricNames: boolean;
  successTotals: { stop: number; length: number };
  abortedTotal: number;
}

type Sample = [name: string, type: 'gauge' | 'counter', help: string, value: number];

export function metricsText(src: MetricsSource): string {
  const labels = `model_name="${escapeLabel(src.model)}",engine="0"`;
  const e = src.engine;
  const c = e.counters;
  const usage = e.kvCacheUsage;
  const samples: Sample[] = [
    ['vllm:num_requests_running', 'gauge', 'Number of requests in model execution batches.', e.numRunning],
    ['vllm:num_requests_waiting', 'gauge', 'Number of requests waiting to be processed.', e.numWaiting],
    ...(src.legacyMetricNames
      ? []
      : [
          [
            'vllm:kv_cache_usage_perc',
            'gauge',
            'KV-cache usage. 1 means 100 percent usage.',
            usage,
          ] as Sample,
        ]),
    ['vllm:gpu_cache_usage_perc', 'gauge', 'GPU KV-cache usage. 1 means 100 percent usage.', usage],
    [
      'vllm:num_preemptions_total',
      'counter',
      'Cumulative number of preemption from the engine.',
      c.preemptions,
    ],
    ['vllm:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.', c.promptTokens],
    ['vllm:generation_tokens_total', 'counter', 'Number of generation tokens processed.', c.generationTokens],
  ];
  const lines: string[] = [];
  for (const [name, type, help, value] of samples) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}{${labels}} ${num(value)}`);
  }
  const success = (reason: string, value: number): string =>
    `vllm:request_success_total{${labels},finished_reason="${reason}"} ${num(value)}`;
  lines.push(
    '# HELP vllm:request_success_total Count of successfully processed requests.',
    '# TYPE vllm:request_success_total counter',
    success('stop', src.successTotals.stop),
    success('length', src.successTotals.length),
    success('abort', src.abortedTotal),
  );
  // vLLM's info gauge carries the cache config as labels and no model_name.
  const cfg = e.getConfig();
  lines.push(
    '# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig',
    '# TYPE vllm:cache_config_info gauge',
    `vllm:cache_config_info{block_size="${cfg.blockSize}",cache_dtype="auto",calculate_kv_scales="False",cpu_offload_gb="0",enable_prefix_caching="False",engine="0",gpu_memory_utilization="0.9",is_attention_free="False",num_cpu_blocks="None",num_gpu_blocks="${cfg.numGpuBlocks}",num_gpu_blocks_override="None",sliding_window="None",swap_space_bytes="4294967296"} 1.0`,
  );
  return lines.join('\n') + '\n';
}

/** Prometheus prints whole numbers as floats (1.0). */
function num(v: number): string {
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
