import { Logger } from '@nestjs/common';
import { AppConfig } from '../../../platform/config/app-config';
import { defaultMetricsUrl } from '../../../platform/config/upstream-url';
import { DnsUpstreamSource } from './dns-upstream-source';
import { FileUpstreamSource } from './file-upstream-source';
import { StaticUpstreamSource } from './static-upstream-source';
import { UpstreamSource, UpstreamSpec } from './upstream-spec';

export interface UpstreamSourceDeps {
  /** A records of a name (node:dns, asking VLLM_DISCOVERY_NAMESERVER if set, by default). */
  resolve4?: (host: string) => Promise<string[]>;
  /** Where api_key_env names are looked up (process.env by default). */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** UPSTREAMS_FILE: how often its content is compared besides watching (ms, default 3000). */
  filePollIntervalMs?: number;
  /** Where SIGHUP comes from (the process by default). */
  signals?: NodeJS.EventEmitter;
}

/** The settings that name upstreams but lose to a higher source, for the start-up log. */
function ignoredSettings(config: AppConfig, used: UpstreamSource['kind']): string[] {
  const ignored: string[] = [];
  if (used === 'file' && config.vllmDiscovery) ignored.push('VLLM_DISCOVERY');
  if (used !== 'dns' && config.vllmDiscoveryNameserver !== undefined)
    ignored.push('VLLM_DISCOVERY_NAMESERVER');
  if ((used === 'file' || used === 'dns') && config.vllmEndpoints.length > 0) ignored.push('VLLM_ENDPOINTS');
  if (used !== 'single' && config.vllmMetricsUrl !== defaultMetricsUrl(config.vllmBaseUrl)) {
    ignored.push('VLLM_METRICS_URL');
  }
  return ignored;
}

class Described implements UpstreamSource {
  constructor(
    private readonly inner: UpstreamSource,
    private readonly ignored: string[],
  ) {}
  get kind() {
    return this.inner.kind;
  }
  start(onChange: (specs: UpstreamSpec[]) => void) {
    return this.inner.start(onChange);
  }
  stop() {
    return this.inner.stop();
  }
  describe() {
    const base = this.inner.describe();
    return this.ignored.length === 0 ? base : `${base}; ignored: ${this.ignored.join(', ')}`;
  }
}

function pick(config: AppConfig, deps: UpstreamSourceDeps, logger: Logger): UpstreamSource {
  if (config.upstreamsFile !== undefined) {
    return new FileUpstreamSource({
      path: config.upstreamsFile,
      defaults: {
        apiKey: config.vllmApiKey,
        maxInflight: config.worker.maxInflight,
        env: deps.env ?? process.env,
      },
      logger,
      pollIntervalMs: deps.filePollIntervalMs,
      signals: deps.signals,
    });
  }
  if (config.vllmDiscovery !== undefined) {
    return new DnsUpstreamSource({
      host: config.vllmDiscovery.host,
      port: config.vllmDiscovery.port,
      intervalMs: config.vllmDiscoveryIntervalMs,
      apiKey: config.vllmApiKey,
      nameserver: config.vllmDiscoveryNameserver,
      resolve4: deps.resolve4,
      logger,
    });
  }
  const withKey = (spec: UpstreamSpec): UpstreamSpec =>
    config.vllmApiKey === undefined ? spec : { ...spec, apiKey: config.vllmApiKey };
  if (config.vllmEndpoints.length > 0) {
    return new StaticUpstreamSource(
      'list',
      config.vllmEndpoints.map((url) => withKey({ url, metricsUrl: defaultMetricsUrl(url) })),
    );
  }
  return new StaticUpstreamSource('single', [
    withKey({ url: config.vllmBaseUrl.replace(/\/+$/, ''), metricsUrl: config.vllmMetricsUrl }),
  ]);
}

/**
 * The one source of the worker's vLLM replicas, in this order: UPSTREAMS_FILE, else VLLM_DISCOVERY,
 * else VLLM_ENDPOINTS, else VLLM_BASE_URL alone (with VLLM_METRICS_URL, today's behaviour).
 */
export function createUpstreamSource(config: AppConfig, deps: UpstreamSourceDeps = {}): UpstreamSource {
  const logger = deps.logger ?? new Logger('Upstreams');
  const source = pick(config, deps, logger);
  return new Described(source, ignoredSettings(config, source.kind));
}
