import { ClientRequest, request as httpRequest } from 'node:http';

export interface Part {
  name: string;
  /** Present: a file part; absent: a text field. */
  filename?: string;
  value: Buffer | string;
  /** Extra header lines, each ending in \r\n. */
  headers?: string;
}

/** A multipart body by hand, so parts can be as odd, as many and in whatever order a test likes. */
export function multipartBody(parts: Part[], boundary = 'b0undary', closed = true): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition =
      p.filename !== undefined
        ? `form-data; name="${p.name}"; filename="${p.filename}"`
        : `form-data; name="${p.name}"`;
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.headers ?? ''}\r\n`),
    );
    chunks.push(Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value));
    chunks.push(Buffer.from('\r\n'));
  }
  if (closed) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

export type RawOutcome =
  | { kind: 'response'; status: number; body: string }
  /** The connection ended without a response (the client aborted, or the server dropped it). */
  | { kind: 'closed' };

/**
 * POSTs `body` on a connection of its own (`agent: false`, `Connection: close`), so no socket
 * outlives the request. With `abortAfter`, the client announces the whole body, sends only that
 * many bytes and then drops the connection, as a client that dies mid-upload does.
 */
/** A POST to `url` whose body the caller writes, ends or cuts off itself. */
export function startPost(url: string, headers: Record<string, string>, agent?: false): ClientRequest {
  const target = new URL(url);
  return httpRequest({
    host: target.hostname,
    port: target.port,
    path: target.pathname,
    method: 'POST',
    agent,
    headers,
  });
}

export function rawPost(
  url: string,
  headers: Record<string, string>,
  body: Buffer,
  abortAfter?: number,
): Promise<RawOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let responding = false;
    const finish = (outcome: RawOutcome): void => {
      if (done) return;
      done = true;
      resolve(outcome);
    };
    const req = startPost(
      url,
      { ...headers, Connection: 'close', 'Content-Length': String(body.length) },
      false,
    );
    req.on('response', (res) => {
      responding = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        finish({ kind: 'response', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
      res.on('error', () => finish({ kind: 'closed' }));
      res.on('close', () => finish({ kind: 'closed' }));
    });
    req.on('error', () => finish({ kind: 'closed' }));
    req.on('close', () => {
      if (!responding) finish({ kind: 'closed' });
    });
    if (abortAfter === undefined) {
      req.end(body);
      return;
    }
    req.write(body.subarray(0, abortAfter), () => {
      // Give the server a moment to start on what it got, so the abort lands mid-file.
      setTimeout(() => req.destroy(), 50);
    });
  });
}
