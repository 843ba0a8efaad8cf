import { type ClientRequest, type IncomingMessage } from 'node:http';
import { startPost } from '../support/multipart';
import { utimes } from 'node:fs/promises';
import { Client } from 'pg';
import { listStoredFiles } from '../support/storage-files';
import {
  authHeader,
  killAll,
  ServiceProcess,
  sleep,
  startService,
  TENANT_A,
  until,
} from '../support/harness';
import { reliabilityEnv, report, TestEnv } from '../support/reliability';

const BOUNDARY = 'reliability-boundary-7MA4YWxkTrZu0gW';

/** A multipart upload written by hand, chunk by chunk, so a test can act while it is in flight. */
class SlowUpload {
  readonly req: ClientRequest;
  readonly response: Promise<{ status: number; body: string }>;
  private readonly line = JSON.stringify({
    custom_id: 'x',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'sim-model', messages: [{ role: 'user', content: 'y'.repeat(900) }] },
  });
  sent = 0;

  constructor(apiUrl: string) {
    this.req = startPost(`${apiUrl}/v1/files`, {
      ...authHeader(TENANT_A.key),
      'Content-Type': `multipart/form-data; boundary=${BOUNDARY}`,
      'Transfer-Encoding': 'chunked',
    });
    this.response = new Promise((resolve, reject) => {
      this.req.on('response', (res: IncomingMessage) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      this.req.on('error', reject);
    });
    // The response promise may legitimately reject (the server was killed): never unhandled.
    this.response.catch(() => undefined);
    this.req.write(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\n`,
    );
  }

  /** Writes about `bytes` more of JSONL lines. */
  async send(bytes: number): Promise<void> {
    const chunk = `${this.line}\n`.repeat(Math.max(1, Math.round((64 * 1024) / (this.line.length + 1))));
    let written = 0;
    while (written < bytes) {
      if (!this.req.write(chunk)) await new Promise((r) => this.req.once('drain', r));
      written += chunk.length;
      this.sent += chunk.length;
    }
  }

  finish(): void {
    this.req.end(`\r\n--${BOUNDARY}--\r\n`);
  }
}

async function fileRows(databaseUrl: string): Promise<number> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    return Number((await db.query('SELECT count(*) AS n FROM files')).rows[0].n);
  } finally {
    await db.end();
  }
}

const partials = async (dir: string): Promise<string[]> =>
  (await listStoredFiles(dir)).filter((f) => f.endsWith('.partial'));

/**
 * The API process dying or stopping in the middle of an upload. A file object exists only once its
 * bytes are complete (the row is written after storage has the whole object); a killed process's
 * `.partial` file is swept once idle (at start and hourly), a stopped one finishes what is in flight.
 */
describe('Reliability: API crash and graceful stop mid-upload', () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await reliabilityEnv({ SHUTDOWN_GRACE_SECONDS: '20' });
  });

  afterAll(async () => {
    await killAll();
    await env?.dispose();
  }, 60_000);

  it('SIGKILL mid-upload: no half file becomes a file object; the partial bytes are swept', async () => {
    let api: ServiceProcess = await startService('api', env.env, 'api-killed');
    const upload = new SlowUpload(api.url);
    await upload.send(4 * 1024 * 1024);
    await until(async () => (await partials(env.storageDir)).length === 1, 10_000, 'the partial file');

    api.proc.kill('SIGKILL');
    await api.proc.exited;
    await expect(upload.response).rejects.toThrow();
    expect(await fileRows(env.databaseUrl)).toBe(0);
    const [left] = await partials(env.storageDir);
    expect(left).toBeDefined();

    // A restart right away keeps it (it could be another replica's live upload) ...
    api = await startService('api', env.env, 'api-restarted');
    await sleep(1000);
    expect(await partials(env.storageDir)).toEqual([left]);
    await api.proc.stop();
    // ... once idle past the threshold (here: aged by hand), the next start removes it.
    const old = new Date(Date.now() - 60 * 60_000);
    await utimes(left, old, old);
    const restartedAt = Date.now();
    api = await startService('api', env.env, 'api-restarted-2');
    await until(
      async () => (await partials(env.storageDir)).length === 0,
      10_000,
      'the sweep of the partial file',
    );
    expect(await listStoredFiles(env.storageDir)).toEqual([]);
    const list = (await (
      await fetch(`${api.url}/v1/files`, { headers: authHeader(TENANT_A.key) })
    ).json()) as {
      data: unknown[];
    };
    expect(list.data).toEqual([]);
    report('API SIGKILL mid-upload', {
      bytesSentBeforeKill: upload.sent,
      fileObjects: 0,
      partialSweptSecondsAfterStart: (Date.now() - restartedAt) / 1000,
    });
    await api.proc.stop();
  }, 120_000);

  it('SIGTERM mid-upload: stops accepting connections at once, finishes the upload in flight, then exits', async () => {
    const api = await startService('api', env.env, 'api-sigterm');
    const upload = new SlowUpload(api.url);
    await upload.send(2 * 1024 * 1024);
    await until(async () => (await partials(env.storageDir)).length === 1, 10_000, 'the partial file');

    const termAt = Date.now();
    api.proc.kill('SIGTERM');
    // New connections are refused while the upload is still streaming.
    const refusedAfter = await until(
      async () => {
        try {
          await fetch(`${api.url}/health`, { signal: AbortSignal.timeout(1000) });
          return null;
        } catch (err) {
          const code = (err as { cause?: { code?: string } }).cause?.code;
          return code === 'ECONNREFUSED' ? Math.max(0.001, (Date.now() - termAt) / 1000) : null;
        }
      },
      5_000,
      'new connections to be refused',
      50,
    );
    expect(api.proc.running).toBe(true);
    await upload.send(2 * 1024 * 1024);
    upload.finish();
    const res = await upload.response;
    expect(res.status).toBe(200);
    const file = JSON.parse(res.body) as { id: string; bytes: number };
    expect(file.bytes).toBeGreaterThan(4 * 1024 * 1024);
    await api.proc.waitExit(20_000);
    const exitSeconds = (Date.now() - termAt) / 1000;

    // The file is whole after a restart.
    const again = await startService('api', env.env, 'api-after-sigterm');
    const content = await fetch(`${again.url}/v1/files/${file.id}/content`, {
      headers: authHeader(TENANT_A.key),
    });
    expect(content.status).toBe(200);
    expect((await content.arrayBuffer()).byteLength).toBe(file.bytes);
    expect(await partials(env.storageDir)).toEqual([]);
    report('API SIGTERM mid-upload', {
      refusedNewConnectionsAfterSeconds: refusedAfter,
      uploadStatus: res.status,
      uploadBytes: file.bytes,
      exitSeconds,
    });
    await again.proc.stop();
  }, 120_000);
});
