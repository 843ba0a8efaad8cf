import { parseUpstreamsFile, UpstreamsFileError } from '../../src/worker/upstream/sources';

const SECRET = 'sk-live-7d1f0c2b9a';
const defaults = { apiKey: 'shared-vllm-key', maxInflight: 512, env: { VLLM_A_KEY: SECRET } };

function refusal(text: string, env: NodeJS.ProcessEnv = defaults.env): string {
  try {
    parseUpstreamsFile(text, { ...defaults, env });
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamsFileError);
    return (err as Error).message;
  }
  throw new Error('the file was accepted');
}

describe('UPSTREAMS_FILE: reading', () => {
  it('reads every field, normalising URLs and resolving api_key_env', () => {
    const specs = parseUpstreamsFile(
      `
endpoints:
  - url: http://VLLM-A:8000/v1/
    api_key_env: VLLM_A_KEY
    models: [llama-3.1-8b, llama]
    max_inflight: 64
    min_inflight: 4
    fixed_inflight: 32
    metrics_url: http://vllm-a:9000/metrics/
  - url: https://gpu-b.example.com/qwen/v1
    api_key: "b-key-0001"
  - url: http://vllm-c:8000/v1
`,
      defaults,
    );
    expect(specs).toEqual([
      {
        url: 'http://vllm-a:8000/v1',
        apiKey: SECRET,
        models: ['llama-3.1-8b', 'llama'],
        metricsUrl: 'http://vllm-a:9000/metrics',
        maxInflight: 64,
        minInflight: 4,
        fixedInflight: 32,
      },
      {
        url: 'https://gpu-b.example.com/qwen/v1',
        apiKey: 'b-key-0001',
        metricsUrl: 'https://gpu-b.example.com/qwen/metrics',
      },
      // Neither api_key nor api_key_env: VLLM_API_KEY applies.
      { url: 'http://vllm-c:8000/v1', apiKey: 'shared-vllm-key', metricsUrl: 'http://vllm-c:8000/metrics' },
    ]);
  });

  it('sends no key when an entry names none and VLLM_API_KEY is unset', () => {
    const [spec] = parseUpstreamsFile('endpoints:\n  - url: http://vllm:8000/v1\n', {
      ...defaults,
      apiKey: undefined,
    });
    expect(spec).toEqual({ url: 'http://vllm:8000/v1', metricsUrl: 'http://vllm:8000/metrics' });
  });

  it('takes multi-byte model names as written', () => {
    const [spec] = parseUpstreamsFile(
      'endpoints:\n  - url: http://vllm:8000/v1\n    models: ["модель-7b", "模型", "llama-🦙"]\n',
      defaults,
    );
    expect(spec.models).toEqual(['модель-7b', '模型', 'llama-🦙']);
  });
});

