import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { createSimulator } from '../../../simulator/simulator';
import { parsePrometheusText } from '../../common/prometheus-text';
import { HttpVllmMetricsSource, readVllmSample } from './vllm-metrics';

// The shape of vLLM's own exposition (prometheus_client): HELP/TYPE comments, model_name and engine
// labels on every series except the cache info gauge, counters with _total and _created series.
const VLLM_TEXT = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 37.0
vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 5.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
vllm:num_requests_waiting{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.9
vllm:kv_cache_usage_perc{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.5
# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
vllm:num_preemptions_total{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
vllm:num_preemptions_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7e+09
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",engine="0",num_gpu_blocks="2048",num_cpu_blocks="None",prefix_caching_hash_algo="builtin"} 1.0
vllm:cache_config_info{block_size="16",cache_dtype="auto",engine="1",num_gpu_blocks="1024",num_cpu_blocks="None",prefix_caching_hash_algo="builtin"} 1.0
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 123456.0
`;

describe('parsePrometheusText', () => {
  it('keeps only the wanted names, with labels (escapes undone) and values', () => {
    const text = [
      '# HELP a_metric something',
      'a_metric{x="1",y="q\\"uote\\\\ and \\n newline"} 2.5 1700000000000',
      'a_metric 7',
      'other_metric{x="1"} 9',
      'a_metric{x="nan"} NaN',
      'a_metric{x="inf"} +Inf',
      'garbage line without value',
      '',
    ].join('\n');
    const m = parsePrometheusText(text, new Set(['a_metric']));
    expect([...m.keys()]).toEqual(['a_metric']);
    const samples = m.get('a_metric') ?? [];
    expect(samples[0]).toEqual({ labels: { x: '1', y: 'q"uote\\ and \n newline' }, value: 2.5 });
    expect(samples[1]).toEqual({ labels: {}, value: 7 });
    expect(Number.isNaN(samples[2].value)).toBe(true);
    expect(samples[3].value).toBe(Infinity);
    expect(samples).toHaveLength(4);
  });
});

describe('readVllmSample', () => {
  it("sums vLLM's gauges and counters over engines and reads the KV capacity from the cache info gauge", () => {
    expect(readVllmSample(VLLM_TEXT)).toEqual({
      running: 42,
      waiting: 3,
      kvUsage: 0.7,
      preemptionsTotal: 15,
      // Neither cache info series has a model_name label; both engines count.
      kvCapacityTokens: 2048 * 16 + 1024 * 16,
    });
  });

  it('falls back to the older gpu_cache_usage_perc name', () => {
    const text = VLLM_TEXT.replace(/vllm:kv_cache_usage_perc/g, 'vllm:gpu_cache_usage_perc');
    expect(readVllmSample(text)?.kvUsage).toBeCloseTo(0.7);
  });

  it('leaves absent series null instead of guessing', () => {
    const sample = readVllmSample(
      'vllm:num_requests_running{model_name="m"} 1\nvllm:num_requests_waiting{model_name="m"} 0\n',
    );
    expect(sample).toEqual({
      running: 1,
      waiting: 0,
      kvUsage: null,
      preemptionsTotal: null,
      kvCapacityTokens: null,
    });
  });

  it('ignores a cache info gauge without usable block counts', () => {
    const text =
      'vllm:num_requests_running 1\nvllm:cache_config_info{block_size="16",num_gpu_blocks="None"} 1.0\n';
    expect(readVllmSample(text)?.kvCapacityTokens).toBeNull();
  });

  it('returns null for a page that is not vLLM metrics', () => {
    expect(readVllmSample('# nothing here\nprocess_cpu_seconds_total 3\n')).toBeNull();
    expect(readVllmSample('<html>404</html>')).toBeNull();
  });
});

describe('HttpVllmMetricsSource', () => {
  it("reads the simulator's /metrics, including its cache config without model_name", async () => {
    const sim = await createSimulator({ port: 0, numGpuBlocks: 512, blockSize: 16 });
    try {
      const source = new HttpVllmMetricsSource(sim.url.replace(/\/v1$/, '/metrics'));
      expect(await source.scrape()).toEqual({
        running: 0,
        waiting: 0,
        kvUsage: 0,
        preemptionsTotal: 0,
        kvCapacityTokens: 512 * 16,
      });
    } finally {
      await sim.close();
    }
  });

  it('fails on a non-200 answer and on a page without vLLM gauges', async () => {
    let status = 404;
    const server: Server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('process_cpu_seconds_total 1\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    try {
      await expect(new HttpVllmMetricsSource(url).scrape()).rejects.toThrow(/404/);
      status = 200;
      await expect(new HttpVllmMetricsSource(url).scrape()).rejects.toThrow(/vLLM/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
