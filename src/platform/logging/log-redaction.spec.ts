import {
  CENSOR,
  isSecretName,
  redactErrorLog,
  redactFields,
  redactLogArguments,
  redactRequestLog,
  redactText,
} from './log-redaction';

describe('isSecretName', () => {
  it.each([
    // name, secret
    ['authorization', true],
    ['Proxy-Authorization', true],
    ['api-key', true],
    ['x-api-key', true],
    ['api_key', true],
    ['apikey', true],
    ['apiKey', true],
    ['X-Auth-Token', true],
    ['x-amz-security-token', true],
    ['access_token', true],
    ['accessToken', true],
    ['Token', true],
    ['key', true],
    ['cookie', true],
    ['set-cookie', true],
    ['x-session-id', true],
    ['client_secret', true],
    ['password', true],
    ['db_passwd', true],
    ['webhook-signature', true],
    ['x-goog-api-key', true],
    ['sk', true],
    ['SK', true],
    ['code', true],
    ['auth', true],
    ['task', false],
    ['disk', false],
    ['sketch', false],
    ['codec', false],
    ['zip_code_x', false],
    ['keyboard', false],
    ['author', false],
    ['monkey', false],
    ['limit', false],
    ['after', false],
    ['content-type', false],
    ['x-request-id', false],
    ['user-agent', false],
    ['purpose', false],
  ])('%s → %s', (name, secret) => {
    expect(isSecretName(name)).toBe(secret);
  });
});

describe('redactText', () => {
  // Secret query parameters lose their values; so do the credentials of connection URLs, wherever
  // they appear in the text. Anything else stays as it is.
  it.each([
    [
      '/v1/files?limit=2&api_key=sk-1&after=file-x&Token=t',
      '/v1/files?limit=2&api_key=[redacted]&after=file-x&Token=[redacted]',
    ],
    ['/v1/files', '/v1/files'],
    ['/v1/files?api%5Fkey=sk-1', '/v1/files?api%5Fkey=[redacted]'],
    ['/v1/batches?sk=sk-live-1&task=t1&disk=d2', '/v1/batches?sk=[redacted]&task=t1&disk=d2'],
    ['postgres://app:s3cr%40t@db:5432/vllm_batch', 'postgres://[redacted]@db:5432/vllm_batch'],
    ['redis://:hunter2@cache:6379/0', 'redis://[redacted]@cache:6379/0'],
    ['rediss://default:p@ss@cache:6380', 'rediss://[redacted]@cache:6380'],
    [
      'upstream https://tok3n@vllm.internal/v1 is down',
      'upstream https://[redacted]@vllm.internal/v1 is down',
    ],
    ['connect ECONNREFUSED 127.0.0.1:5432', 'connect ECONNREFUSED 127.0.0.1:5432'],
    ['http://vllm:8000/v1 (mail ops@example.com)', 'http://vllm:8000/v1 (mail ops@example.com)'],
  ])('%s → %s', (text, redacted) => {
    expect(redactText(text)).toBe(redacted);
  });
});

describe('log serializers', () => {
  it('redact secret-named headers and query parameters of a request, keeping the rest', () => {
    const logged = redactRequestLog({
      url: '/v1/files?sk=abc&task=1',
      query: { sk: 'abc', task: '1' },
      headers: { 'api-key': 'k1', 'x-auth-token': 't1', host: 'h', 'content-type': 'application/json' },
    });
    expect(logged).toEqual({
      url: `/v1/files?sk=${CENSOR}&task=1`,
      query: { sk: CENSOR, task: '1' },
      headers: { 'api-key': CENSOR, 'x-auth-token': CENSOR, host: 'h', 'content-type': 'application/json' },
    });
    expect(redactFields({ referer: 'https://u:p@site/?code=xyz' })).toEqual({
      referer: `https://${CENSOR}@site/?code=${CENSOR}`,
    });
  });

  it('redact messages, printf arguments, object fields and errors', () => {
    expect(
      redactLogArguments([{ context: 'Main', url: 'redis://:pw@r:6379' }, 'upstream http://u:pw@v/v1']),
    ).toEqual([{ context: 'Main', url: `redis://${CENSOR}@r:6379` }, `upstream http://${CENSOR}@v/v1`]);
    const err = redactErrorLog({
      message: 'bad postgres://a:pw@db/x',
      stack: 'Error: bad postgres://a:pw@db/x\n  at x',
    });
    expect(JSON.stringify(err)).not.toContain('pw');
  });
});
