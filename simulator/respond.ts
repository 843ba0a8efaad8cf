/** Writing responses (after the injected latency) and reading request bodies. */
import type * as http from 'node:http';
import type { FinishReason } from './completions';
import type { LiveSettings } from './options';
import type { StatsBook } from './stats';
import type { HttpError } from './vllm-request';

export const JSON_TYPE = 'application/json';
export const PROM_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const NOT_FOUND = '{"detail":"Not Found"}';
export const METHOD_NOT_ALLOWED = '{"detail":"Method Not Allowed"}';

export class Responder {
  constructor(
    private readonly live: LiveSettings,
    private readonly stats: StatsBook,
  ) {}

  /**
   * Write a response after the injected extra latency, if any. contentType null: no body type.
   * `success`: an inference answer, counted as completed with that finish reason.
   */
  send(
    res: http.ServerResponse,
    status: number,
    body: string,
    contentType: string | null = JSON_TYPE,
    extraHeaders?: Record<string, string>,
    success?: FinishReason,
  ): void {
    const delay = this.live.faults.extraLatencyMs;
    if (delay > 0) {
      setTimeout(() => this.write(res, status, body, contentType, extraHeaders, success), delay).unref();
    } else {
      this.write(res, status, body, contentType, extraHeaders, success);
    }
  }

  /** An error in vLLM's shape (the configured error format). */
  sendError(res: http.ServerResponse, err: HttpError, extraHeaders?: Record<string, string>): void {
    this.send(res, err.status, err.body(this.live.opts.errorFormat), JSON_TYPE, extraHeaders);
  }

  private write(
    res: http.ServerResponse,
    status: number,
    body: string,
    contentType: string | null,
    extraHeaders: Record<string, string> | undefined,
    success: FinishReason | undefined,
  ): void {
    if (res.writableEnded || res.destroyed) return;
    const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
    if (contentType !== null) headers['content-type'] = contentType;
    if (extraHeaders) Object.assign(headers, extraHeaders);
    res.writeHead(status, headers);
    res.end(body);
    if (success !== undefined) this.stats.succeeded(success);
  }
}

/** Write a JSON answer at once (control endpoints: no latency, not counted). */
export function sendJsonNow(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function readBody(req: http.IncomingMessage, done: (body: string) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () =>
    done(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')),
  );
  req.on('error', () => undefined); // the client went away; the response's 'close' handles it
}
