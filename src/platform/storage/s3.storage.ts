import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  S3Client,
  S3ClientConfig,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AppConfig } from '../config/app-config';
import { ByteCounter } from './byte-counter';
import { StorageDriver, StorageNotFoundError, StoredObject, SWEEP_EVERY_MS } from './storage.types';

export type S3StorageConfig = AppConfig['s3'];

/**
 * Size of one multipart part. Together with QUEUE_SIZE it caps what an upload holds in memory:
 * at most QUEUE_SIZE parts in flight plus the one being filled, whatever the size of the file.
 * 8 MB is above S3's 5 MB minimum part size and gives 80 GB files within S3's 10,000-part limit.
 */
export const PART_SIZE = 8 * 1024 * 1024;
/** Parts uploaded concurrently: two keeps the link busy while one part is being read in. */
export const QUEUE_SIZE = 2;

/**
 * Stores file bytes in an S3 bucket (AWS or any S3-compatible server such as MinIO or Ceph).
 *
 * Atomicity comes from S3 itself: an object becomes visible only when its PutObject or
 * CompleteMultipartUpload succeeds, so readers never see half a file. What is left to do here is
 * cleaning up after a failure: a multipart upload that is neither completed nor aborted keeps its
 * parts (and bills for them) forever, so every failure path aborts it.
 */
export class S3Storage implements StorageDriver, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly where: string;

  constructor(config: S3StorageConfig, client?: S3Client) {
    this.bucket = config.bucket;
    this.where = config.endpoint
      ? `${config.endpoint} (bucket "${config.bucket}")`
      : `bucket "${config.bucket}" in ${config.region}`;
    this.client = client ?? new S3Client(s3ClientConfig(config));
  }

  async put(key: string, body: Readable): Promise<{ bytes: number }> {
    // Count bytes as they flow rather than trusting a Content-Length: the source is a streamed
    // request body whose size is not known up front.
    const counter = new ByteCounter();
    const piping = pipeline(body, counter);
    // An error of the source reaches `counter` through pipeline; it then fails the Upload's reads.
    // The pipeline's own rejection carries the same error, so it is observed here and not reported
    // as unhandled.
    piping.catch(() => undefined);

    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: counter, ContentType: 'application/octet-stream' },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      // lib-storage aborts the multipart upload itself (AbortMultipartUpload) before `done()`
      // rejects, so once we return the error there is no pending upload left under `key`.
      leavePartsOnError: false,
    });
    try {
      // Not `upload.abort()` on failure: it rejects `done()` at once while parts may still be in
      // flight, and the AbortMultipartUpload would then race with our caller. Letting the source
      // error surface through the reads makes lib-storage wait for its part uploads, then abort.
      await upload.done();
      await piping;
    } catch (err) {
      // S3 failed while the source may still be flowing: stop reading it (pipeline destroys the
      // source too, releasing e.g. the HTTP request behind it) before reporting the failure.
      counter.destroy();
      await piping.catch(() => undefined);
      throw err;
    }
    return { bytes: counter.bytes };
  }

  async get(key: string): Promise<StoredObject> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      // In Node the SDK's Body is the HTTP response itself (an IncomingMessage): streamed, never
      // buffered. The caller must consume or destroy it to free the socket.
      if (!(res.Body instanceof Readable)) throw new Error(`S3 GetObject for ${key} returned no stream body`);
      if (typeof res.ContentLength !== 'number') {
        res.Body.destroy();
        throw new Error(`S3 GetObject for ${key} returned no Content-Length`);
      }
      return { body: res.Body, bytes: res.ContentLength };
    } catch (err) {
      if (isNotFound(err)) throw new StorageNotFoundError(key);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for an absent key as well, which is what the interface wants.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      // HEAD responses have no body, so the SDK's own message is often just "UnknownError" or
      // empty: name the bucket, the endpoint and the HTTP status so the readiness probe is useful.
      const status = (err as S3ServiceException).$metadata?.httpStatusCode;
      const reason =
        status === 404
          ? 'bucket does not exist'
          : status === 403 || status === 401
            ? 'access denied (check S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY and the bucket policy)'
            : `${(err as Error).name}: ${(err as Error).message || 'no message'}`;
      throw new Error(`S3 storage not ready: ${this.where}: ${reason}${status ? ` (HTTP ${status})` : ''}`, {
        cause: err,
      });
    }
  }

  /** Closes the client's keep-alive sockets. */
  destroy(): void {
    this.client.destroy();
  }

  /**
   * A process killed mid-upload (SIGKILL, OOM) cannot abort its multipart upload, whose parts would
   * then be stored (and billed) forever. Uploads started more than STALE_UPLOAD_MS ago are swept at
   * start and hourly: no upload of ours runs that long, so another replica's live one is never hit.
   * (A bucket lifecycle rule "abort incomplete multipart uploads" does the same on the server side.)
   */
  onApplicationBootstrap(): void {
    this.sweep();
  }

  @Interval(SWEEP_EVERY_MS)
  sweep(): void {
    this.sweepStaleUploads().catch((err) =>
      new Logger('Storage').warn(`sweeping stale multipart uploads failed: ${(err as Error).message}`),
    );
  }

  /** Aborts multipart uploads of this bucket initiated more than `maxAgeMs` ago; returns how many. */
  async sweepStaleUploads(maxAgeMs = STALE_UPLOAD_MS, now = Date.now()): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || now - u.Initiated.getTime() < maxAgeMs) continue;
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
        );
        aborted++;
      }
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
    if (aborted > 0)
      new Logger('Storage').log(`aborted ${aborted} multipart upload(s) left by an interrupted write`);
    return aborted;
  }

  /**
   * Nest calls this on app.close(), after every onModuleDestroy / beforeApplicationShutdown hook,
   * so workers flushing output files during shutdown still have a working client.
   */
  onApplicationShutdown(): void {
    this.destroy();
  }
}

/** The SDK client settings for `config` (exported for tests). */
export function s3ClientConfig(config: S3StorageConfig): S3ClientConfig {
  const out: S3ClientConfig = {
    region: config.region,
    forcePathStyle: config.forcePathStyle,
  };
  if (config.endpoint) {
    out.endpoint = config.endpoint;
    // Since v3.729 the SDK adds CRC32 checksums to every upload by default (and trailing checksums
    // on streamed bodies). Many S3-compatible servers reject or mis-store those, so against a
    // custom endpoint only send checksums where the S3 API requires them. AWS itself keeps the
    // default.
    out.requestChecksumCalculation = 'WHEN_REQUIRED';
    out.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  // Without static keys the SDK's default chain applies (env, shared config, IRSA/pod identity,
  // instance metadata), which is what a deployment on AWS should use.
  if (config.accessKeyId && config.secretAccessKey) {
    out.credentials = { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey };
  }
  return out;
}

function isNotFound(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // GetObject reports NoSuchKey in its XML body; HEAD requests have no body, hence 'NotFound'.
  if (err.name === 'NoSuchKey' || err.name === 'NotFound') return true;
  return (err as S3ServiceException).$metadata?.httpStatusCode === 404 && err.name !== 'NoSuchBucket';
}

/** Age after which a pending multipart upload is taken for a crashed write's leftover (6 hours). */
const STALE_UPLOAD_MS = 6 * 3_600_000;
