import { loadConfig } from '../../src/platform/config/app-config';
import { describeWindow, namedThrottlers, scaledLimit } from '../../src/api/throttling/throttlers';

describe('throttler settings', () => {
  it('names the four throttlers with their configured limits (defaults 10, 20, 600, 60 a minute)', () => {
    expect(namedThrottlers(loadConfig({}))).toEqual([
      { name: 'batch-create', limit: 10, ttl: 60_000 },
      { name: 'file-upload', limit: 20, ttl: 60_000 },
      { name: 'reads', limit: 600, ttl: 60_000 },
      { name: 'mutations', limit: 60, ttl: 60_000 },
    ]);
    const custom = loadConfig({ THROTTLE_BATCH_CREATE_LIMIT: '3', THROTTLE_BATCH_CREATE_TTL_MS: '1000' });
    expect(namedThrottlers(custom)[0]).toEqual({ name: 'batch-create', limit: 3, ttl: 1000 });
  });

  it('multiplies limits by the tier, rounding up, at least 1', () => {
    const tiers = loadConfig({ THROTTLE_TIERS: 'pro=3,half=0.5,odd=1.25' }).throttle.tiers;
    expect(scaledLimit(10, tiers.pro)).toBe(30);
    expect(scaledLimit(10, tiers.default)).toBe(10);
    expect(scaledLimit(3, tiers.half)).toBe(2);
    expect(scaledLimit(1, tiers.half)).toBe(1);
    expect(scaledLimit(10, tiers.odd)).toBe(13);
    expect(scaledLimit(10, 0.01)).toBe(1);
  });

  it('says the window in words', () => {
    expect(describeWindow(60_000)).toBe('1 minute');
    expect(describeWindow(120_000)).toBe('2 minutes');
    expect(describeWindow(3_600_000)).toBe('1 hour');
    expect(describeWindow(86_400_000)).toBe('1 day');
    expect(describeWindow(1000)).toBe('1 second');
    expect(describeWindow(90_000)).toBe('90 seconds');
    expect(describeWindow(1500)).toBe('1500 milliseconds');
  });

  it('reads THROTTLE_REDIS_URL, defaulting to REDIS_URL', () => {
    expect(loadConfig({}).throttle.redisUrl).toBeUndefined();
    expect(loadConfig({ THROTTLE_REDIS_URL: 'redis://10.0.0.1:6380/2' }).throttle.redisUrl).toBe(
      'redis://10.0.0.1:6380/2',
    );
    expect(() => loadConfig({ THROTTLE_REDIS_URL: 'http://x' })).toThrow(/THROTTLE_REDIS_URL/);
  });
});
