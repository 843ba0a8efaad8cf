import type { Queue } from 'bullmq';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ApiError } from '../../common/api-error';
import { writeError } from '../../platform/http/openai-exception.filter';
import { pingQueueRedis } from '../../platform/queue/queue-connection';

const PING_TIMEOUT_MS = 1000;

/**
 * Answers 503 at once while the queues' Redis is unreachable. Bull Board's API calls go through
 * BullMQ's connection, which holds commands until Redis is back, so without this check the board's
 * requests simply hang for as long as the outage lasts. Only the board's API is checked: its page
 * and assets need no Redis, and the page shows the API's errors.
 */
export function requireQueueRedis(apiPath: string, queues: Queue[]): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (!req.originalUrl.startsWith(apiPath)) return next();
    try {
      await Promise.all(queues.map((q) => pingQueueRedis(q, PING_TIMEOUT_MS)));
    } catch {
      return writeError(
        res,
        new ApiError(
          503,
          'The admin board is unavailable: the Redis holding the queues does not answer.',
          'server_error',
          'service_unavailable',
        ),
      );
    }
    next();
  };
}
