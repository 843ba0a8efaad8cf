import { parseBasicAuth } from '../../src/api/admin/admin-basic-auth.middleware';
import { isCrossSiteWrite, type SiteHints } from '../../src/api/admin/cross-site.middleware';

describe('parseBasicAuth', () => {
  const encode = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;

  it('splits user and password at the first colon (passwords may contain colons)', () => {
    expect(parseBasicAuth(encode('ops:pa:ss'))).toEqual({ user: 'ops', password: 'pa:ss' });
    expect(parseBasicAuth(encode('ops:'))).toEqual({ user: 'ops', password: '' });
    expect(parseBasicAuth(encode('ünï:cødé'))).toEqual({ user: 'ünï', password: 'cødé' });
  });

  it('rejects anything that is not Basic credentials', () => {
    expect(parseBasicAuth(undefined)).toBeNull();
    expect(parseBasicAuth('Bearer abc')).toBeNull();
    expect(parseBasicAuth(encode('no-colon'))).toBeNull();
    expect(parseBasicAuth('Basic !!!')).toBeNull();
  });
});

describe('isCrossSiteWrite', () => {
  const host = 'board.example:4080';
  const req = (method: string, headers: Record<string, string>): SiteHints =>
    ({ method, headers, host }) as unknown as SiteHints;

  it.each([
    // method, headers, refused
    ['POST', {}, false],
    ['POST', { origin: 'http://board.example:4080' }, false],
    ['POST', { origin: 'https://board.example:4080' }, false],
    ['PUT', { 'sec-fetch-site': 'same-origin', origin: 'http://board.example:4080' }, false],
    ['DELETE', { 'sec-fetch-site': 'none' }, false],
    ['POST', { origin: 'https://evil.example' }, true],
    ['POST', { origin: 'http://board.example:4081' }, true],
    ['POST', { origin: 'http://board.example' }, true],
    ['POST', { origin: 'null' }, true],
    ['PATCH', { 'sec-fetch-site': 'cross-site' }, true],
    ['PUT', { 'sec-fetch-site': 'same-site' }, true],
    ['POST', { 'sec-fetch-site': 'cross-site', origin: 'http://board.example:4080' }, true],
    ['GET', { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, false],
    ['HEAD', { origin: 'https://evil.example' }, false],
    ['OPTIONS', { origin: 'https://evil.example' }, false],
  ])('%s with %j → refused: %s', (method, headers, refused) => {
    expect(isCrossSiteWrite(req(method, headers))).toBe(refused);
  });
});