describe('UPSTREAMS_FILE: validation names the bad entry', () => {
  const one = (entry: string) => `endpoints:\n  - url: http://vllm-a:8000/v1\n  - ${entry}\n`;

  it.each([
    [
      one('url: http://vllm-b:8000'),
      /^UPSTREAMS_FILE endpoints\[1\]\.url: must be vLLM's OpenAI base URL ending in \/v1/,
    ],
    [one('url: vllm-b:8000/v1'), /^UPSTREAMS_FILE endpoints\[1\]\.url: must use http: or https:/],
    [one('url: 8000'), /^UPSTREAMS_FILE endpoints\[1\]\.url: must be a URL string/],
    [one('api_key: x'), /^UPSTREAMS_FILE endpoints\[1\]\.url: is required/],
    [
      one('url: http://VLLM-A:8000/v1/'),
      /^UPSTREAMS_FILE endpoints\[1\]\.url: http:\/\/vllm-a:8000\/v1 is already endpoints\[0\]/,
    ],
    [
      one('url: http://b:8000/v1\n    maxInflight: 3'),
      /^UPSTREAMS_FILE endpoints\[1\]: unknown key\(s\) maxInflight; allowed: url, api_key/,
    ],
    [
      one('url: http://b:8000/v1\n    max_inflight: 0'),
      /^UPSTREAMS_FILE endpoints\[1\]\.max_inflight: must be a whole number from 1 to 100000/,
    ],
    [
      one('url: http://b:8000/v1\n    max_inflight: "64"'),
      /^UPSTREAMS_FILE endpoints\[1\]\.max_inflight: must be a whole number/,
    ],
    [
      one('url: http://b:8000/v1\n    min_inflight: 9\n    max_inflight: 8'),
      /^UPSTREAMS_FILE endpoints\[1\]\.min_inflight: 9 exceeds max_inflight \(8\)/,
    ],
    [
      one('url: http://b:8000/v1\n    min_inflight: 600'),
      /^UPSTREAMS_FILE endpoints\[1\]\.min_inflight: 600 exceeds WORKER_MAX_INFLIGHT \(512\)/,
    ],
    [
      one('url: http://b:8000/v1\n    fixed_inflight: 9\n    max_inflight: 8'),
      /^UPSTREAMS_FILE endpoints\[1\]\.fixed_inflight: 9 exceeds max_inflight/,
    ],
    [
      one('url: http://b:8000/v1\n    models: []'),
      /^UPSTREAMS_FILE endpoints\[1\]\.models: must be a non-empty list .*leave it out/,
    ],
    [
      one('url: http://b:8000/v1\n    models: llama'),
      /^UPSTREAMS_FILE endpoints\[1\]\.models: must be a non-empty list/,
    ],
    [
      one('url: http://b:8000/v1\n    models: [a, a]'),
      /^UPSTREAMS_FILE endpoints\[1\]\.models\[1\]: "a" is listed twice/,
    ],
    [
      one('url: http://b:8000/v1\n    models: [2024]'),
      /^UPSTREAMS_FILE endpoints\[1\]\.models\[0\]: YAML reads 2024 as a number: quote the model name/,
    ],
    [
      one('url: http://b:8000/v1\n    metrics_url: nope'),
      /^UPSTREAMS_FILE endpoints\[1\]\.metrics_url: must be an http/,
    ],
    [
      one('url: http://b:8000/v1\n    api_key_env: "1BAD"'),
      /^UPSTREAMS_FILE endpoints\[1\]\.api_key_env: must be the name of an environment variable/,
    ],
    [
      one('url: http://b:8000/v1\n    api_key_env: VLLM_B_KEY'),
      /^UPSTREAMS_FILE endpoints\[1\]\.api_key_env: the environment variable VLLM_B_KEY is not set/,
    ],
    [
      one('url: http://b:8000/v1\n    api_key: ""'),
      /^UPSTREAMS_FILE endpoints\[1\]\.api_key: must be a non-empty string/,
    ],
    [one('just-a-string'), /^UPSTREAMS_FILE endpoints\[1\]: must be a mapping/],
    ['endpoints: []\n', /^UPSTREAMS_FILE endpoints: must list at least one endpoint/],
    ['endpoints:\n', /^UPSTREAMS_FILE endpoints: must be a list of endpoints/],
    ['', /^UPSTREAMS_FILE content: must be a mapping with an endpoints list/],
    [
      'endpoints: []\nendpoint: []\n',
      /^UPSTREAMS_FILE content: unknown key\(s\) endpoint; allowed: endpoints/,
    ],
    [
      'endpoints:\n  - url: http://a/v1\n    url: http://b/v1\n',
      /^UPSTREAMS_FILE is not valid YAML: Map keys must be unique/,
    ],
  ])('%j', (text, message) => {
    expect(refusal(text)).toMatch(message);
  });

  it('never quotes a key: not one given twice, not a malformed one, not one in broken YAML', () => {
    const both = refusal(
      `endpoints:\n  - url: http://a:8000/v1\n    api_key: "${SECRET}"\n    api_key_env: VLLM_A_KEY\n`,
    );
    expect(both).toBe('UPSTREAMS_FILE endpoints[0]: give api_key or api_key_env, not both');
    const notString = refusal(`endpoints:\n  - url: http://a:8000/v1\n    api_key: [${SECRET}]\n`);
    expect(notString).toBe('UPSTREAMS_FILE endpoints[0].api_key: must be a non-empty string');
    const broken = refusal(
      `endpoints:\n  - url: http://a:8000/v1\n    api_key: "${SECRET}\n  - url: http://b/v1\n`,
    );
    expect(broken).toMatch(/^UPSTREAMS_FILE is not valid YAML: /);
    const inUrl = refusal(`endpoints:\n  - url: http://u:${SECRET}@a:8000/v1\n`);
    expect(inUrl).toMatch(/^UPSTREAMS_FILE endpoints\[0\]\.url: must not hold credentials/);
    for (const message of [both, notString, broken, inUrl]) expect(message).not.toContain(SECRET);
  });
});
