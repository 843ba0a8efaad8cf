import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AppConfig } from '../config/app-config';
import { ApiError, envelope } from '../../common/api-error';

/** The one route whose body may take the long upload deadline. */
const isUpload = (req: IncomingMessage): boolean =>
  req.method === 'POST' &&
  // Express matches routes case-insensitively and with or without a trailing slash.
  (req.url ?? '').split('?')[0].toLowerCase().replace(/\/+$/, '') === '/v1/files';

/**
 * Node checks the header and request deadlines on a timer (30 s by default), so a 20 s header
 * timeout really meant 20-50 s. Check often enough that a deadline means what it says; the check
 * walks only connections with a request in progress.
 */
const checkingIntervalMs = (headersTimeoutMs: number): number =>
  Math.max(250, Math.min(1000, Math.floor(headersTimeoutMs / 4)));

/**
 * Sets the HTTP server's connection and timeout limits from config, so slow or idle clients cannot
 * hold connections (and file descriptors) without bound. Called on the server before it listens,
 * by main.ts (API port, or the worker's metrics port) and by the tests' startApp alike.
 *
 * Node 20 semantics the values rely on:
 * - `headersTimeout`: from a connection's first byte (or a new request's first byte) until the
 *   headers are complete. Idle keep-alive connections are not subject to it (they fall under
 *   `keepAliveTimeout`), so it needs no particular relation to `keepAliveTimeout`; Node only
 *   requires it to be at most `requestTimeout`. On expiry Node emits 'clientError' with
 *   ERR_HTTP_REQUEST_TIMEOUT, answered 408 by the handler in bootstrap.ts.
 * - `requestTimeout`: until the whole request (headers and body) has arrived. It is server-wide,
 *   but an upload needs far longer than any other request, so it is set to the longest deadline
 *   plus the header allowance, as a backstop only; the deadline of each request (upload or not) is
 *   enforced per request below, counted from when its headers are complete.
 * - `keepAliveTimeout`: how long an idle connection is kept for the next request. Above a proxy's
 *   own upstream keep-alive (ingress-nginx: 60 s), so the proxy, never this server, closes an idle
 *   pooled connection; otherwise the proxy may send a request on a socket we are closing (a 502).
 * - `maxConnections`: connections beyond it are closed as soon as they are accepted.
 */
export function applyHttpServerLimits(server: Server, config: AppConfig): void {
  const { headersTimeoutMs, keepAliveTimeoutMs, requestTimeoutMs, uploadTimeoutMs, maxConnections } =
    config.http;
  server.headersTimeout = headersTimeoutMs;
  server.requestTimeout = Math.max(requestTimeoutMs, uploadTimeoutMs) + headersTimeoutMs;
  server.keepAliveTimeout = keepAliveTimeoutMs;
  server.maxConnections = maxConnections;
  // Read by Node when the server starts listening (documented as a createServer option).
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    checkingIntervalMs(headersTimeoutMs);

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const deadline = isUpload(req) ? uploadTimeoutMs : requestTimeoutMs;
    // unref: an open connection keeps the process alive by itself; the timer must not (an upload's
    // deadline is an hour, and a process shutting down must not wait for it).
    const timer = setTimeout(() => onBodyDeadline(req, res), deadline).unref();
    const clear = (): void => clearTimeout(timer);
    // The deadline covers receiving the request, not answering it: a long download is fine.
    req.once('end', clear);
    req.once('close', clear);
  });
}

/**
 * The request's body has not fully arrived in time. Answer 408 in OpenAI's envelope when nothing
 * has been sent yet, then destroy the request: a client this slow is not worth keeping, and
 * destroying the request (not just its socket, from which a request already answered is detached)
 * is what makes whatever still reads the body (the upload receiver) see it aborted and remove
 * what it stored.
 */
function onBodyDeadline(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  // Without an error: nobody has to be listening for one.
  const abort = (): void => void req.destroy();
  if (res.headersSent || res.writableEnded) return abort();
  const body = JSON.stringify(
    envelope(ApiError.requestTimeout('The request body did not arrive within the time allowed.')),
  );
  res.writeHead(408, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(body, abort);
  // A client that does not read its answer either must not keep the connection.
  setTimeout(abort, 1000).unref();
}
