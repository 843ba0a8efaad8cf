import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiError, envelope } from '../../common/api-error';

const STATUS_TYPES: Record<number, string> = {
  401: 'invalid_request_error',
  404: 'invalid_request_error',
  429: 'requests',
  500: 'server_error',
  503: 'server_error',
};

/**
 * Turns any error into OpenAI's envelope. Domain errors (ApiError) map one to one; Nest's HTTP
 * exceptions (validation pipe, unknown routes, throttler) keep their status; errors raised by
 * Express middleware (body-parser) carry `status`/`type`; anything else is a 500 whose details stay
 * in the log, tied to the request id the client also receives.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isDependencyUnavailable(err)) {
    // The request was fine; a dependency was not there. 503 with Retry-After tells clients (the
    // OpenAI SDKs retry it on their own) to come back, where a 500 reads as a bug of ours.
    return new ApiError(
      503,
      'The service is temporarily unable to reach its database, queue or storage. Please retry shortly.',
      'server_error',
      'service_unavailable',
      null,
      { 'Retry-After': String(RETRY_AFTER_UNAVAILABLE_SECONDS) },
    );
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const body = err.getResponse();
    let message = err.message;
    if (typeof body === 'object' && body !== null && 'message' in body) {
      const m = (body as { message: unknown }).message;
      message = Array.isArray(m) ? m.join('; ') : String(m);
    }
    if (status === 404 && /^Cannot (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)/.test(message)) {
      message = `Invalid URL (${message.replace(/^Cannot /, '')})`;
    }
    const code = status === 400 ? 'invalid_request' : status === 413 ? 'request_too_large' : null;
    return new ApiError(status, message, STATUS_TYPES[status] ?? 'invalid_request_error', code, null);
  }
  const e = err as {
    status?: unknown;
    statusCode?: unknown;
    type?: unknown;
    expose?: unknown;
    message?: unknown;
  };
  const status =
    typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    // http-errors from body-parser and friends: their messages are safe to show (expose=true).
    if (e.type === 'entity.too.large') {
      return new ApiError(413, 'Request body too large.', 'invalid_request_error', 'request_too_large', null);
    }
    if (e.type === 'entity.parse.failed') {
      return new ApiError(
        400,
        'We could not parse the JSON body of your request.',
        'invalid_request_error',
        'invalid_json',
        null,
      );
    }
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      return new ApiError(415, String(e.message), 'invalid_request_error', 'unsupported_media_type', null);
    }
    const message = e.expose === false ? 'Bad request.' : String(e.message ?? 'Bad request.');
    return new ApiError(status, message, 'invalid_request_error', null, null);
  }
  return new ApiError(
    500,
    'The server had an error while processing your request.',
    'server_error',
    'internal_error',
    null,
  );
}

const RETRY_AFTER_UNAVAILABLE_SECONDS = 5;

/** Socket-level failures: the peer is down, restarting or unreachable. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
/** PostgreSQL SQLSTATEs that mean "not now", not "wrong request": shutdown, starting up, too many connections. */
const PG_UNAVAILABLE_STATES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08006',
]);
/** What pg, TypeORM and ioredis say when their connection is gone, in messages without a code. */
const UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Connection is closed|Client has encountered a connection error|the database system is (starting up|shutting down|in recovery)|Stream isn't writeable/i;

/** Whether `err` (or the driver error TypeORM wraps in it) means PostgreSQL or Redis is unreachable. */
export function isDependencyUnavailable(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown } | undefined,
      depth = 0;
    e && depth < 4;
    depth++
  ) {
    if (typeof e.code === 'string' && (UNREACHABLE_CODES.has(e.code) || PG_UNAVAILABLE_STATES.has(e.code)))
      return true;
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return true;
    e = (e.driverError ?? e.cause) as typeof e;
  }
  return false;
}

export function sendError(err: unknown, req: Request, res: Response, logger: Logger): void {
  const apiError = toApiError(err);
  if (apiError.status >= 500) {
    // A 503 is logged too: an operator needs to see that a dependency is failing requests.
    const reqId = (req as Request & { id?: unknown }).id;
    logger.error({ err, reqId, method: req.method, url: req.originalUrl?.split('?')[0] }, 'unhandled error');
  }
  if (res.headersSent) {
    // The body is already streaming (a download); all we can do is cut it so the client sees a failure.
    res.destroy();
    return;
  }
  writeError(res, apiError);
}

/** Answers with `err` as is: its status, its headers (e.g. Retry-After) and the envelope. */
export function writeError(res: Response, err: ApiError): void {
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).json(envelope(err));
}

@Catch()
export class OpenAiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    sendError(exception, ctx.getRequest<Request>(), ctx.getResponse<Response>(), this.logger);
  }
}
