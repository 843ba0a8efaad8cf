import IORedis from 'ioredis';
import { withTimeout } from '../../common/with-timeout';

/**
 * A Redis connection for state that may be briefly unavailable (rate-limit counters, the
 * concurrency coordination): no offline queue and one retry, so while Redis is unreachable a
 * command fails at once instead of waiting, and the caller falls back (fails open, or runs on
 * local signals). ioredis keeps reconnecting in the background; commands work again as soon as
 * Redis is back. BullMQ's own connections are not made here: its workers need the opposite
 * (commands held while Redis is away).
 */
export function createFailFastRedis(
  url: string,
  options: { keyPrefix?: string; onError: (err: Error) => void },
): IORedis {
  const redis = new IORedis(url, {
    keyPrefix: options.keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // A Redis that accepts the connection but hangs must not hang its caller with it.
    commandTimeout: 1000,
    connectTimeout: 2000,
    // On shutdown, a socket to a dead Redis is destroyed after this instead of keeping the process alive 2 s.
    disconnectTimeout: 500,
  });
  // Without a listener ioredis prints every reconnect failure as an unhandled error event.
  redis.on('error', options.onError);
  return redis;
}

/**
 * Without an offline queue, commands sent before the connection is ready fail: wait for it, for at
 * most `ms` (or only until the first connection error, with `untilError`), and never fail, so a
 * start is never blocked on Redis.
 */
export function waitUntilReady(redis: IORedis, ms: number, untilError = false): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  let done: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    done = resolve;
    redis.once('ready', done);
    if (untilError) redis.once('error', done);
  });
  return withTimeout(ready, ms, 'connecting to Redis')
    .catch(() => undefined)
    .finally(() => {
      redis.off('ready', done);
      redis.off('error', done);
    });
}

/**
 * Resolves when `client` is connected and answers a PING within `timeoutMs`, else rejects saying
 * why. The status is checked before pinging because a connection that holds commands while Redis
 * is away (BullMQ's) would make a plain PING wait for the reconnect rather than answer.
 */
export async function pingRedis(client: IORedis, timeoutMs: number, lastError?: string): Promise<void> {
  if (client.status !== 'ready') {
    // A Redis that went away closes the socket without an error; one comes with the next reconnect attempt.
    const { host, port } = client.options;
    throw new Error(`Redis at ${host}:${port} ${client.status}: ${lastError ?? 'connection lost'}`);
  }
  await withTimeout(client.ping(), timeoutMs, 'Redis PING');
}
