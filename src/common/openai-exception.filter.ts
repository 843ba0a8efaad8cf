import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiError, envelope } from './api-error';

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

export function sendError(err: unknown, req: Request, res: Response, logger: Logger): void {
  const apiError = toApiError(err);
  if (apiError.status >= 500) {
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
