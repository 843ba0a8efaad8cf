import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * Reuses a caller's `X-Request-Id` when it is short and plain (so logs can be joined across a proxy),
 * otherwise makes one; the id is echoed in the response header and tagged on every log line.
 */
export function assignRequestId(req: IncomingMessage, res: ServerResponse): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  const id =
    typeof incoming === 'string' && /^[A-Za-z0-9._:-]{1,100}$/.test(incoming)
      ? incoming
      : `req_${randomUUID().replace(/-/g, '')}`;
  res.setHeader('X-Request-Id', id);
  return id;
}
