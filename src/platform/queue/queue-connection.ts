import type { Queue } from 'bullmq';
import { withTimeout } from '../../common/with-timeout';

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
 * rejects saying why. The status is checked before pinging because BullMQ's connection holds
 * commands while Redis is away (its workers need that) instead of failing them: a plain PING, like
 * any call Bull Board makes, would wait for the reconnect rather than answer.
 */
export async function pingQueueRedis(queue: Queue, timeoutMs: number): Promise<void> {
  lastError(queue);
  // `queue.client` settles once the first connection is made: never, while Redis has never been up.
  const client = await withTimeout(queue.client, timeoutMs, 'connecting to Redis').catch((err: Error) => {
    throw new Error(lastError(queue) ?? err.message);
  });
  if (client.status !== 'ready') {
    // A Redis that went away closes the socket without an error; one comes with the next reconnect attempt.
    const reason = lastError(queue) ?? 'connection lost';
    const { host, port } = client.options as { host?: string; port?: number };
    throw new Error(`Redis at ${host}:${port} ${client.status}: ${reason}`);
  }
  lastErrors.set(queue, '');
  const ping = (client as unknown as { ping(): Promise<string> }).ping();
  await withTimeout(ping, timeoutMs, 'Redis PING');
}
