import OpenAI, { toFile } from 'openai';
import { startPost } from '../support/multipart';
import { DataSource } from 'typeorm';
import { FilesService } from '../../src/domain/files/files.service';
import { Json } from '../support/batch-helpers';
import spec from '../fixtures/openai-files-batches.openapi.json';
import { assertConforms } from '../support/openai-schema';
import { useApp } from '../support/app-fixture';
import { authHeader, TENANT_A } from '../support/harness';

/** One multipart field: a value, or a file with its name. */
type Part = [name: string, value: string] | [name: string, value: Blob, filename: string];
const BATCH: Part = ['purpose', 'batch'];

/** A form with the parts in this order (appended, so a name may repeat). */
function formOf(parts: Part[]): FormData {
  const form = new FormData();
  for (const [name, value, filename] of parts) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, value, filename);
  }
  return form;
}

const jsonl = (n: number): string =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      custom_id: `r${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'sim-model', messages: [{ role: 'user', content: `hi ${i}` }] },
    }),
  ).join('\n') + '\n';

describe('Files API (end to end, official SDK + HTTP)', () => {
  const { env, app, a, b } = useApp({
    env: { MAX_BATCH_FILE_MB: '2', MAX_UPLOAD_MB: '4', THROTTLE_FILE_UPLOAD_LIMIT: '1000' },
  });

  const expectError = async (res: Response, status: number, code?: string | null, param?: string | null) => {
    expect(res.status).toBe(status);
    const body = (await res.json()) as Json;
    assertConforms('ErrorResponse', body);
    if (code !== undefined) expect(body.error.code).toBe(code);
    if (param !== undefined) expect(body.error.param).toBe(param);
    return body;
  };

  /** GET /v1/files with a query the list refuses: 400 invalid_value naming the parameter. */
  const expectListRefused = async (query: string, param: string) =>
    expectError(
      await fetch(`${app.url}/v1/files?${query}`, { headers: authHeader(TENANT_A.key) }),
      400,
      'invalid_value',
      param,
    );
  const upload = (form: FormData, key = TENANT_A.key) =>
    fetch(`${app.url}/v1/files`, { method: 'POST', body: form, headers: authHeader(key) });

  it('round-trips create, list, retrieve, content and delete with the SDK', async () => {
    const text = jsonl(3);
    const created = await a.files.create({
      file: await toFile(Buffer.from(text), 'input.jsonl'),
      purpose: 'batch',
    });
    assertConforms('OpenAIFile', created);
    expect(created).toMatchObject({
      object: 'file',
      bytes: Buffer.byteLength(text),
      filename: 'input.jsonl',
      purpose: 'batch',
    });
    expect(created.id).toMatch(/^file-/);
    // OpenAI's default for batch input files (FILE_DEFAULT_EXPIRY_DAYS, 30 unless configured).
    expect(created.expires_at! - created.created_at).toBe(30 * 86_400);

    const listed = await a.files.list();
    const raw = (await (
      await fetch(`${app.url}/v1/files`, { headers: authHeader(TENANT_A.key) })
    ).json()) as Json;
    assertConforms('ListFilesResponse', raw);
    expect(listed.data.map((f) => f.id)).toContain(created.id);

    const retrieved = await a.files.retrieve(created.id);
    assertConforms('OpenAIFile', retrieved);
    expect(retrieved).toEqual(created);

    const content = await a.files.content(created.id);
    expect(await content.text()).toBe(text);

    const deleted = await a.files.delete(created.id);
    assertConforms('DeleteFileResponse', deleted);
    expect(deleted).toEqual({ id: created.id, object: 'file', deleted: true });
    await expect(a.files.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
  });

  it('lists with purpose, limit, order and after, with OpenAI list fields', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        (await a.files.create({ file: await toFile(Buffer.from(jsonl(1)), `p${i}.jsonl`), purpose: 'batch' }))
          .id,
      );
    }
    await a.files.create({ file: await toFile(Buffer.from('x'), 'notes.txt'), purpose: 'user_data' });
    const res = await fetch(`${app.url}/v1/files?purpose=batch&limit=2&order=asc`, {
      headers: authHeader(TENANT_A.key),
    });
    const page = (await res.json()) as Json;
    assertConforms('ListFilesResponse', page);
    expect(page.data).toHaveLength(2);
    expect(page.has_more).toBe(true);
    expect(page.data.every((f: { purpose: string }) => f.purpose === 'batch')).toBe(true);
    const next = (await (
      await fetch(`${app.url}/v1/files?purpose=batch&limit=100&order=asc&after=${page.last_id}`, {
        headers: authHeader(TENANT_A.key),
      })
    ).json()) as Json;
    const all = [...page.data, ...next.data].map((f: { id: string }) => f.id);
    expect(new Set(all).size).toBe(all.length);
    for (const id of ids) expect(all).toContain(id);
    await expectListRefused('limit=0', 'limit');
    await expectListRefused('order=up', 'order');
  });

  it("lists by any of OpenAI's purposes, empty for those never stored; refuses others", async () => {
    await a.files.create({ file: await toFile(Buffer.from(jsonl(1)), 'listed.jsonl'), purpose: 'batch' });
    const openaiPurposes: string[] = [
      ...(spec.components.schemas.OpenAIFile.properties.purpose.enum as string[]),
      ...(spec.components.schemas.CreateFileRequest.properties.purpose.enum as string[]),
    ];
    expect(openaiPurposes).toEqual(
      expect.arrayContaining(['fine-tune-results', 'assistants_output', 'evals']),
    );
    for (const purpose of new Set(openaiPurposes)) {
      const res = await fetch(`${app.url}/v1/files?purpose=${purpose}`, {
        headers: authHeader(TENANT_A.key),
      });
      expect({ purpose, status: res.status }).toEqual({ purpose, status: 200 });
      const page = (await res.json()) as Json;
      if (page.data.length === 0) {
        // OpenAI answers an empty list with null ids, although its schema types them as strings.
        expect(page).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
      } else {
        assertConforms('ListFilesResponse', page);
        expect(page.data.every((f: { purpose: string }) => f.purpose === purpose)).toBe(true);
      }
      if (purpose === 'batch') expect(page.data.length).toBeGreaterThan(0);
    }
    for (const purpose of ['fine-tune-results', 'assistants_output', 'vision', 'evals']) {
      const page = await a.files.list({ purpose });
      expect({ purpose, data: page.data }).toEqual({ purpose, data: [] });
    }
    await expectListRefused('purpose=nonsense', 'purpose');
  });

  it('rejects bad uploads with the right status and envelope, and stores nothing', async () => {
    const before = await env.listStored();
    const countBefore = (await a.files.list()).data.length;

    const line = (name: string): Part => ['file', new Blob([jsonl(1)]), name];
    // Over the batch limit (MAX_BATCH_FILE_MB=2 here, 200 by default): 413, whatever the field order.
    const big: Part = ['file', new Blob([Buffer.alloc(3 * 1024 * 1024, 'a')]), 'big.jsonl'];
    const refusals: { parts: Part[]; status: number; code: string | null; param: string }[] = [
      { parts: [BATCH], status: 400, code: 'missing_required_parameter', param: 'file' },
      {
        parts: [['purpose', 'nonsense'], line('a.jsonl')],
        status: 400,
        code: 'invalid_value',
        param: 'purpose',
      },
      { parts: [line('a.jsonl')], status: 400, code: 'missing_required_parameter', param: 'purpose' },
      { parts: [BATCH, line('a.csv')], status: 400, code: 'invalid_file_format', param: 'file' },
      // purpose after the file part: the rule still applies once the purpose is known
      { parts: [line('a.txt'), BATCH], status: 400, code: 'invalid_file_format', param: 'file' },
      { parts: [BATCH, big], status: 413, code: 'file_too_large', param: 'file' },
      { parts: [big, BATCH], status: 413, code: 'file_too_large', param: 'file' },
      { parts: [BATCH, line('a.jsonl'), line('b.jsonl')], status: 400, code: null, param: 'file' },
      {
        parts: [
          BATCH,
          ['expires_after[anchor]', 'created_at'],
          ['expires_after[seconds]', '5'],
          line('a.jsonl'),
        ],
        status: 400,
        code: 'invalid_value',
        param: 'expires_after[seconds]',
      },
    ];
    for (const { parts, status, code, param } of refusals) {
      await expectError(await upload(formOf(parts)), status, code, param);
    }

    const rawPost = (contentType: string, body: string) =>
      fetch(`${app.url}/v1/files`, {
        method: 'POST',
        headers: { ...authHeader(TENANT_A.key), 'content-type': contentType },
        body,
      });
    await expectError(await rawPost('application/json', '{"purpose": "batch"}'), 415);
    await expectError(
      await rawPost(
        'multipart/form-data; boundary=xyz',
        '--xyz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{"a":1}',
      ),
      400,
    );

    expect((await a.files.list()).data.length).toBe(countBefore);
    expect(await env.listStored()).toEqual(before);
  });

  it('expires batch uploads after 30 days by default; other purposes only when asked', async () => {
    const other = await a.files.create({
      file: await toFile(Buffer.from('x'), 'keep.txt'),
      purpose: 'user_data',
    });
    expect(other.expires_at).toBeNull();
    const asked = await a.files.create({
      file: await toFile(Buffer.from('x'), 'short.txt'),
      purpose: 'user_data',
      expires_after: { anchor: 'created_at', seconds: 7200 },
    });
    assertConforms('OpenAIFile', asked);
    expect(asked.expires_at! - asked.created_at).toBe(7200);
    const batch = await a.files.create({
      file: await toFile(Buffer.from(jsonl(1)), 'in.jsonl'),
      purpose: 'batch',
    });
    expect(batch.expires_at! - batch.created_at).toBe(30 * 86_400);
    expect((await a.files.retrieve(batch.id)).expires_at).toBe(batch.expires_at);
  });

  it('keeps the expiry asked for at upload', async () => {
    const res = await upload(
      formOf([
        BATCH,
        ['expires_after[anchor]', 'created_at'],
        ['expires_after[seconds]', '3600'],
        ['file', new Blob([jsonl(1)]), 'a.jsonl'],
      ]),
    );
    expect(res.status).toBe(200);
    const file = (await res.json()) as Json;
    assertConforms('OpenAIFile', file);
    expect(file.expires_at - file.created_at).toBe(3600);
  });

  it('hides an expired file at once and purges its bytes', async () => {
    const storedBefore = await env.listStored();
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set('expires_after[anchor]', 'created_at');
    form.set('expires_after[seconds]', '3600');
    form.set('file', new Blob([jsonl(1)]), 'soon.jsonl');
    const file = (await (await upload(form)).json()) as Json;
    expect((await env.listStored()).length).toBeGreaterThan(storedBefore.length);
    // Move its expiry into the past instead of waiting an hour.
    await app.app
      .get(DataSource)
      .query(`UPDATE files SET expires_at = now() - interval '1 second' WHERE id = $1`, [file.id]);
    await expect(a.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
    expect((await a.files.list()).data.map((f) => f.id)).not.toContain(file.id);
    expect(await app.app.get(FilesService).purgeExpired()).toBe(1);
    expect(await env.listStored()).toEqual(storedBefore);
  });

  it('leaves no file object and no bytes when the client aborts mid-upload', async () => {
    const before = await env.listStored();
    const countBefore = (await a.files.list()).data.length;
    await new Promise<void>((resolve) => {
      const req = startPost(`${app.url}/v1/files`, {
        ...authHeader(TENANT_A.key),
        'content-type': 'multipart/form-data; boundary=BOUND',
        'content-length': String(10 * 1024 * 1024),
      });
      req.on('error', () => resolve());
      req.write('--BOUND\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n');
      req.write('--BOUND\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n');
      req.write(Buffer.alloc(512 * 1024, 'x'));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 300);
    });
    // The server notices the disconnect asynchronously; give it a moment, then check.
    for (let i = 0; i < 40; i++) {
      if ((await env.listStored()).length === before.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await env.listStored()).toEqual(before);
    expect((await a.files.list()).data.length).toBe(countBefore);
  });

  it('isolates tenants and answers unknown, foreign and path-like ids with 404', async () => {
    const mine = await a.files.create({
      file: await toFile(Buffer.from(jsonl(1)), 'mine.jsonl'),
      purpose: 'batch',
    });
    await expect(b.files.retrieve(mine.id)).rejects.toMatchObject({ status: 404 });
    await expect(b.files.content(mine.id)).rejects.toMatchObject({ status: 404 });
    await expect(b.files.delete(mine.id)).rejects.toMatchObject({ status: 404 });
    expect((await b.files.list()).data.map((f) => f.id)).not.toContain(mine.id);
    const body = await expectError(
      await fetch(`${app.url}/v1/files/file-doesnotexist`, { headers: authHeader(TENANT_A.key) }),
      404,
    );
    expect(body.error.message).toBe('No such File object: file-doesnotexist');
    await expectError(
      await fetch(`${app.url}/v1/files/..%2F..%2Fetc%2Fpasswd`, { headers: authHeader(TENANT_A.key) }),
      404,
    );
    await expectError(
      await fetch(`${app.url}/v1/files/${'x'.repeat(5000)}/content`, { headers: authHeader(TENANT_A.key) }),
      404,
    );
    expect((await a.files.retrieve(mine.id)).id).toBe(mine.id);
  });

  it('answers 401 invalid_api_key for a missing or wrong key', async () => {
    await expectError(await fetch(`${app.url}/v1/files`), 401, 'invalid_api_key');
    await expectError(
      await fetch(`${app.url}/v1/files`, { headers: authHeader('sk-wrong-key-123456') }),
      401,
      'invalid_api_key',
    );
    const sdk = new OpenAI({ baseURL: `${app.url}/v1`, apiKey: 'sk-wrong-key-123456', maxRetries: 0 });
    await expect(sdk.files.list()).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
  });

  it('answers unknown routes and malformed JSON in the envelope, with a request id', async () => {
    const res = await fetch(`${app.url}/v1/nothing-here`, { headers: authHeader(TENANT_A.key) });
    expect(res.headers.get('x-request-id')).toBeTruthy();
    await expectError(res, 404);
    await expectError(
      await fetch(`${app.url}/v1/batches`, {
        method: 'POST',
        headers: { ...authHeader(TENANT_A.key), 'content-type': 'application/json' },
        body: '{"input_file_id": ',
      }),
      400,
    );
  });

  it('serves Swagger UI and the OpenAPI document, health and readiness', async () => {
    const doc = (await (await fetch(`${app.url}/docs-json`)).json()) as Json;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/files',
        '/v1/files/{file_id}',
        '/v1/files/{file_id}/content',
        '/v1/batches',
      ]),
    );
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect((await fetch(`${app.url}/docs`)).status).toBe(200);
    expect(await (await fetch(`${app.url}/health`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${app.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', postgres: 'up', redis: 'up', storage: 'up' });
  });
});
