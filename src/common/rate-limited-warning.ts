import type { Logger } from '@nestjs/common';

/**
 * A warning said at most once per `intervalMs`, for errors that repeat as long as a dependency stays
 * away (e.g. BullMQ reporting every reconnect to an unreachable Redis): one line, not a flood.
 */
export function rateLimitedWarning(logger: Logger, intervalMs: number): (message: string) => void {
  let last = -Infinity;
  return (message) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    logger.warn(message);
  };
}
