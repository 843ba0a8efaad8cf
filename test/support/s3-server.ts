import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3StorageConfig } from '../../src/platform/storage/s3.storage';

/**
 * A real S3-compatible HTTP server for tests, in this process: S3rver (npm `@20minutes/s3rver`, the
 * maintained fork of `s3rver` for Node >= 20), which stores objects on disk in a temp dir and speaks
 * the S3 REST protocol with SigV4 checks. It is a devDependency, so `npm ci` is all a fresh clone
 * needs.
 *
 * S3rver implements CreateMultipartUpload / UploadPart / CompleteMultipartUpload but not
 * AbortMultipartUpload nor ListMultipartUploads, which the S3 driver's cleanup (and the tests that
 * prove it) rely on. `withMultipartExtras` adds those two operations on top of S3rver's own store
 * (one directory per pending upload, holding `key`, `metadata` and the parts). These two skip
 * S3rver's authentication; every other request has its SigV4 signature checked.
 */

// S3rver ships no types.
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  type: string;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void> | void;
interface S3rverStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putPart(bucket: string, uploadId: string, partNumber: number, content: unknown): Promise<{ size: number }>;
}
interface S3rverInstance {
  middleware: KoaMiddleware[];
  store: S3rverStore;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;
type S3ErrorCtor = new (code: string, message?: string, detail?: Record<string, unknown>) => Error;

// The AWS SDK warns once per process that its 2027 releases will need Node >= 22; in tests that is
// noise on every run (the lead tracks the Node version separately).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('@20minutes/s3rver') as S3rverCtor;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3Error = require('@20minutes/s3rver/lib/models/error') as S3ErrorCtor;
interface CanonicalRequest {
  uri: string;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sigV4 = require('@20minutes/s3rver/lib/signature/v4') as {
  getStringToSign(canonicalRequest: CanonicalRequest, request: unknown): string;
  requestPath?: AsyncLocalStorage<string>;
};

/**
 * The path of the request being authenticated. S3rver rebuilds the canonical URI of a bucket-level
 * request as `/bucket`, while AWS SDK v3 signs path-style bucket requests (HeadBucket, ListObjects,
 * ListMultipartUploads) as `/bucket/`: every such request would fail with SignatureDoesNotMatch.
 * Rather than switching signature checks off (`allowMismatchedSignatures`), put the slash back.
 */
const requestPath = sigV4.requestPath ?? patchSignatureCheck();

function patchSignatureCheck(): AsyncLocalStorage<string> {
  const requestPath = new AsyncLocalStorage<string>();
  const original = sigV4.getStringToSign.bind(sigV4);
  sigV4.getStringToSign = (canonicalRequest, request) => {
    const path = requestPath.getStore();
    const uri =
      path?.endsWith('/') && !canonicalRequest.uri.endsWith('/')
        ? `${canonicalRequest.uri}/`
        : canonicalRequest.uri;
    return original({ ...canonicalRequest, uri }, request);
  };
  sigV4.requestPath = requestPath;
  return requestPath;
}

export interface RunningS3Server {
  /** e.g. http://127.0.0.1:PORT */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** STORAGE_DRIVER=s3 and the S3_* variables pointing the app at this server. */
  env: Record<string, string>;
  /** The same as an S3Storage configuration. */
  storageConfig: S3StorageConfig;
  /** The server's data directory (objects and pending multipart uploads live under it). */
  directory: string;
  /** Bytes of multipart parts written to disk so far (counted once each part is complete). */
  stats: { partBytesStored: number };
  stop(): Promise<void>;
}

/** S3rver's one built-in account. */
const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';

export async function startS3Server(bucket = 'vllm-batch-test'): Promise<RunningS3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'vllm-batch-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    // Requests come to http://127.0.0.1:PORT/<bucket>/<key> (path style): no vhost guessing.
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  withMultipartExtras(server);
  const stats = { partBytesStored: 0 };
  const putPart = server.store.putPart.bind(server.store);
  server.store.putPart = async (...args) => {
    const res = await putPart(...args);
    stats.partBytesStored += res.size;
    return res;
  };
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const region = 'us-east-1';
  return {
    endpoint,
    bucket,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET_KEY,
    region,
    directory,
    stats,
    storageConfig: {
      endpoint,
      bucket,
      region,
      accessKeyId: ACCESS_KEY,
      secretAccessKey: SECRET_KEY,
      forcePathStyle: true,
    },
    env: {
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: endpoint,
      S3_BUCKET: bucket,
      S3_REGION: region,
      S3_ACCESS_KEY_ID: ACCESS_KEY,
      S3_SECRET_ACCESS_KEY: SECRET_KEY,
      S3_FORCE_PATH_STYLE: 'true',
    },
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Adds ListMultipartUploads and AbortMultipartUpload, just before S3rver's router. */
function withMultipartExtras(server: S3rverInstance): void {
  const uploadsDir = (bucket: string): string => server.store.getResourcePath(bucket, undefined, 'uploads');

  const extras: KoaMiddleware = async (ctx, next) => {
    const [, bucket, ...keyParts] = ctx.path.split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    if (ctx.method === 'GET' && bucket && key === '' && 'uploads' in ctx.query) {
      const dir = uploadsDir(bucket);
      const ids = await readdir(dir).catch(() => [] as string[]);
      const uploads = await Promise.all(
        ids.map(async (id) => ({
          Key: (await readFile(join(dir, id, 'key'), 'utf8').catch(() => '')).toString(),
          UploadId: id,
          Initiated: (await stat(join(dir, id))).mtime.toISOString(),
        })),
      );
      ctx.type = 'application/xml';
      ctx.body = {
        ListMultipartUploadsResult: {
          '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
          Bucket: bucket,
          KeyMarker: '',
          UploadIdMarker: '',
          MaxUploads: 1000,
          IsTruncated: false,
          Upload: uploads,
        },
      };
      return;
    }
    if (ctx.method === 'DELETE' && bucket && key !== '' && typeof ctx.query.uploadId === 'string') {
      const dir = join(uploadsDir(bucket), ctx.query.uploadId.replace(/[^A-Za-z0-9]/g, ''));
      const storedKey = await readFile(join(dir, 'key'), 'utf8').catch(() => undefined);
      if (storedKey !== key) throw new S3Error('NoSuchUpload', 'The specified upload does not exist.');
      await rm(dir, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    await requestPath.run(ctx.path, next);
  };

  // Koa composes `middleware` when the server starts listening, so inserting here (before the
  // router, after S3rver's logging, XML rendering and error handling) takes effect.
  server.middleware.splice(server.middleware.length - 1, 0, extras);
}
