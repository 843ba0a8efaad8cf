import { readdir, readlink } from 'node:fs/promises';
import { DataSource } from 'typeorm';
import { multipartBody, Part, rawPost, RawOutcome } from '../support/multipart';
import { assertConforms } from '../support/openai-schema';
import { useApp } from '../support/app-fixture';
import { authHeader, TENANT_A } from '../support/harness';

const MB = 1024 * 1024;
const BOUNDARY = 'hyg1ene';

/**
 * What a process holds open, by kind: sockets, pipes and anonymous inodes counted per kind, files by
 * path (so a leaked `.partial` shows by name). The app runs in this process, so this is its table.
 */
async function openDescriptors(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => null);
    if (target === null) continue; // the directory handle of this very readdir, already closed
    const kind = target.replace(/^(socket|pipe|anon_inode):.*$/, '$1');
    out.set(kind, (out.get(kind) ?? 0) + 1);
  }
  return out;
}

/** Kinds of descriptor of which more are open now than in `before`, with the counts. */
function grown(before: Map<string, number>, now: Map<string, number>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [kind, n] of now) {
    if (n > (before.get(kind) ?? 0)) out[kind] = `${before.get(kind) ?? 0} -> ${n}`;
  }
  return out;
}

interface Shape {
  name: string;
  /** The body as sent; `closed: false` leaves out the final boundary (a truncated form). */
  parts?: Part[];
  closed?: boolean;
  raw?: Buffer;
  contentType?: string;
  /** Send this many bytes of the body, then drop the connection. */
  abortAfter?: number;
  status?: number;
}

