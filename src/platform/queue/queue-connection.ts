import type { Queue } from 'bullmq';
import type IORedis from 'ioredis';
import { withTimeout } from '../../common/with-timeout';
import { pingRedis } from '../redis/redis-client';

const lastErrors = new WeakMap<Queue, string>();

/** The most recent connection error of `queue` (e.g. "connect ECONNREFUSED 127.0.0.1:6379"). */
function lastError(queue: Queue): string | undefined {
  if (!lastErrors.has(queue)) {
    lastErrors.set(queue, '');
    // BullMQ forwards connection errors to the queue only while someone listens for them.
    queue.on('error', (err: Error) => lastErrors.set(queue, err.message));
  }
  return lastErrors.get(queue) || undefined;
}

/**
 * Resolves when the queue's Redis connection is up and answers a PING within `timeoutMs`, else
 * rejects saying why (see pingRedis: BullMQ's connection holds commands while Redis is away).
 */
export async function pingQueueRedis(queue: Queue, timeoutMs: number): Promise<void> {
  lastError(queue);
  // `queue.client` settles once the first connection is made: never, while Redis has never been up.
  const client = await withTimeout(queue.client, timeoutMs, 'connecting to Redis').catch((err: Error) => {
    throw new Error(lastError(queue) ?? err.message);
  });
  const reason = lastError(queue);
  if (client.status === 'ready') lastErrors.set(queue, '');
  await pingRedis(client as unknown as IORedis, timeoutMs, reason);
}
