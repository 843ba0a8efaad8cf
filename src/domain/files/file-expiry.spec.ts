import { ApiError } from '../../common/api-error';
import { expiryAt, parseExpiresAfter } from './file-expiry';

describe('file expiry', () => {
  const created = new Date('2026-01-01T00:00:00Z');
  const days = (n: number) => new Date(created.getTime() + n * 86_400_000);

  it('uses the seconds asked for, else the default days; a default of 0 days is never', () => {
    expect(expiryAt(created, 3600, 30)).toEqual(new Date(created.getTime() + 3_600_000));
    expect(expiryAt(created, 3600, 0)).toEqual(new Date(created.getTime() + 3_600_000));
    expect(expiryAt(created, undefined, 30)).toEqual(days(30));
    expect(expiryAt(created, null, 7)).toEqual(days(7));
    expect(expiryAt(created, undefined, 0)).toBeNull();
  });

  it("reads the upload's expires_after fields within OpenAI's bounds", () => {
    expect(parseExpiresAfter(undefined, undefined)).toBeNull();
    expect(parseExpiresAfter('created_at', '3600')).toBe(3600);
    expect(parseExpiresAfter('created_at', '2592000')).toBe(2_592_000);
    for (const [anchor, seconds, param] of [
      ['now', '3600', 'expires_after[anchor]'],
      [undefined, '3600', 'expires_after[anchor]'],
      ['created_at', undefined, 'expires_after[seconds]'],
      ['created_at', '3599', 'expires_after[seconds]'],
      ['created_at', '2592001', 'expires_after[seconds]'],
      ['created_at', '3600.5', 'expires_after[seconds]'],
      ['created_at', 'soon', 'expires_after[seconds]'],
    ]) {
      expect(() => parseExpiresAfter(anchor, seconds)).toThrow(ApiError);
      try {
        parseExpiresAfter(anchor, seconds);
      } catch (err) {
        expect({ anchor, seconds, param: (err as ApiError).param }).toEqual({ anchor, seconds, param });
      }
    }
  });
});
