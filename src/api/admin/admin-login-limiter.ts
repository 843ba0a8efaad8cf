import type IORedis from 'ioredis';

/** Failed logins are counted over this window, and going over the limit blocks for this long. */
export const ADMIN_LOGIN_WINDOW_MS = 60_000;

/**
 * Counts a failure and returns [failures in the window, ms until the window ends]. The first
 * failure opens a window; the one that goes over the limit restarts it, so the block lasts a full
 * window from the last failure counted (blocked attempts are not checked, hence not counted).
 */
const RECORD_FAILURE = `
local n = redis.call('INCR', KEYS[1])
if n == 1 or n > tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
`;

/**
 * Failed admin logins per client address, in the rate limiter's Redis (keys
 * `<QUEUE_PREFIX>:throttle:admin-login:<address>`), so every API replica sees the same count.
 * Both calls reject while that Redis is unreachable; the caller decides what that means.
 */
export class AdminLoginLimiter {
  constructor(
    private readonly redis: IORedis,
    private readonly limit: number,
  ) {}

  /** Seconds the address stays blocked, 0 when it may try. */
  async blockedFor(address: string): Promise<number> {
    const key = this.key(address);
    const [count, ttl] = await Promise.all([this.redis.get(key), this.redis.pttl(key)]);
    return Number(count) > this.limit && ttl > 0 ? secondsLeft(ttl) : 0;
  }

  /** Counts one failure; returns the seconds the address is now blocked, 0 while under the limit. */
  async recordFailure(address: string): Promise<number> {
    const [count, ttl] = (await this.redis.eval(
      RECORD_FAILURE,
      1,
      this.key(address),
      ADMIN_LOGIN_WINDOW_MS,
      this.limit,
    )) as [number, number];
    return count > this.limit ? secondsLeft(ttl) : 0;
  }

  private key(address: string): string {
    return `admin-login:${address}`;
  }
}

const secondsLeft = (ttlMs: number): number => Math.max(1, Math.ceil(ttlMs / 1000));
