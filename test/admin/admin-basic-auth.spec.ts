import { parseBasicAuth } from '../../src/admin/admin-basic-auth.middleware';

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
