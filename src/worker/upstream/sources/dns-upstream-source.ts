import { Logger } from '@nestjs/common';
import { Resolver } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { rateLimitedWarning } from '../../../common/rate-limited-warning';
import { defaultMetricsUrl } from '../../../platform/config/upstream-url';
import { endpointCount, sameUpstreamList, UpstreamSource, UpstreamSpec } from './upstream-spec';

export interface DnsUpstreamSourceOptions {
  host: string;
  port: number;
  intervalMs: number;
  /** VLLM_API_KEY, sent to every replica found. */
  apiKey?: string;
  /** VLLM_DISCOVERY_NAMESERVER: the DNS server asked (`ip[:port]`) instead of the system's. */
  nameserver?: string;
  /** A records of a name; by default asked of `nameserver`, else of the system's resolvers. */
  resolve4?: (host: string) => Promise<string[]>;
  logger: Logger;
}

/**
 * resolve4 against one DNS server (a cluster DNS address, a test's own server), or the system's
 * resolvers (/etc/resolv.conf) when none is named.
 */
export function dnsResolve4(nameserver?: string): (host: string) => Promise<string[]> {
  const resolver = new Resolver();
  if (nameserver !== undefined) resolver.setServers([nameserver]);
  return (host) => resolver.resolve4(host);
}

const WARNING_INTERVAL_MS = 60_000;
/** Resolver answers meaning "this name has no A records now" rather than "DNS is not answering". */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);
/** Consecutive empty answers before the list is really emptied. */
const EMPTY_ANSWERS_TO_DRAIN = 2;

function byAddress(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/**
 * VLLM_DISCOVERY=dns:<host>:<port>: the replicas are the A records of a Kubernetes headless Service,
 * resolved every VLLM_DISCOVERY_INTERVAL_MS. A replica that appears is used; one that vanishes is
 * drained by the pool. Kubernetes answers NXDOMAIN / no data for a headless Service with no ready
 * pod, so those count as an empty answer; any other failure (timeout, refused, SERVFAIL) keeps the
 * last list. One empty answer is not trusted on its own: the list empties only when the next
 * resolution is empty too, so one bad answer does not drain every replica.
 */
export class DnsUpstreamSource implements UpstreamSource {
  readonly kind = 'dns' as const;
  private current: UpstreamSpec[] = [];
  private emptyAnswers = 0;
  private onChange: ((specs: UpstreamSpec[]) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly warn: (message: string) => void;
  private readonly resolve4: (host: string) => Promise<string[]>;

  constructor(private readonly options: DnsUpstreamSourceOptions) {
    this.warn = rateLimitedWarning(options.logger, WARNING_INTERVAL_MS);
    this.resolve4 = options.resolve4 ?? dnsResolve4(options.nameserver);
  }

  private get name(): string {
    const via = this.options.nameserver === undefined ? '' : ` (asking ${this.options.nameserver})`;
    return `VLLM_DISCOVERY dns:${this.options.host}:${this.options.port}${via}`;
  }

  /** Resolves once before returning (a failure there starts with no replicas and keeps trying). */
  async start(onChange: (specs: UpstreamSpec[]) => void): Promise<void> {
    this.stopped = false;
    await this.resolveNow();
    this.onChange = onChange;
    onChange(this.current.map((s) => ({ ...s })));
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.chain;
  }

  describe(): string {
    return `${this.name} every ${this.options.intervalMs} ms (${endpointCount(this.current.length)})`;
  }

  /** One resolution, applied; resolutions run one at a time. */
  resolveNow(): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      try {
        await this.resolveAndApply();
      } catch (err) {
        this.warn(
          `${this.name}: ${(err as Error).message}; keeping the ${endpointCount(this.current.length)} in use`,
        );
      }
    });
    return this.chain;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.resolveNow().then(() => this.schedule());
    }, this.options.intervalMs);
    this.timer.unref();
  }

  private async resolveAndApply(): Promise<void> {
    let answer: string[];
    try {
      answer = await this.resolve4(this.options.host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === undefined || !NO_RECORDS.has(code)) {
        this.warn(
          `${this.name}: resolution failed (${code ?? (err as Error).message}); ` +
            `keeping the ${endpointCount(this.current.length)} in use`,
        );
        return;
      }
      answer = [];
    }
    const addresses = [...new Set(answer.filter((a) => isIPv4(a)))].sort(byAddress);
    if (addresses.length === 0) {
      this.emptyAnswers++;
      if (this.current.length > 0 && this.emptyAnswers < EMPTY_ANSWERS_TO_DRAIN) {
        this.warn(
          `${this.name}: no A records; keeping the ${endpointCount(this.current.length)} until the next answer`,
        );
        return;
      }
      if (this.current.length === 0) {
        this.warn(`${this.name}: no A records (no ready replica behind the name?)`);
      }
    } else {
      this.emptyAnswers = 0;
    }
    const specs = addresses.map((ip) => this.spec(ip));
    if (this.stopped || sameUpstreamList(specs, this.current)) return;
    const before = new Set(this.current.map((s) => s.url));
    const after = new Set(specs.map((s) => s.url));
    const appeared = specs.filter((s) => !before.has(s.url)).map((s) => s.url);
    const vanished = this.current.filter((s) => !after.has(s.url)).map((s) => s.url);
    this.current = specs;
    this.options.logger.log(
      `${this.name} (${endpointCount(specs.length)}): ` +
        [
          appeared.length ? `appeared ${appeared.join(', ')}` : '',
          vanished.length ? `vanished ${vanished.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; '),
    );
    this.onChange?.(specs.map((s) => ({ ...s })));
  }

  private spec(ip: string): UpstreamSpec {
    const url = `http://${ip}:${this.options.port}/v1`;
    const spec: UpstreamSpec = { url, metricsUrl: defaultMetricsUrl(url) };
    if (this.options.apiKey !== undefined) spec.apiKey = this.options.apiKey;
    return spec;
  }
}