describe('Upload hygiene: a rejected upload leaves nothing behind (end to end, raw HTTP)', () => {
  const { env, app } = useApp({
    env: {
      MAX_BATCH_FILE_MB: '1',
      MAX_UPLOAD_MB: '12',
      THROTTLE_FILE_UPLOAD_LIMIT: '100000',
      // No maintenance pass mid-test: it would open database connections of its own.
      RECONCILE_INTERVAL_MS: '3600000',
    },
  });

  const send = (shape: Shape): Promise<RawOutcome> => {
    const body = shape.raw ?? multipartBody(shape.parts ?? [], BOUNDARY, shape.closed ?? true);
    return rawPost(
      `${app.url}/v1/files`,
      {
        ...authHeader(TENANT_A.key),
        'Content-Type': shape.contentType ?? `multipart/form-data; boundary=${BOUNDARY}`,
      },
      body,
      shape.abortAfter,
    );
  };

  const fileRows = async (): Promise<number> =>
    Number((await app.app.get(DataSource).query('SELECT count(*) AS n FROM files'))[0].n);

  it('stores nothing, leaves no partial file and closes every descriptor, whatever the malformation', async () => {
    const line = `${JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: {} })}\n`;
    const small = line;
    // Above MAX_BATCH_FILE_MB, below MAX_UPLOAD_MB, and large enough to be mid-write when a late part fails.
    const large = Buffer.alloc(Math.round(1.5 * MB), line);
    // Above MAX_UPLOAD_MB and above one S3 part (8 MB), so an S3 multipart upload is under way.
    const huge = Buffer.alloc(13 * MB, line);
    const long = 'p'.repeat(5000);
    const file = (value: Buffer | string, filename = 'a.jsonl', name = 'file'): Part => ({
      name,
      filename,
      value,
    });
    const field = (name: string, value: string): Part => ({ name, value });
    const manyFields = Array.from({ length: 17 }, (_, i) => field(`f${i}`, 'v'));

    // Warm up what a first request opens lazily (database pool, storage client), then take stock.
    const ok = await send({ name: 'a valid upload', parts: [field('purpose', 'batch'), file(small)] });
    expect(ok).toMatchObject({ kind: 'response', status: 200 });
    const storedBefore = await env.listStored();
    const rowsBefore = await fileRows();
    const fdsBefore = await openDescriptors();

    const shapes: Shape[] = [
      { name: 'long purpose before a small file', parts: [field('purpose', long), file(small)] },
      { name: 'long purpose before a large file', parts: [field('purpose', long), file(large, 'a.txt')] },
      { name: 'long purpose after a small file', parts: [file(small), field('purpose', long)] },
      { name: 'long purpose after a large file', parts: [file(large, 'a.txt'), field('purpose', long)] },
      {
        name: 'long unknown field before a file',
        parts: [field('purpose', 'user_data'), field('note', long), file(large, 'a.txt')],
      },
      {
        name: 'two small file parts',
        parts: [field('purpose', 'batch'), file(small), file(small, 'b.jsonl')],
      },
      {
        name: 'a large file part, then a second one',
        parts: [field('purpose', 'user_data'), file(large, 'a.txt'), file(small, 'b.txt')],
      },
      {
        name: 'unknown file part before the file',
        parts: [field('purpose', 'user_data'), file(small, 'x.txt', 'upload'), file(large, 'a.txt')],
      },
      {
        name: 'unknown file part after the file',
        parts: [field('purpose', 'user_data'), file(large, 'a.txt'), file(small, 'x.txt', 'upload')],
      },
      { name: 'too many fields before the file', parts: [...manyFields, file(small)] },
      {
        name: 'too many fields after the file',
        parts: [field('purpose', 'user_data'), file(large, 'a.txt'), ...manyFields],
      },
      {
        name: 'a thousand parts',
        parts: Array.from({ length: 1000 }, (_, i) => field(`f${i}`, 'v')),
      },
      {
        name: 'body ends mid-file (no closing boundary)',
        parts: [field('purpose', 'user_data'), file(large, 'a.txt')],
        closed: false,
      },
      {
        name: 'body ends inside a part header',
        raw: Buffer.from(
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${BOUNDARY}\r\nContent-Dispo`,
        ),
      },
      {
        name: 'client aborts mid-file',
        parts: [field('purpose', 'batch'), file(Buffer.alloc(MB / 2, line))],
        abortAfter: 64 * 1024,
      },
      {
        name: 'client aborts mid-file past the first S3 part',
        parts: [field('purpose', 'user_data'), file(Buffer.alloc(11 * MB, line), 'a.txt')],
        abortAfter: 9 * MB,
      },
      {
        name: 'client aborts before the file part',
        parts: [field('purpose', 'batch'), file(large)],
        abortAfter: 100,
      },
      { name: 'unknown purpose', parts: [field('purpose', 'nonsense'), file(small)] },
      {
        name: 'unknown purpose after a large file',
        parts: [file(large, 'a.txt'), field('purpose', 'nonsense')],
      },
      { name: 'a purpose only the service may use', parts: [field('purpose', 'batch_output'), file(small)] },
      { name: 'batch file that is not .jsonl', parts: [field('purpose', 'batch'), file(small, 'a.txt')] },
      {
        name: 'batch purpose after a large non-.jsonl file',
        parts: [file(large, 'a.txt'), field('purpose', 'batch')],
      },
      {
        name: 'batch file over the batch limit',
        parts: [field('purpose', 'batch'), file(large)],
        status: 413,
      },
      {
        name: 'batch purpose after a file over the batch limit',
        parts: [file(large), field('purpose', 'batch')],
        status: 413,
      },
      {
        name: 'file over the upload limit',
        parts: [field('purpose', 'user_data'), file(huge, 'a.txt')],
        status: 413,
      },
      {
        name: 'expires_after with a wrong anchor',
        parts: [field('purpose', 'batch'), field('expires_after[anchor]', 'now'), file(small)],
      },
      {
        name: 'expires_after too short',
        parts: [
          field('purpose', 'batch'),
          field('expires_after[anchor]', 'created_at'),
          field('expires_after[seconds]', '5'),
          file(small),
        ],
      },
      {
        name: 'expires_after not a number, after a large file',
        parts: [
          field('purpose', 'user_data'),
          file(large, 'a.txt'),
          field('expires_after[anchor]', 'created_at'),
          field('expires_after[seconds]', 'soon'),
        ],
      },
      { name: 'no purpose', parts: [file(small)] },
      { name: 'no file', parts: [field('purpose', 'batch')] },
      { name: "'file' sent as a text field", parts: [field('purpose', 'batch'), field('file', small)] },
      {
        name: 'multipart without a boundary',
        raw: multipartBody([field('purpose', 'batch'), file(small)], BOUNDARY),
        contentType: 'multipart/form-data',
      },
      {
        name: 'not multipart',
        raw: Buffer.from('{"purpose":"batch"}'),
        contentType: 'application/json',
        status: 415,
      },
      { name: 'an empty body', raw: Buffer.alloc(0) },
    ];
    // The case found from outside, over and over: each one used to keep a descriptor open.
    const reported = shapes.slice(0, 4);
    for (let i = 0; shapes.length < 60; i++)
      shapes.push({ ...reported[i % 4], name: `${reported[i % 4].name} #${i}` });

    const outcomes: Array<{ name: string; outcome: RawOutcome }> = [];
    for (const shape of shapes) {
      const outcome = await send(shape);
      outcomes.push({ name: shape.name, outcome });
      if (shape.abortAfter !== undefined && outcome.kind === 'closed') continue;
      expect({ name: shape.name, kind: outcome.kind }).toEqual({ name: shape.name, kind: 'response' });
      if (outcome.kind !== 'response') continue;
      expect({ name: shape.name, status: outcome.status }).toEqual({
        name: shape.name,
        status: shape.status ?? 400,
      });
      assertConforms('ErrorResponse', JSON.parse(outcome.body));
    }
    expect(outcomes.length).toBeGreaterThanOrEqual(50);

    // A dropped connection is noticed asynchronously: give the server a moment to finish cleaning up.
    let fdsAfter = await openDescriptors();
    for (let i = 0; i < 100 && Object.keys(grown(fdsBefore, fdsAfter)).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      fdsAfter = await openDescriptors();
    }
    expect(grown(fdsBefore, fdsAfter)).toEqual({});
    expect(await env.listStored()).toEqual(storedBefore);
    expect(await fileRows()).toBe(rowsBefore);
  }, 180_000);
});
