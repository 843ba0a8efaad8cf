import { connect, Socket } from 'node:net';
import { authHeader, sleep, TENANT_A } from '../support/harness';
import { useApp } from '../support/app-fixture';

/**
 * The HTTP server's limits against slow and numerous clients, with small values so each case
 * takes seconds: headers within 1 s, at most 20 connections, a plain request body within 2 s, an
 * upload within 5 s. Raw sockets, so that the test controls every byte and every connection (a
 * fetch pool would hold connections of its own).
 */
const LIMITS = {
  HTTP_HEADERS_TIMEOUT_MS: '1000',
  MAX_CONNECTIONS: '20',
  HTTP_REQUEST_TIMEOUT_SECONDS: '2',
  UPLOAD_TIMEOUT_SECONDS: '5',
};
/** Generous bound for "closed eventually": well above every limit, far below the defaults. */
const CLOSED_WITHIN_MS = 15_000;

interface Conn {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves with everything received once the server closed the connection. */
  closed: Promise<string>;
  /** Resolves with the next complete HTTP response (headers and Content-Length body). */
  nextResponse(): Promise<string>;
}

async function open(port: number): Promise<Conn> {
  const socket = connect(port, '127.0.0.1');
  let data = '';
  let consumed = 0;
  const waiters: Array<() => void> = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    data += chunk;
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(data)));
  void closed.then(() => waiters.splice(0).forEach((w) => w()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const nextResponse = async (): Promise<string> => {
    for (;;) {
      const rest = data.slice(consumed);
      const end = rest.indexOf('\r\n\r\n');
      if (end >= 0) {
        const length = Number(/content-length: (\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0);
        if (rest.length >= end + 4 + length) {
          consumed += end + 4 + length;
          return rest.slice(0, end + 4 + length);
        }
      }
      if (socket.destroyed) throw new Error(`connection closed; received: ${JSON.stringify(rest)}`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return { socket, received: () => data, closed, nextResponse };
}

async function withinBound<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not happen within ${CLOSED_WITHIN_MS} ms`)),
      CLOSED_WITHIN_MS,
    );
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes `chunks` one by one with `everyMs` between them, stopping early if the server closes. */
async function trickle(conn: Conn, chunks: Array<string | Buffer>, everyMs: number): Promise<void> {
  for (const chunk of chunks) {
    if (conn.socket.destroyed || !conn.socket.writable) return;
    conn.socket.write(chunk);
    await sleep(everyMs);
  }
}

const headerBlock = (lines: Record<string, string | number>): string =>
  Object.entries(lines)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');

/** One request on a connection of its own, closed afterwards. */
async function get(port: number, path: string): Promise<string> {
  const conn = await open(port);
  conn.socket.write(
    `GET ${path} HTTP/1.1\r\n` +
      headerBlock({ Host: 'localhost', ...authHeader(TENANT_A.key), Connection: 'close' }) +
      '\r\n',
  );
  return withinBound(conn.closed, `GET ${path}`);
}

const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
const bodyOf = (response: string): unknown => JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));

/** A multipart upload of `content` as a .jsonl batch file, split into `parts` pieces. */
function multipartUpload(content: string, parts: number): { head: string; pieces: Buffer[] } {
  const boundary = '----limits-test-boundary';
  const body =
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.jsonl"\r\n` +
    `Content-Type: application/octet-stream\r\n\r\n${content}\r\n--${boundary}--\r\n`;
  const head =
    'POST /v1/files HTTP/1.1\r\n' +
    headerBlock({
      Host: 'localhost',
      ...authHeader(TENANT_A.key),
      'Content-Type': `multipart/form-data; boundary=${boundary}`,
      'Content-Length': Buffer.byteLength(body),
    }) +
    '\r\n';
  // Cut as bytes: a cut through a multi-byte character must stay a cut, not become two U+FFFDs.
  const bytes = Buffer.from(body);
  const size = Math.ceil(bytes.length / parts);
  const pieces = Array.from({ length: parts }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
  return { head, pieces };
}

const BATCH_LINE =
  JSON.stringify({
    custom_id: 'slow-1',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'sim-model', messages: [{ role: 'user', content: 'héllo, 世界 🌍' }] },
  }) + '\n';

describe('HTTP server limits (slow clients, connection cap)', () => {
  const { env, app } = useApp({ env: { APP_ROLE: 'api', ...LIMITS } });
  let port: number;

  beforeAll(() => {
    port = Number(new URL(app.url).port);
  });

  it('closes a connection that trickles its headers, answering 408 in the envelope', async () => {
    const conn = await open(port);
    const headers = Array.from({ length: 100 }, (_, i) => `X-Slow-${i}: ${i}\r\n`);
    void trickle(conn, ['GET /health HTTP/1.1\r\nHost: localhost\r\n', ...headers], 200);
    const received = await withinBound(conn.closed, 'closing the trickling connection');
    expect(statusOf(received)).toBe(408);
    expect(bodyOf(received)).toMatchObject({ error: { code: 'request_timeout' } });
  });

  it('closes a connection that never sends anything', async () => {
    const conn = await open(port);
    await withinBound(conn.closed, 'closing the silent connection');
  });

  it('answers 408 to a JSON body that trickles past the request timeout, and closes the connection', async () => {
    const conn = await open(port);
    const body = JSON.stringify({
      input_file_id: 'file-abc',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    conn.socket.write(
      'POST /v1/batches HTTP/1.1\r\n' +
        headerBlock({
          Host: 'localhost',
          ...authHeader(TENANT_A.key),
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        }) +
        '\r\n',
    );
    // One byte every 300 ms: the whole body would take ~30 s.
    void trickle(conn, body.split(''), 300);
    const received = await withinBound(conn.closed, 'closing the slow request');
    expect(statusOf(received)).toBe(408);
    expect(bodyOf(received)).toEqual({
      error: {
        message: expect.any(String),
        type: 'invalid_request_error',
        param: null,
        code: 'request_timeout',
      },
    });
  });

  it('lets an upload trickle longer than the plain request timeout, within the upload timeout', async () => {
    const { head, pieces } = multipartUpload(BATCH_LINE.repeat(20), 8);
    const conn = await open(port);
    conn.socket.write(head);
    // 8 pieces, 450 ms apart: ~3.6 s, past the 2 s request timeout, within the 5 s upload timeout.
    await trickle(conn, pieces, 450);
    const response = await withinBound(conn.nextResponse(), 'the upload answer');
    expect(statusOf(response)).toBe(200);
    expect(bodyOf(response)).toMatchObject({
      object: 'file',
      bytes: Buffer.byteLength(BATCH_LINE.repeat(20)),
      purpose: 'batch',
    });
    conn.socket.destroy();
  });

  it('cuts an upload that is still arriving at the upload timeout and keeps none of it', async () => {
    const before = await env.listStored();
    const { head, pieces } = multipartUpload(BATCH_LINE.repeat(200), 100);
    const conn = await open(port);
    conn.socket.write(head);
    // 100 pieces, 100 ms apart: ~10 s, twice the upload timeout.
    void trickle(conn, pieces, 100);
    const received = await withinBound(conn.closed, 'cutting the slow upload');
    // Either the 408 reached us before the close, or just the close: never a success.
    if (received) expect(statusOf(received)).toBe(408);
    // The receiver removes what it stored once the request is gone.
    const deadline = Date.now() + CLOSED_WITHIN_MS;
    while ((await env.listStored()).length !== before.length && Date.now() < deadline) await sleep(100);
    expect(await env.listStored()).toEqual(before);
    const list = await get(port, '/v1/files?purpose=batch');
    const files = (bodyOf(list) as { data: { filename: string; bytes: number }[] }).data;
    expect(files.filter((f) => f.bytes === Buffer.byteLength(BATCH_LINE.repeat(200)))).toEqual([]);
  });

  it('holds at most MAX_CONNECTIONS connections: one more is closed at once, the held ones keep working', async () => {
    const held: Conn[] = [];
    try {
      // Idle keep-alive connections after one request each: not subject to the header timeout.
      for (let i = 0; i < 20; i++) {
        const conn = await open(port);
        held.push(conn);
        conn.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
        expect(statusOf(await withinBound(conn.nextResponse(), `an answer on connection ${i + 1}`))).toBe(
          200,
        );
      }

      const extra = await open(port);
      extra.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
      // Closed without an answer: it never reached the HTTP server.
      expect(await withinBound(extra.closed, 'closing the connection over the cap')).toBe('');

      for (const conn of [held[0], held[19]]) {
        conn.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
        expect(statusOf(await withinBound(conn.nextResponse(), 'an answer on a held connection'))).toBe(200);
      }
    } finally {
      held.forEach((c) => c.socket.destroy());
    }
  });
});
