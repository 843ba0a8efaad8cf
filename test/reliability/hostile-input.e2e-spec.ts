import fc from 'fast-check';
import { toFile } from 'openai';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { readJsonlLines } from '../../src/domain/batches/jsonl-reader';
import { checkLine, FileValidation } from '../../src/domain/batches/line-validator';
import { memoryOf, TENANT_A, TENANT_B } from '../support/harness';
import { report, sdkFor, useProcesses, waitFinal } from '../support/reliability';
import { multipartBody, Part } from '../support/multipart';

const ENDPOINT = '/v1/chat/completions';
const LINE_CODES = [
  'invalid_json_line',
  'missing_required_parameter',
  'invalid_url',
  'invalid_request',
  'streaming_unsupported',
];

const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** What PostgreSQL can store as text or jsonb exactly: no NUL, no lone UTF-16 surrogate. */
const storable = (s: string): boolean => !s.includes('\u0000') && s.replace(LONE_SURROGATES, '') === s;

/** Any string, including NUL, control characters and lone surrogates. */
const anyString = (maxLength = 40): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.constantFrom('', '\u0000', '\ud800', 'a\udc00b', '\ufeff', '../../etc/passwd', 'x'.repeat(600)),
  );

const validLine = fc.record({
  custom_id: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }).filter(storable),
  method: fc.constant('POST'),
  url: fc.constant(ENDPOINT),
  body: fc.record({
    model: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
    messages: fc.array(fc.record({ role: fc.constant('user'), content: anyString() }), { maxLength: 3 }),
  }),
});

/** A line with any field replaced by anything, or removed. */
const mutatedLine = fc
  .tuple(
    validLine,
    fc.constantFrom('custom_id', 'method', 'url', 'body', 'body.model', 'body.stream'),
    fc.oneof(fc.jsonValue(), anyString(), fc.constant(undefined), fc.constant(true)),
  )
  .map(([line, field, value]) => {
    const copy = JSON.parse(JSON.stringify(line)) as Record<string, Record<string, unknown>>;
    if (field.startsWith('body.')) {
      if (typeof copy.body === 'object' && copy.body) copy.body[field.slice(5)] = value;
    } else (copy as Record<string, unknown>)[field] = value;
    return JSON.stringify(copy);
  });

async function linesOf(chunks: Buffer[]): Promise<Array<{ lineNo: number; text?: string; tooLong?: true }>> {
  const out = [];
  for await (const item of readJsonlLines(Readable.from(chunks), 4096)) out.push(item);
  return out;
}

