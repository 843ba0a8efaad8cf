import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { S3Storage, S3StorageConfig } from '../../src/platform/storage/s3.storage';
import { StorageNotFoundError } from '../../src/platform/storage/storage.types';
import { RunningS3Server, startS3Server } from '../support/s3-server';
import { isStored } from '../support/storage-files';

/** What only the S3 driver has to get right: multipart cleanup, S3 error mapping, readiness. */
describe('S3Storage against an S3-compatible server', () => {
  const MB = 1024 * 1024;
  let s3: RunningS3Server;
  let config: S3StorageConfig;
  let driver: S3Storage;
  let admin: S3Client;
  const others: S3Storage[] = [];

  const driverWith = (overrides: Partial<S3StorageConfig>): S3Storage => {
    const d = new S3Storage({ ...config, ...overrides });
    others.push(d);
    return d;
  };
  const pendingUploads = async (): Promise<string[]> =>
    ((await admin.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }))).Uploads ?? []).map(
      (u) => u.Key!,
    );
  /** S3rver keeps one directory per pending multipart upload: check the disk too, not just the API. */
  const uploadDirsOnDisk = async (): Promise<string[]> =>
    readdir(join(s3.directory, s3.bucket, '._S3rver_uploads')).catch(() => []);

  beforeAll(async () => {
    s3 = await startS3Server();
    config = s3.storageConfig;
    driver = new S3Storage(config);
    admin = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
  });

  afterAll(async () => {
    driver?.destroy();
    others.forEach((d) => d.destroy());
    admin?.destroy();
    await s3?.stop();
  });

  it('aborts the multipart upload it had started when the source fails while stalled midway', async () => {
    const key = 'tenant-s3/file-stalled';
    // Two full parts are written, then the source goes quiet like a slow client would.
    const source = new PassThrough();
    const putting = driver.put(key, source);
    const rejected = expect(putting).rejects.toThrow('client went away');
    const part = randomBytes(MB);
    for (let i = 0; i < 17; i++) source.write(part);

    // While the source is stalled the upload is pending on the server (so the abort is real).
    const deadline = Date.now() + 10_000;
    while ((await pendingUploads()).length === 0) {
      if (Date.now() > deadline) throw new Error('no multipart upload was started');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await pendingUploads()).toEqual([key]);
    expect(await uploadDirsOnDisk()).toHaveLength(1);

    source.destroy(new Error('client went away'));
    await rejected;
    expect(await pendingUploads()).toEqual([]);
    expect(await uploadDirsOnDisk()).toEqual([]);
    expect(await isStored(driver, key)).toBe(false);
  });

  it('sweeps multipart uploads a killed process left behind, and only stale ones', async () => {
    const { CreateMultipartUploadCommand } = await import('@aws-sdk/client-s3');
    await admin.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: 't/left-behind' }));
    expect(await pendingUploads()).toEqual(['t/left-behind']);
    // Young uploads may be another replica's live one: untouched.
    expect(await driver.sweepStaleUploads()).toBe(0);
    expect(await pendingUploads()).toEqual(['t/left-behind']);
    expect(await driver.sweepStaleUploads(0, Date.now() + 1000)).toBe(1);
    expect(await pendingUploads()).toEqual([]);
  });

  it('rejects when the source ends prematurely without an error, leaving nothing', async () => {
    const key = 'tenant-s3/file-premature';
    const source = new PassThrough();
    const putting = driver.put(key, source);
    source.write(randomBytes(9 * MB));
    await new Promise((r) => setTimeout(r, 100));
    source.destroy();
    await expect(putting).rejects.toThrow();
    expect(await pendingUploads()).toEqual([]);
    expect(await isStored(driver, key)).toBe(false);
  });

  it('rejects a put that S3 refuses and stops reading the source', async () => {
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 20; i++) yield randomBytes(MB);
      })(),
    );
    await expect(
      driverWith({ bucket: 'no-such-bucket' }).put('tenant-s3/file-x', source),
    ).rejects.toMatchObject({
      name: 'NoSuchBucket',
    });
    expect(source.destroyed).toBe(true);
  });

  it('does not mistake an access error for a missing object', async () => {
    const denied = driverWith({ accessKeyId: 'WRONG-KEY' });
    const err = await denied.get('tenant-s3/anything').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(StorageNotFoundError);
    expect(err).toMatchObject({ name: 'InvalidAccessKeyId' });
    await expect(isStored(denied, 'tenant-s3/anything')).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    });
  });

  it('serves get as a stream that can be consumed lazily', async () => {
    const key = 'tenant-s3/file-stream';
    const body = randomBytes(3 * MB);
    await driver.put(key, Readable.from([body]));
    const { body: stream, bytes } = await driver.get(key);
    expect(stream).toBeInstanceOf(Readable);
    expect(bytes).toBe(body.length);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
  });

  describe('check()', () => {
    it('passes against the real bucket', async () => {
      await expect(driver.check()).resolves.toBeUndefined();
    });

    it('names a missing bucket', async () => {
      await expect(driverWith({ bucket: 'missing-bucket' }).check()).rejects.toThrow(
        /S3 storage not ready: .*"missing-bucket".*bucket does not exist \(HTTP 404\)/,
      );
    });

    it('says when the credentials are refused', async () => {
      await expect(driverWith({ accessKeyId: 'WRONG-KEY' }).check()).rejects.toThrow(
        /access denied .*\(HTTP 403\)/,
      );
    });

    it('says when the endpoint cannot be reached', async () => {
      // Port 9 on loopback: nothing listens there, so the connection is refused at once.
      await expect(driverWith({ endpoint: 'http://127.0.0.1:9' }).check()).rejects.toThrow(
        /S3 storage not ready: http:\/\/127\.0\.0\.1:9 .*ECONNREFUSED/,
      );
    });
  });
});
