import { Logger } from '@nestjs/common';
import { loadConfig } from '../../src/platform/config/app-config';
import { createUpstreamSource, DnsUpstreamSource, UpstreamSpec } from '../../src/worker/upstream/sources';
import { startDnsServer, TestDnsServer } from '../support/harness/dns-server';
import { until } from '../support/harness/wait';

function recordingLogger() {
  const logger = new Logger('test');
  const warnings: string[] = [];
  const logs: string[] = [];
  jest.spyOn(logger, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
  jest.spyOn(logger, 'log').mockImplementation((m: unknown) => void logs.push(String(m)));
  return { logger, warnings, logs };
}

const dnsError = (code: string) => Object.assign(new Error(`queryA ${code} vllm-headless`), { code });
const urls = (specs: UpstreamSpec[] | undefined) => (specs ?? []).map((s) => s.url);

/** A resolver answering from a script: an address list, or an error code to throw. */
function scriptedResolver() {
  const answers: Array<string[] | string> = [];
  const asked: string[] = [];
  let last: string[] | string = [];
  const resolve4 = async (host: string): Promise<string[]> => {
    asked.push(host);
    last = answers.length > 0 ? answers.shift()! : last;
    if (typeof last === 'string') throw dnsError(last);
    return last;
  };
  return { answers, asked, resolve4 };
}

describe('VLLM_DISCOVERY: replicas from DNS', () => {
  let source: DnsUpstreamSource | null = null;
  afterEach(async () => {
    await source?.stop();
    source = null;
  });

  async function started(first: string[] | string, apiKey?: string) {
    const dns = scriptedResolver();
    dns.answers.push(first);
    const log = recordingLogger();
    const lists: UpstreamSpec[][] = [];
    // One resolution per resolveNow() in these tests: the interval never comes round.
    source = new DnsUpstreamSource({
      host: 'vllm-headless.ml.svc.cluster.local',
      port: 8000,
      intervalMs: 3_600_000,
      apiKey,
      resolve4: dns.resolve4,
      logger: log.logger,
    });
    await source.start((specs) => lists.push(specs));
    return {
      ...dns,
      ...log,
      lists,
      next: (answer: string[] | string) => (dns.answers.push(answer), source!.resolveNow()),
    };
  }

  it('turns each A record into a replica on the configured port, in address order', async () => {
    const s = await started(['10.0.0.12', '10.0.0.5', '10.0.0.5'], 'shared-key-0001');
    expect(s.asked).toEqual(['vllm-headless.ml.svc.cluster.local']);
    expect(s.lists).toEqual([
      [
        {
          url: 'http://10.0.0.5:8000/v1',
          apiKey: 'shared-key-0001',
          metricsUrl: 'http://10.0.0.5:8000/metrics',
        },
        {
          url: 'http://10.0.0.12:8000/v1',
          apiKey: 'shared-key-0001',
          metricsUrl: 'http://10.0.0.12:8000/metrics',
        },
      ],
    ]);
    expect(source!.describe()).toBe(
      'VLLM_DISCOVERY dns:vllm-headless.ml.svc.cluster.local:8000 every 3600000 ms (2 endpoints)',
    );
  });

  it('adds replicas that appear and drops those that vanish, calling back only on a change', async () => {
    const s = await started(['10.0.0.5']);
    await s.next(['10.0.0.5']);
    await s.next(['10.0.0.6', '10.0.0.5']);
    await s.next(['10.0.0.5', '10.0.0.6']);
    await s.next(['10.0.0.6']);
    expect(s.lists.map(urls)).toEqual([
      ['http://10.0.0.5:8000/v1'],
      ['http://10.0.0.5:8000/v1', 'http://10.0.0.6:8000/v1'],
      ['http://10.0.0.6:8000/v1'],
    ]);
    expect(s.logs).toEqual([
      'VLLM_DISCOVERY dns:vllm-headless.ml.svc.cluster.local:8000 (1 endpoint): appeared http://10.0.0.5:8000/v1',
      'VLLM_DISCOVERY dns:vllm-headless.ml.svc.cluster.local:8000 (2 endpoints): appeared http://10.0.0.6:8000/v1',
      'VLLM_DISCOVERY dns:vllm-headless.ml.svc.cluster.local:8000 (1 endpoint): vanished http://10.0.0.5:8000/v1',
    ]);
  });

  it('keeps the last list while DNS fails, warning once rather than every time', async () => {
    const s = await started(['10.0.0.5', '10.0.0.6']);
    await s.next('ETIMEOUT');
    await s.next('ESERVFAIL');
    await s.next('ECONNREFUSED');
    expect(s.lists).toHaveLength(1);
    expect(s.warnings).toEqual([
      'VLLM_DISCOVERY dns:vllm-headless.ml.svc.cluster.local:8000: resolution failed (ETIMEOUT); keeping the 2 endpoints in use',
    ]);
    await s.next(['10.0.0.6']);
    expect(s.lists.map(urls)[1]).toEqual(['http://10.0.0.6:8000/v1']);
  });

  it('empties the list only when two answers in a row have no address (no ready pod: NXDOMAIN or no data)', async () => {
    const s = await started(['10.0.0.5']);
    await s.next('ENOTFOUND');
    expect(s.lists).toHaveLength(1);
    await s.next(['10.0.0.5']); // the lone empty answer was a blip
    await s.next([]);
    expect(s.lists).toHaveLength(1);
    await s.next('ENODATA');
    expect(s.lists.map(urls)).toEqual([['http://10.0.0.5:8000/v1'], []]);
    await s.next(['10.0.0.7']); // a replica back: used at once
    expect(s.lists.map(urls)[2]).toEqual(['http://10.0.0.7:8000/v1']);
  });

  it('does not count a failure between two empty answers as an answer', async () => {
    const s = await started(['10.0.0.5']);
    await s.next([]);
    await s.next('ETIMEOUT');
    expect(s.lists).toHaveLength(1);
    await s.next([]);
    expect(s.lists.map(urls)).toEqual([['http://10.0.0.5:8000/v1'], []]);
  });

  it('starts with no replica when DNS fails at start, and takes them when it answers', async () => {
    const s = await started('ETIMEOUT');
    expect(s.lists).toEqual([[]]);
    expect(s.warnings[0]).toMatch(/resolution failed \(ETIMEOUT\); keeping the 0 endpoints in use/);
    await s.next(['10.0.0.5']);
    expect(s.lists.map(urls)).toEqual([[], ['http://10.0.0.5:8000/v1']]);
  });

  it('ignores what is not an IPv4 address in an answer', async () => {
    const s = await started(['10.0.0.5', 'fe80::1', 'not-an-ip', '']);
    expect(s.lists.map(urls)).toEqual([['http://10.0.0.5:8000/v1']]);
  });

  it('resolves again every VLLM_DISCOVERY_INTERVAL_MS on its own', async () => {
    let answer = ['10.1.0.1'];
    const lists: UpstreamSpec[][] = [];
    const logger = recordingLogger().logger;
    const env = { VLLM_DISCOVERY: 'dns:vllm-headless:8080', VLLM_DISCOVERY_INTERVAL_MS: '100' };
    const discovery = createUpstreamSource(loadConfig(env), { resolve4: async () => answer, logger });
    await discovery.start((specs) => lists.push(specs));
    try {
      expect(urls(lists[0])).toEqual(['http://10.1.0.1:8080/v1']);
      answer = ['10.1.0.1', '10.1.0.2'];
      await until(() => lists.length === 2, 10_000, 'the new replica');
      expect(urls(lists[1])).toEqual(['http://10.1.0.1:8080/v1', 'http://10.1.0.2:8080/v1']);
      answer = ['10.1.0.2'];
      await until(() => lists.length === 3, 10_000, 'the vanished replica');
      expect(urls(lists[2])).toEqual(['http://10.1.0.2:8080/v1']);
    } finally {
      await discovery.stop();
    }
  });

  describe('VLLM_DISCOVERY_NAMESERVER: asking a DNS server of its own (node:dns, not a scripted resolver)', () => {
    let server: TestDnsServer;
    beforeEach(async () => {
      server = await startDnsServer('vllm-headless.ml.svc.cluster.local', ['10.2.0.2', '10.2.0.1']);
    });
    afterEach(() => server.close());

    function discovering(host: string, intervalMs = 100) {
      const log = recordingLogger();
      const lists: UpstreamSpec[][] = [];
      const env = {
        VLLM_DISCOVERY: `dns:${host}:8000/v1`,
        VLLM_DISCOVERY_INTERVAL_MS: String(intervalMs),
        VLLM_DISCOVERY_NAMESERVER: server.address,
      };
      const discovery = createUpstreamSource(loadConfig(env), { logger: log.logger });
      return { discovery, lists, ...log, start: () => discovery.start((specs) => lists.push(specs)) };
    }

    it('takes the A records that server answers, and follows its changes', async () => {
      const d = discovering('vllm-headless.ml.svc.cluster.local');
      await d.start();
      try {
        expect(urls(d.lists[0])).toEqual(['http://10.2.0.1:8000/v1', 'http://10.2.0.2:8000/v1']);
        expect(d.discovery.describe()).toBe(
          `VLLM_DISCOVERY dns:vllm-headless.ml.svc.cluster.local:8000 (asking ${server.address}) every 100 ms (2 endpoints)`,
        );
        server.setAddresses(['10.2.0.2', '10.2.0.3']);
        await until(() => d.lists.length === 2, 10_000, 'the new answer');
        expect(urls(d.lists[1])).toEqual(['http://10.2.0.2:8000/v1', 'http://10.2.0.3:8000/v1']);
        // No data twice in a row: the list empties.
        server.setAddresses([]);
        await until(() => d.lists.length === 3, 10_000, 'the empty answer');
        expect(d.lists[2]).toEqual([]);
        expect(d.warnings).toEqual([
          expect.stringMatching(/: no A records; keeping the 2 endpoints until the next answer$/),
        ]);
      } finally {
        await d.discovery.stop();
      }
      expect(server.queries).toBeGreaterThanOrEqual(4);
    });

    it('counts NXDOMAIN from that server as no replica, not as a failure', async () => {
      const d = discovering('some-other-name.ml.svc.cluster.local', 3_600_000);
      await d.start();
      try {
        expect(d.lists).toEqual([[]]);
        expect(d.warnings).toEqual([
          expect.stringMatching(/: no A records \(no ready replica behind the name\?\)$/),
        ]);
      } finally {
        await d.discovery.stop();
      }
    });
  });
});
