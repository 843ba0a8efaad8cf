import fc from 'fast-check';
import {
  defaultMetricsUrl,
  normalizeUpstreamBaseUrl,
  parseDnsDiscovery,
  UpstreamUrlError,
} from './upstream-url';

// A name whose last label is numeric is read as an IPv4 address by URL, so labels start with a letter.
const label = fc.stringMatching(/^[a-z](?:[a-z0-9-]{0,10}[a-z0-9])?$/);
const host = fc.array(label, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('.'));
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
const prefix = fc.array(fc.stringMatching(/^[a-z0-9_-]{1,8}$/), { maxLength: 2 });

describe('normalizeUpstreamBaseUrl', () => {
  it('gives one identity to every spelling of a server: scheme/host case, default port, trailing slashes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('http', 'https'),
        host,
        port,
        prefix,
        fc.nat(3),
        fc.boolean(),
        (scheme, h, p, pre, slashes, shout) => {
          const path = [...pre, 'v1'].map((s) => `/${s}`).join('');
          const canonical = normalizeUpstreamBaseUrl(`${scheme}://${h}${p ? `:${p}` : ''}${path}`);
          const variant = `${shout ? scheme.toUpperCase() : scheme}://${shout ? h.toUpperCase() : h}${p ? `:${p}` : ''}${path}${'/'.repeat(slashes)}`;
          const normalised = normalizeUpstreamBaseUrl(variant);
          expect(normalised).toBe(canonical);
          expect(normalised.endsWith('/v1')).toBe(true);
          expect(normalizeUpstreamBaseUrl(normalised)).toBe(normalised);
          expect(normalised).toBe(normalised.toLowerCase().replace(/^(https?:\/\/[^/]+).*$/, '$1') + path);
        },
      ),
    );
  });

  it('drops the default port: http://h:80/v1 and http://h/v1 are one server', () => {
    expect(normalizeUpstreamBaseUrl('http://vllm:80/v1')).toBe('http://vllm/v1');
    expect(normalizeUpstreamBaseUrl('https://vllm:443/v1/')).toBe('https://vllm/v1');
    expect(normalizeUpstreamBaseUrl('http://[::1]:8000/v1')).toBe('http://[::1]:8000/v1');
  });

  it('refuses what is not an http(s) base URL ending in /v1, saying why', () => {
    const reason = (raw: string) => {
      try {
        normalizeUpstreamBaseUrl(raw);
        return null;
      } catch (err) {
        expect(err).toBeInstanceOf(UpstreamUrlError);
        return (err as Error).message;
      }
    };
    expect(reason('vllm:8000/v1')).toMatch(/http: or https:/);
    expect(reason('not a url')).toMatch(/must be an http:\/\/ or https:\/\/ URL/);
    expect(reason('ftp://vllm/v1')).toMatch(/must use http: or https:, got "ftp:"/);
    expect(reason('http://vllm:8000')).toMatch(/ending in \/v1/);
    expect(reason('http://vllm:8000/v1/chat/completions')).toMatch(/ending in \/v1/);
    expect(reason('http://vllm:8000/v1?x=1')).toMatch(/no query or fragment/);
    const withCredentials = reason('http://user:s3cret-pass@vllm:8000/v1');
    expect(withCredentials).toMatch(/must not hold credentials/);
    expect(withCredentials).not.toContain('s3cret-pass');
  });

  it('puts /metrics at the server root, keeping a path prefix', () => {
    expect(defaultMetricsUrl('http://vllm:8000/v1')).toBe('http://vllm:8000/metrics');
    expect(defaultMetricsUrl('https://gw.example.com/team-a/v1')).toBe(
      'https://gw.example.com/team-a/metrics',
    );
  });
});

describe('parseDnsDiscovery', () => {
  it('reads dns:<host>:<port> with or without /v1', () => {
    expect(parseDnsDiscovery('dns:vllm-headless:8000')).toEqual({ host: 'vllm-headless', port: 8000 });
    expect(parseDnsDiscovery('dns:VLLM.default.svc.cluster.local:8000/v1')).toEqual({
      host: 'vllm.default.svc.cluster.local',
      port: 8000,
    });
    expect(parseDnsDiscovery('dns:vllm.default.svc.cluster.local.:8000')).toEqual({
      host: 'vllm.default.svc.cluster.local.',
      port: 8000,
    });
  });

  it('refuses a missing port, a bad port or host, another scheme or path', () => {
    for (const [raw, reason] of [
      ['dns:vllm', /must look like dns:<host>:<port>\[\/v1\]/],
      ['http://vllm:8000/v1', /must look like/],
      ['dns:vllm:8000/v2', /must look like/],
      ['dns:vllm:0', /port must be 1-65535/],
      ['dns:vllm:70000', /port must be 1-65535/],
      ['dns:vllm:http', /port must be 1-65535/],
      ['dns:-vllm:8000', /invalid host name "-vllm"/],
      ['dns:vl lm:8000', /invalid host name/],
    ] as const) {
      expect(() => parseDnsDiscovery(raw)).toThrow(reason);
    }
  });
});