describe('Reliability: hostile input', () => {
  describe('JSONL line validator and reader (property-based)', () => {
    it('checkLine never throws; every verdict is a known code on the right line, storable in PostgreSQL', () => {
      fc.assert(
        fc.property(
          fc.oneof(
            anyString(200),
            fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
            mutatedLine,
          ),
          fc.integer({ min: 1, max: 1_000_000 }),
          (text, lineNo) => {
            const verdict = checkLine(text, lineNo, ENDPOINT);
            if (verdict.ok) {
              const parsed = JSON.parse(text) as {
                custom_id: string;
                body: { model: string; stream?: unknown };
              };
              expect(verdict.line.customId).toBe(parsed.custom_id);
              expect(verdict.line.model).toBe(parsed.body.model);
              expect(parsed.body.stream).not.toBe(true);
              // What ends up in batch_requests.custom_id comes back byte for byte.
              expect(storable(verdict.line.customId)).toBe(true);
            } else {
              expect(LINE_CODES).toContain(verdict.error.code);
              expect(verdict.error.line).toBe(lineNo);
              expect(verdict.error.message.length).toBeLessThan(1000);
              expect(storable(verdict.error.message)).toBe(true);
            }
          },
        ),
        { numRuns: 3000 },
      );
    });

    it('accepts every well-formed line and keeps its custom_id and model', () => {
      fc.assert(
        fc.property(validLine, (line) => {
          const verdict = checkLine(JSON.stringify(line), 7, ENDPOINT);
          expect(verdict).toEqual({
            ok: true,
            line: { customId: line.custom_id, model: line.body.model, body: line.body },
          });
        }),
        { numRuns: 1000 },
      );
    });

    it('file-level checks keep bounded, storable errors whatever the lines', () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.oneof(
              mutatedLine,
              validLine.map((l) => JSON.stringify(l)),
            ),
            { maxLength: 60 },
          ),
          (lines) => {
            const v = new FileValidation(ENDPOINT, 5, 1024);
            lines.forEach((l, i) => v.addLine(l, i + 1));
            expect(Number.isSafeInteger(v.estimatedTokens) && v.estimatedTokens >= 0).toBe(true);
            const reported = v.report();
            expect(reported.length).toBeLessThanOrEqual(6);
            expect(v.requestCount).toBe(lines.length);
            for (const e of reported) expect(storable(e.message)).toBe(true);
          },
        ),
        { numRuns: 500 },
      );
    });

    it('reads the same lines whatever the chunking: BOM, CRLF, NUL, invalid UTF-8, overlong lines', async () => {
      const piece = fc.oneof(
        fc
          .constantFrom('\n', '\r\n', '\r', '\u0000', '\ufeff', '{"a":1}', ' ', 'é', '😀')
          .map((s) => Buffer.from(s)),
        fc.constantFrom(
          Buffer.from([0xff]),
          Buffer.from([0xc3]),
          Buffer.from([0xe2, 0x82]),
          Buffer.from([0xed, 0xa0, 0x80]),
        ),
        fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)),
        fc.constant(Buffer.alloc(5000, 0x61)),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(piece, { maxLength: 30 }),
          fc.array(fc.nat(), { maxLength: 8 }),
          async (pieces, cuts) => {
            const whole = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), ...pieces]);
            const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
            const chunks: Buffer[] = [];
            let prev = 0;
            for (const p of points) {
              chunks.push(whole.subarray(prev, p));
              prev = p;
            }
            chunks.push(whole.subarray(prev));
            const once = await linesOf([whole]);
            const chunked = await linesOf(chunks.filter((c) => c.length > 0));
            expect(chunked).toEqual(once);
            let last = 0;
            for (const item of once) {
              expect(item.lineNo).toBeGreaterThan(last);
              last = item.lineNo;
              if (item.text !== undefined) {
                expect(item.text).not.toContain('\n');
                expect(item.text.trim()).not.toBe('');
              }
            }
          },
        ),
        { numRuns: 500 },
      );
    });
  });

  describe('HTTP API and batch inputs (real processes)', () => {
    const { api, worker } = useProcesses({
      simulator: { SIM_STEP_BASE_MS: '1', SIM_STEP_PER_SEQ_MS: '0', SIM_OUTPUT_TOKENS: '4' },
      env: { LOG_LEVEL: 'warn', MAX_BATCH_FILE_MB: '64' },
      api: 'api-hostile',
      worker: 'worker-hostile',
    });

    interface RawResponse {
      status: number;
      headers: Record<string, string | string[] | undefined>;
      body: string;
    }

    /** Only what an HTTP request line can carry is escaped; `..`, `%` and `/` stay as they are. */
    const onTheWire = (path: string): string => path.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));

    /** A raw HTTP request: paths are sent as given (no URL normalisation), bodies as bytes. */
    function raw(
      method: string,
      path: string,
      headers: Record<string, string>,
      body?: Buffer | string,
    ): Promise<RawResponse> {
      const url = new URL(api.url);
      return new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            method,
            path: onTheWire(path),
            // Node sends a DELETE body without framing unless told its length.
            headers:
              body === undefined
                ? headers
                : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
            agent: false,
            timeout: 30_000,
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              size += c.length;
              if (size < 1_000_000) chunks.push(c);
            });
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks).toString('utf8'),
              }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.on('timeout', () => req.destroy(new Error('request timed out')));
        // The server may answer (413, 415, 401) and close before reading a large body: that is fine.
        req.on('error', () => undefined);
        req.end(body);
      });
    }

    function expectEnvelope(res: RawResponse, status?: number, code?: string | null): void {
      if (status !== undefined)
        expect({ status: res.status, body: res.body.slice(0, 300) }).toMatchObject({ status });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      const parsed = JSON.parse(res.body) as { error: Record<string, unknown> };
      expect(Object.keys(parsed)).toEqual(['error']);
      expect(typeof parsed.error.message).toBe('string');
      expect(typeof parsed.error.type).toBe('string');
      expect('param' in parsed.error && 'code' in parsed.error).toBe(true);
      if (code !== undefined) expect(parsed.error.code).toBe(code);
    }

    const auth = { Authorization: `Bearer ${TENANT_A.key}` };
    const json = { ...auth, 'Content-Type': 'application/json' };

    /** Real ids of both tenants (filled in by the fuzz test), so fuzzing reaches past the 404s. */
    const knownIds: string[] = ['file-none'];
    const knownId = fc.nat().map((i) => knownIds[i % knownIds.length]);
    const idArb = fc.oneof(
      knownId,
      fc.constantFrom(
        'file-abc',
        'batch_abc',
        '..',
        '..%2F..%2Fetc%2Fpasswd',
        '%2e%2e',
        '%00',
        'file-%00',
        '%ff%fe',
        '%F0%9F%98%80',
        'x'.repeat(5000),
        'batch_' + 'A'.repeat(300),
        '${jndi:ldap://x}',
        "'; DROP TABLE files; --",
      ),
      fc
        .string({ unit: 'binary', maxLength: 30 })
        .map((s) => encodeURIComponent(s.replace(LONE_SURROGATES, '\ufffd'))),
    );
    const pathArb = fc.oneof(
      fc.constantFrom(
        '/v1/files',
        '/v1/batches',
        '/v1/files/',
        '/v1//batches',
        '/v1/files?limit=0',
        '/v1/batches?limit=-1',
      ),
      idArb.map((id) => `/v1/files/${id}`),
      idArb.map((id) => `/v1/files/${id}/content`),
      idArb.map((id) => `/v1/batches/${id}`),
      idArb.map((id) => `/v1/batches/${id}/cancel`),
      idArb.map((id) => `/v1/files?after=${id}&limit=${id}&order=${id}&purpose=${id}`),
      idArb.map((id) => `/v1/batches?after=${id}&limit=${id}`),
      idArb.map((id) => `/${id}`),
    );
    const deep = (d: number): string => '['.repeat(d) + ']'.repeat(d);
    const deepObject = (d: number): string => '{"a":'.repeat(d) + '1' + '}'.repeat(d);
    const bodyArb: fc.Arbitrary<Buffer | undefined> = fc.oneof(
      fc.constant(undefined),
      fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc
        .record(
          {
            input_file_id: fc.oneof(knownId, knownId, fc.jsonValue(), anyString()),
            endpoint: fc.oneof(fc.constant(ENDPOINT), fc.jsonValue(), anyString()),
            completion_window: fc.oneof(fc.constant('24h'), fc.jsonValue(), anyString()),
            metadata: fc.oneof(
              fc.jsonValue(),
              fc.dictionary(anyString(80), fc.oneof(anyString(600), fc.jsonValue()), { maxKeys: 20 }),
            ),
            output_expires_after: fc.oneof(
              fc.jsonValue(),
              fc.record({ anchor: fc.jsonValue(), seconds: fc.jsonValue() }),
            ),
          },
          { requiredKeys: [] },
        )
        .map((o) => Buffer.from(JSON.stringify(o))),
      fc.integer({ min: 1, max: 200_000 }).map((d) => Buffer.from(deep(d))),
      fc.integer({ min: 1, max: 100_000 }).map((d) => Buffer.from(`{"metadata":${deepObject(d)}}`)),
    );
    const contentTypeArb = fc.constantFrom(
      undefined,
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'text/plain',
      'multipart/form-data',
      'multipart/form-data; boundary=',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      'application/octet-stream',
      '*/*',
      'application/json\u0000',
    );
    const authArb = fc.constantFrom<Record<string, string>>(
      auth,
      { Authorization: `Bearer ${TENANT_B.key}` },
      {},
      { Authorization: 'Bearer ' },
      { Authorization: `Bearer ${'k'.repeat(8000)}` },
      { Authorization: 'Basic dXNlcjpwYXNz' },
      { Authorization: `bearer ${TENANT_A.key}` },
    );

    it('fuzzed requests (methods, paths, ids, headers, bodies): never a 5xx, always the envelope, memory bounded', async () => {
      for (const key of [TENANT_A.key, TENANT_B.key]) {
        const client = sdkFor(api.url, key);
        const file = await client.files.create({
          file: await toFile(Buffer.from(`${line}\n`), 'f.jsonl'),
          purpose: 'batch',
        });
        const batch = await client.batches.create({
          input_file_id: file.id,
          endpoint: ENDPOINT,
          completion_window: '24h',
        });
        knownIds.push(file.id, batch.id);
      }
      let runs = 0;
      let peak = 0;
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH'),
          pathArb,
          authArb,
          contentTypeArb,
          bodyArb,
          async (method, path, authHeaders, contentType, body) => {
            runs++;
            const headers: Record<string, string> = { ...authHeaders };
            if (contentType !== undefined) headers['Content-Type'] = contentType.replace('\u0000', '');
            let res: RawResponse;
            try {
              res = await raw(method, path, headers, method === 'GET' ? undefined : body);
            } catch (err) {
              // Node's own HTTP parser may refuse a request outright (e.g. a header it cannot send).
              if ((err as { code?: string }).code === 'ERR_INVALID_CHAR') return;
              throw err;
            }
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            if (res.status >= 500) {
              throw new Error(`${method} ${path.slice(0, 200)} → ${res.status} ${res.body.slice(0, 300)}`);
            }
            if (res.status >= 400) expectEnvelope(res);
            expect(api.proc.running).toBe(true);
            if (runs % 25 === 0) peak = Math.max(peak, (await memoryOf(api.proc.pid)).rssMb);
          },
        ),
        { numRuns: Number(process.env.RELIABILITY_FUZZ_RUNS ?? 1000), endOnFailure: true },
      );
      const mem = await memoryOf(api.proc.pid);
      expect(mem.peakMb).toBeLessThan(400);
      report('HTTP fuzz', {
        requests: runs,
        statuses: [...statuses.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([s, n]) => `${s}:${n}`)
          .join(','),
        apiRssMb: mem.rssMb,
        apiPeakRssMb: Math.max(peak, mem.peakMb),
      });
    }, 240_000);

    const mp = (boundary = 'b0undary'): Record<string, string> => ({
      ...auth,
      'Content-Type': `multipart/form-data; boundary=${boundary}`,
    });
    /** POST /v1/files with a hand-built multipart body. */
    const postParts = (parts: Part[]) => raw('POST', '/v1/files', mp(), multipartBody(parts));
    const line = JSON.stringify({
      custom_id: 'a',
      method: 'POST',
      url: ENDPOINT,
      body: { model: 'sim-model', messages: [] },
    });
    /** POST /v1/batches for file-x with `metadata` as written (raw JSON text). */
    const createWithMetadata = (metadata: string) =>
      raw(
        'POST',
        '/v1/batches',
        json,
        `{"input_file_id":"file-x","endpoint":"${ENDPOINT}","completion_window":"24h","metadata":${metadata}}`,
      );
    /** The two parts of an upload: the purpose field, then the file. */
    const uploadParts = (
      purpose: string,
      value: Buffer | string = line,
      filename = 'a.jsonl',
      name = 'file',
    ): Part[] => [
      { name: 'purpose', value: purpose },
      { name, filename, value },
    ];

    it('answers each named hostile case with its 4xx in the envelope', async () => {
      const cases: Array<[string, () => Promise<RawResponse>, number, (string | null)?]> = [
        ['malformed JSON', () => raw('POST', '/v1/batches', json, '{"input_file_id": '), 400],
        ['JSON that is not an object', () => raw('POST', '/v1/batches', json, '[1,2,3]'), 400],
        [
          'JSON body over the limit',
          () => raw('POST', '/v1/batches', json, `{"metadata":{"a":"${'x'.repeat(2_000_000)}"}}`),
          413,
          'request_too_large',
        ],
        ['deeply nested JSON array', () => raw('POST', '/v1/batches', json, deep(400_000)), 400],
        ['deeply nested metadata', () => createWithMetadata(deepObject(100_000)), 400],
        [
          'JSON in UTF-16',
          () =>
            raw('POST', '/v1/batches', { ...auth, 'Content-Type': 'application/json; charset=utf-16' }, '{}'),
          400,
        ],
        [
          'JSON in Latin-1',
          () =>
            raw('POST', '/v1/batches', { ...auth, 'Content-Type': 'application/json; charset=latin1' }, '{}'),
          415,
          'unsupported_media_type',
        ],
        ['a 40 KB URL', () => raw('GET', `/v1/files?after=${'x'.repeat(40_000)}`, auth), 431],
        ['40 KB of headers', () => raw('GET', '/v1/files', { ...auth, 'X-Junk': 'j'.repeat(40_000) }), 431],
        [
          'batch create as text/plain',
          () => raw('POST', '/v1/batches', { ...auth, 'Content-Type': 'text/plain' }, 'hello'),
          400,
        ],
        [
          'file upload as JSON',
          () => raw('POST', '/v1/files', json, '{"purpose":"batch"}'),
          415,
          'unsupported_media_type',
        ],
        [
          'multipart without boundary',
          () => raw('POST', '/v1/files', { ...auth, 'Content-Type': 'multipart/form-data' }, 'x'),
          400,
        ],
        [
          'multipart with a wrong boundary',
          () => raw('POST', '/v1/files', mp('other'), multipartBody([{ name: 'purpose', value: 'batch' }])),
          400,
        ],
        [
          'truncated multipart',
          () => raw('POST', '/v1/files', mp(), multipartBody(uploadParts('batch')).subarray(0, 120)),
          400,
        ],
        [
          'multipart without a file',
          () => postParts([{ name: 'purpose', value: 'batch' }]),
          400,
          'missing_required_parameter',
        ],
        [
          'two file parts',
          () => postParts([...uploadParts('batch'), { name: 'file', filename: 'b.jsonl', value: line }]),
          400,
        ],
        ['a huge text field', () => postParts(uploadParts('b'.repeat(1_000_000))), 400],
        [
          'a thousand parts',
          () =>
            raw(
              'POST',
              '/v1/files',
              mp(),
              multipartBody(Array.from({ length: 1000 }, (_, i) => ({ name: `f${i}`, value: 'v' }))),
            ),
          400,
        ],
        [
          'a file part with an unknown name',
          () => postParts(uploadParts('batch', line, 'a.jsonl', 'upload')),
          400,
        ],
        [
          'a batch file that is not .jsonl',
          () => postParts(uploadParts('batch', line, 'a.txt')),
          400,
          'invalid_file_format',
        ],
        ['an unknown purpose', () => postParts(uploadParts('evil\u0000')), 400, 'invalid_value'],
        [
          'a 70 MB batch file over a 64 MB limit',
          () => postParts(uploadParts('batch', Buffer.alloc(70 * 1024 * 1024, 0x20), 'big.jsonl')),
          413,
        ],
        ['path-like file id', () => raw('GET', '/v1/files/..%2F..%2Fetc%2Fpasswd/content', auth), 404],
        ['overlong batch id', () => raw('GET', `/v1/batches/batch_${'x'.repeat(10_000)}`, auth), 404],
        ['NUL in an id', () => raw('GET', '/v1/files/file-%00', auth), 404],
        ['metadata with a NUL', () => createWithMetadata(JSON.stringify({ k: 'a\u0000b' })), 400],
        ['metadata with a lone surrogate', () => createWithMetadata('{"k":"\\ud800"}'), 400],
        ['metadata that is an array', () => createWithMetadata('["a"]'), 400],
        ['no API key', () => raw('GET', '/v1/files', {}), 401, 'invalid_api_key'],
        [
          'an 8 KB API key',
          () => raw('GET', '/v1/files', { Authorization: `Bearer ${'k'.repeat(8000)}` }),
          401,
          'invalid_api_key',
        ],
      ];
      const results: string[] = [];
      for (const [name, send, status, code] of cases) {
        const res = await send();
        try {
          expectEnvelope(res, status, code);
        } catch (err) {
          throw new Error(`case "${name}": ${(err as Error).message}`);
        }
        results.push(`${name}=${res.status}`);
      }
      expect(api.proc.running).toBe(true);
      const mem = await memoryOf(api.proc.pid);
      expect(mem.peakMb).toBeLessThan(400);
      report('HTTP hostile cases', { cases: cases.length, apiPeakRssMb: mem.peakMb });
    }, 120_000);

    it('accepts unicode in metadata and filenames and gives it back unchanged', async () => {
      const client = sdkFor(api.url);
      const metadata = { 名前: 'テスト 😀', rtl: 'שלום', combining: 'e\u0301', zwj: '👩‍👩‍👧' };
      const upload = await postParts(uploadParts('batch', `${line}\n`, 'données 😀.jsonl'));
      expect(upload.status).toBe(200);
      const file = JSON.parse(upload.body) as { id: string; filename: string };
      expect(file.filename).toBe('données 😀.jsonl');
      const created = await client.batches.create({
        input_file_id: file.id,
        endpoint: ENDPOINT,
        completion_window: '24h',
        metadata,
      });
      expect(created.metadata).toEqual(metadata);
      expect((await client.batches.retrieve(created.id)).metadata).toEqual(metadata);

      // RFC 5987 filename* can smuggle a NUL (and half an emoji); the name is stored with U+FFFD instead.
      const odd = Buffer.from(
        `--b0undary\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
          `--b0undary\r\nContent-Disposition: form-data; name="file"; filename*=utf-8''a%00b%F0%9F.jsonl\r\n\r\n` +
          `${line}\r\n--b0undary--\r\n`,
      );
      const res = await raw('POST', '/v1/files', mp(), odd);
      expect({ status: res.status, body: res.body.slice(0, 300) }).toMatchObject({ status: 200 });
      expect((JSON.parse(res.body) as { filename: string }).filename).toMatch(/^a\ufffdb.*\.jsonl$/);
    }, 60_000);

    it('hostile batch input files: each batch ends in a final status with the right verdict; nothing crashes; memory bounded', async () => {
      const client = sdkFor(api.url);
      const ok = (id: string, content = 'hi'): string =>
        JSON.stringify({
          custom_id: id,
          method: 'POST',
          url: ENDPOINT,
          body: { model: 'sim-model', messages: [{ role: 'user', content }], max_tokens: 4 },
        });
      const files: Array<{
        name: string;
        bytes: Buffer;
        expect: (b: {
          status: string;
          errors?: { data?: Array<{ code?: string }> } | null;
          request_counts?: { total: number; completed: number; failed: number };
        }) => void;
      }> = [
        {
          name: 'BOM and CRLF line ends',
          bytes: Buffer.concat([
            Buffer.from([0xef, 0xbb, 0xbf]),
            Buffer.from(`${ok('a')}\r\n${ok('b')}\r\n\r\n${ok('c')}`),
          ]),
          expect: (b) =>
            expect([b.status, b.request_counts]).toEqual([
              'completed',
              { total: 3, completed: 3, failed: 0 },
            ]),
        },
        {
          name: 'invalid UTF-8 inside a string',
          bytes: Buffer.concat([
            Buffer.from(ok('a').slice(0, -30)),
            Buffer.from([0xff, 0xfe, 0xc3]),
            Buffer.from(ok('a').slice(-30)),
            Buffer.from(`\n${ok('b')}\n`),
          ]),
          expect: (b) => expect(['completed', 'failed']).toContain(b.status),
        },
        {
          name: 'raw NUL bytes',
          bytes: Buffer.concat([
            Buffer.from(`${ok('a')}\n`),
            Buffer.from([0x00, 0x00]),
            Buffer.from(`\n${ok('b').replace('hi', 'h\u0000i')}\n`),
          ]),
          expect: (b) => {
            expect(b.status).toBe('failed');
            expect(b.errors?.data?.map((e) => e.code)).toContain('invalid_json_line');
          },
        },
        {
          name: 'a custom_id with an escaped NUL',
          bytes: Buffer.from(`${ok('a\u0000b')}\n${ok('c')}\n`),
          expect: (b) => {
            expect(b.status).toBe('failed');
            expect(b.errors?.data?.[0]?.code).toBe('invalid_request');
          },
        },
        {
          name: 'a duplicated custom_id made of a lone surrogate, and a model with a NUL',
          bytes: Buffer.from(
            `${ok('\ud800')}\n${ok('\ud800')}\n${ok('z').replace('sim-model', 'sim\\u0000model')}\n`,
          ),
          expect: (b) => expect(b.status).toBe('failed'),
        },
        {
          name: 'a 10 MB single line (valid JSON)',
          bytes: Buffer.from(`${ok('huge', 'x'.repeat(10 * 1024 * 1024))}\n`),
          expect: (b) =>
            expect([b.status, b.request_counts]).toEqual([
              'completed',
              { total: 1, completed: 0, failed: 1 },
            ]),
        },
        {
          name: 'a 10 MB single line of garbage',
          bytes: Buffer.alloc(10 * 1024 * 1024, 0x7b),
          expect: (b) => {
            expect(b.status).toBe('failed');
            expect(b.errors?.data?.[0]?.code).toBe('invalid_json_line');
          },
        },
        {
          name: 'a million empty lines',
          bytes: Buffer.alloc(1_000_000, 0x0a),
          expect: (b) => expect(b.status).toBe('failed'),
        },
        {
          name: 'a million empty lines around one request',
          bytes: Buffer.concat([
            Buffer.alloc(500_000, 0x0a),
            Buffer.from(ok('only')),
            Buffer.alloc(500_000, 0x0a),
          ]),
          expect: (b) =>
            expect([b.status, b.request_counts]).toEqual([
              'completed',
              { total: 1, completed: 1, failed: 0 },
            ]),
        },
        {
          name: 'deeply nested JSON line',
          bytes: Buffer.from(
            `${deep(200_000)}\n${'{"custom_id":"d","method":"POST","url":"/v1/chat/completions","body":' + deepObject(50_000) + '}'}\n`,
          ),
          expect: (b) => expect(b.status).toBe('failed'),
        },
        {
          name: 'a valid line whose body nests 20,000 levels deep',
          bytes: Buffer.from(
            `${ok('deep').replace('"max_tokens":4', `"max_tokens":4,"x":${deepObject(20_000)}`)}\n`,
          ),
          expect: (b) => {
            expect(b.status).toBe('failed');
            expect(b.errors?.data?.[0]?.code).toBe('invalid_request');
          },
        },
        {
          name: 'path-like and overlong custom_ids',
          bytes: Buffer.from(`${ok('../../etc/passwd')}\n${ok('x'.repeat(100_000))}\n`),
          expect: (b) => {
            expect(b.status).toBe('failed');
            expect(b.errors?.data?.map((e) => e.code)).toEqual(['invalid_request']);
          },
        },
      ];
      const verdicts: string[] = [];
      for (const f of files) {
        const upload = await postParts(uploadParts('batch', f.bytes, 'hostile.jsonl'));
        expect({ name: f.name, status: upload.status, body: upload.body.slice(0, 200) }).toMatchObject({
          status: 200,
        });
        const fileId = (JSON.parse(upload.body) as { id: string }).id;
        const created = await client.batches.create({
          input_file_id: fileId,
          endpoint: ENDPOINT,
          completion_window: '24h',
        });
        const batch = await waitFinal(client, created.id, 90_000);
        try {
          f.expect(batch as never);
        } catch (err) {
          throw new Error(
            `file "${f.name}" → ${batch.status} ${JSON.stringify(batch.errors)?.slice(0, 300)}: ${(err as Error).message}`,
          );
        }
        verdicts.push(`${f.name}: ${batch.status}`);
      }
      expect(api.proc.running && worker.proc.running).toBe(true);
      const apiMem = await memoryOf(api.proc.pid);
      const workerMem = await memoryOf(worker.proc.pid);
      expect(apiMem.peakMb).toBeLessThan(400);
      expect(workerMem.peakMb).toBeLessThan(500);
      report('hostile batch files', {
        files: files.length,
        apiPeakRssMb: apiMem.peakMb,
        workerPeakRssMb: workerMem.peakMb,
      });
      process.stdout.write(verdicts.map((v) => `  ${v}\n`).join(''));
    }, 240_000);
  });
});
