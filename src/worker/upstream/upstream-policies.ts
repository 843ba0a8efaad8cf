import {
  ConstantBackoff,
  ExponentialBackoff,
  halfJitterGenerator,
  handleWhenResult,
  retry,
  RetryPolicy,
} from 'cockatiel';

/**
 * Retries for one batch line: up to `attempts` tries in all, spaced by exponential backoff with
 * jitter (from `baseMs`, doubling, capped at `maxMs`; half of each delay fixed, half random) so a
 * recovering vLLM is not hit by every line in lockstep. Only results `retryable` accepts are
 * retried; a thrown error is not (the caller turns every failure into a result it classifies).
 */
export function lineRetryPolicy(
  retryable: (result: unknown) => boolean,
  attempts: number,
  baseMs: number,
  maxMs: number,
): RetryPolicy {
  return retry(handleWhenResult(retryable), {
    maxAttempts: attempts - 1,
    backoff: new ExponentialBackoff({
      initialDelay: baseMs,
      maxDelay: maxMs,
      generator: halfJitterGenerator,
    }),
  }).dangerouslyUnref();
}

/** Runs a probe every `everyMs` until it returns true (or the signal given to execute aborts). */
export function untilTrue(everyMs: number): RetryPolicy {
  return retry(
    handleWhenResult((ok) => ok === false),
    { maxAttempts: Infinity, backoff: new ConstantBackoff(everyMs) },
  ).dangerouslyUnref();
}

/**
 * Settles like `promise`, or resolves to null as soon as `signal` aborts. A retry policy's backoff
 * delay does not watch the signal: this lets a cancelled line go at once rather than after it.
 */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | null> {
  if (signal.aborted) return Promise.resolve(null);
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<null>((resolve) => {
    onAbort = () => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}
