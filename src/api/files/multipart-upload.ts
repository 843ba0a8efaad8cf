import busboy from 'busboy';
import type { Request } from 'express';
import { basename } from 'node:path';
import { PassThrough, Transform, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApiError } from '../../common/api-error';
import { storableText } from '../../common/pg-text';
import { StorageDriver } from '../../platform/storage/storage.types';
import { ParsedUpload, UploadLimits } from '../../domain/files/file-upload';

const MAX_FILENAME = 255;

/** Counts bytes and fails the stream as soon as it passes a limit that may be lowered mid-stream. */
class ByteLimit extends Transform {
  bytes = 0;
  constructor(private limit: () => number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit()) cb(new UploadTooLarge());
    else cb(null, chunk);
  }
}

class UploadTooLarge extends Error {}

/** The client went away mid-upload: a client-side condition, not a server error. */
const interrupted = (): ApiError =>
  ApiError.badRequest('The upload was interrupted before it completed.', 'file');

function tooLarge(limit: number, purpose: string | undefined): ApiError {
  const mb = Math.round(limit / (1024 * 1024));
  return ApiError.tooLarge(
    purpose === 'batch'
      ? `File is too large: batch input files may be at most ${mb} MB.`
      : `File is too large: uploads may be at most ${mb} MB.`,
    'file',
  );
}

/**
 * Streams the one `file` part of a multipart request straight into storage under `storageKey`
 * (never buffering it), collecting the small text fields alongside. Field order does not matter:
 * when `purpose=batch` arrives, the lower batch-size limit and the `.jsonl` rule apply from then on,
 * and are checked again at the end. On any failure the stored object is removed before rejecting,
 * and the rest of the request body is discarded so the client can read our error.
 */
export function receiveUpload(
  req: Request,
  storage: StorageDriver,
  storageKey: string,
  limits: UploadLimits,
): Promise<ParsedUpload> {
  const contentType = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(contentType)) {
    return Promise.reject(
      ApiError.unsupportedMediaType(
        `Expected a multipart/form-data body with a 'file' part, got '${contentType || 'none'}'.`,
      ),
    );
  }

  return new Promise<ParsedUpload>((resolve, reject) => {
    const fields: Record<string, string> = {};
    let filename: string | null = null;
    let settled = false;
    let storing: Promise<{ bytes: number }> | null = null;
    let body: PassThrough | null = null;
    let bb: busboy.Busboy;

    const currentLimit = (): number =>
      fields.purpose === 'batch' ? limits.maxBatchFileBytes : limits.maxUploadBytes;

    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      drain(req, limits.maxUploadBytes);
      // Destroying the stream feeding storage makes its `put` reject and remove the partial object.
      if (body) body.destroy(err instanceof Error ? err : new Error(String(err)));
      const cleanup = storing
        ? storing.then(
            () => storage.delete(storageKey),
            () => undefined,
          )
        : Promise.resolve();
      cleanup
        .catch(() => undefined)
        .finally(() =>
          reject(err instanceof UploadTooLarge ? tooLarge(currentLimit(), fields.purpose) : err),
        );
    };

    try {
      bb = busboy({
        headers: req.headers,
        limits: { files: 1, fields: 16, fieldSize: 4096, parts: 20, fieldNameSize: 100 },
        defParamCharset: 'utf8',
      });
    } catch (err) {
      reject(ApiError.badRequest(`Malformed multipart body: ${(err as Error).message}`));
      return;
    }

    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(ApiError.badRequest(`Field '${name}' is too long.`, name));
      fields[name] = value;
      if (
        name === 'purpose' &&
        value === 'batch' &&
        filename !== null &&
        !filename.toLowerCase().endsWith('.jsonl')
      ) {
        fail(ApiError.badRequest('Batch input files must be .jsonl files.', 'file', 'invalid_file_format'));
      }
    });

    bb.on('file', (name, stream, info) => {
      // Once the upload is refused, a part busboy still parses from data it already holds must not
      // reach storage: nothing would ever delete it (or, cut short, close its partial file).
      // Every file stream not piped to storage is drained, so busboy is never left waiting on it.
      if (settled) return void stream.resume();
      if (name !== 'file' || storing) {
        stream.resume();
        return fail(
          ApiError.badRequest(`Unexpected file part '${name}': send exactly one part named 'file'.`, name),
        );
      }
      // storableText: a NUL (filename*=utf-8''a%00b) or half a surrogate pair (cut by the slice) made
      // the files INSERT fail with a 500.
      filename =
        storableText(basename(String(info.filename ?? '').replace(/\\/g, '/')).slice(0, MAX_FILENAME)) ||
        'upload';
      if (fields.purpose === 'batch' && !filename.toLowerCase().endsWith('.jsonl')) {
        stream.resume();
        return fail(
          ApiError.badRequest('Batch input files must be .jsonl files.', 'file', 'invalid_file_format'),
        );
      }
      body = new PassThrough({ highWaterMark: 256 * 1024 });
      stream.on('limit', () => fail(new UploadTooLarge()));
      pipeline(stream, new ByteLimit(currentLimit), body).catch((err) => fail(err));
      storing = storage.put(storageKey, body);
      storing.catch((err) => fail(err));
    });

    bb.on('filesLimit', () => fail(ApiError.badRequest("Send exactly one part named 'file'.", 'file')));
    bb.on('partsLimit', () => fail(ApiError.badRequest('Too many multipart parts.')));
    bb.on('fieldsLimit', () => fail(ApiError.badRequest('Too many multipart fields.')));
    bb.on('error', (err) => fail(ApiError.badRequest(`Malformed multipart body: ${(err as Error).message}`)));

    bb.on('close', () => {
      if (settled) return;
      if (!storing || filename === null) {
        return fail(
          ApiError.badRequest("Missing required parameter: 'file'.", 'file', 'missing_required_parameter'),
        );
      }
      storing.then(
        ({ bytes }) => {
          if (settled) return;
          if (bytes > currentLimit()) return fail(new UploadTooLarge());
          settled = true;
          resolve({ filename: filename as string, bytes, fields });
        },
        (err) => fail(err),
      );
    });

    // A client that disconnects mid-upload must leave nothing behind.
    req.on('close', () => {
      if (!req.complete) fail(interrupted());
    });
    req.on('error', () => fail(interrupted()));
    req.pipe(bb);
  });
}

/** Discards the rest of a request body we will not use, up to a cap, then drops the connection. */
function drain(req: Request, cap: number): void {
  let seen = 0;
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > cap) req.destroy();
  });
  req.resume();
}
