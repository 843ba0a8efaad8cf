import OpenAI, { ClientOptions } from 'openai';
import { sleep } from './wait';

/** An official SDK client for the service at `apiUrl` (no /v1); no retries unless asked. */
export function sdkClient(apiUrl: string, apiKey: string, options: ClientOptions = {}): OpenAI {
  return new OpenAI({ baseURL: `${apiUrl}/v1`, apiKey, maxRetries: 0, ...options });
}

export const TERMINAL_STATUSES = ['completed', 'failed', 'expired', 'cancelled'];

export interface PollOptions {
  everyMs?: number;
  /** Called with every batch object read. */
  onPoll?: (batch: OpenAI.Batches.Batch) => void;
  /** Keep polling through errors (an API process being restarted); the last one is quoted at the deadline. */
  tolerateErrors?: boolean;
}

/** Polls like a user would, until the batch reaches one of `statuses` (default: any final one). */
export async function waitForBatch(
  client: OpenAI,
  id: string,
  statuses: string[] = TERMINAL_STATUSES,
  timeoutMs = 60_000,
  { everyMs = 100, onPoll, tolerateErrors = false }: PollOptions = {},
): Promise<OpenAI.Batches.Batch> {
  const deadline = Date.now() + timeoutMs;
  let last = 'unknown';
  for (;;) {
    try {
      const batch = await client.batches.retrieve(id);
      onPoll?.(batch);
      if (statuses.includes(batch.status)) return batch;
      last = batch.status;
    } catch (err) {
      if (!tolerateErrors) throw err;
      last = `unreachable (${(err as Error).message})`;
    }
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${last} after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
