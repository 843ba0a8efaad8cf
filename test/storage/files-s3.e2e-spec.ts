import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { toFile } from 'openai';
import { randomBytes } from 'node:crypto';
import { simulatedAnswer } from '../../simulator/answers';
import { chatLine, readJsonlFile, toJsonl, uploadBatchFile, waitForBatch } from '../support/batch-helpers';
import { RunningS3Server, startS3Server } from '../support/s3-server';
import { listStoredFiles } from '../support/storage-files';
import { FAST_RETRIES, RELAXED_LIMITS, useApp } from '../support/app-fixture';
import { authHeader, TENANT_A } from '../support/harness';

/** The Files and Batches APIs end to end with STORAGE_DRIVER=s3, against a real S3-compatible server. */
describe('Files and Batches on S3 storage (end to end, official SDK)', () => {
  let s3: RunningS3Server;
  let admin: S3Client;

  const objectKeys = async (): Promise<string[]> =>
    ((await admin.send(new ListObjectsV2Command({ Bucket: s3.bucket }))).Contents ?? []).map((o) => o.Key!);
  const pendingUploads = async (): Promise<string[]> =>
    ((await admin.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }))).Uploads ?? []).map(
      (u) => u.Key!,
    );

  beforeAll(async () => {
    s3 = await startS3Server();
    admin = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
  });

  const { env, app, a } = useApp({
    simulator: { stepBaseMs: 2, stepPerSeqMs: 0.01, outputTokens: 4 },
    env: () => ({
      ...s3.env,
      MAX_UPLOAD_MB: '12',
      WORKER_FIXED_INFLIGHT: '16',
      ...FAST_RETRIES,
      ...RELAXED_LIMITS,
      RECONCILE_INTERVAL_MS: '1000',
    }),
  });

  afterAll(async () => {
    admin?.destroy();
    await s3?.stop();
  });

  it('reports the S3 storage as ready', async () => {
    const res = await fetch(`${app.url}/ready`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', storage: 'up' });
  });

  it('uploads, retrieves, downloads and deletes a file, with the bytes in the bucket', async () => {
    // Binary-ish content with every byte value, so nothing on the way may treat it as text.
    const content = Buffer.concat([
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      randomBytes(300_000),
    ]);
    const created = await a.files.create({ file: await toFile(content, 'blob.bin'), purpose: 'user_data' });
    expect(created).toMatchObject({ object: 'file', bytes: content.length, filename: 'blob.bin' });

    expect(await objectKeys()).toContain(`${TENANT_A.tenant}/${created.id}`);
    expect(await listStoredFiles(env.storageDir)).toEqual([]);

    expect(await a.files.retrieve(created.id)).toEqual(created);
    const downloaded = Buffer.from(await (await a.files.content(created.id)).arrayBuffer());
    expect(downloaded.equals(content)).toBe(true);

    expect(await a.files.delete(created.id)).toMatchObject({ id: created.id, deleted: true });
    expect(await objectKeys()).not.toContain(`${TENANT_A.tenant}/${created.id}`);
    await expect(a.files.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
  });

  it('streams a multi-part upload into S3 and leaves nothing when it is too large', async () => {
    // 10 MB: above the 8 MB part size, so this goes through a real multipart upload.
    const big = randomBytes(10 * 1024 * 1024);
    const ok = await a.files.create({ file: await toFile(big, 'big.bin'), purpose: 'user_data' });
    expect(ok.bytes).toBe(big.length);
    const back = Buffer.from(await (await a.files.content(ok.id)).arrayBuffer());
    expect(back.equals(big)).toBe(true);

    const before = await objectKeys();
    const partBytesBefore = s3.stats.partBytesStored;
    // 14 MB against MAX_UPLOAD_MB=12: refused after a first part has gone to S3.
    const form = new FormData();
    form.append('purpose', 'user_data');
    form.append('file', new Blob([randomBytes(14 * 1024 * 1024)]), 'too-big.bin');
    const res = await fetch(`${app.url}/v1/files`, {
      method: 'POST',
      body: form,
      headers: authHeader(TENANT_A.key),
    });
    expect(res.status).toBe(413);
    // A multipart upload really was under way (its first part was stored), and was aborted.
    expect(s3.stats.partBytesStored - partBytesBefore).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    expect(await objectKeys()).toEqual(before);
    expect(await pendingUploads()).toEqual([]);
  });

  it('runs a 50-line chat batch to completed, reading input from and writing output to S3', async () => {
    const n = 50;
    const lines = Array.from({ length: n }, (_, i) => chatLine(`req-${i}`, `s3 question ${i}`));
    const inputFileId = await uploadBatchFile(a, toJsonl(lines));
    const created = await a.batches.create({
      input_file_id: inputFileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });

    const done = await waitForBatch(a, created.id, undefined, 25_000);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: n, completed: n, failed: 0 });
    expect(done.error_file_id).toBeNull();
    expect(await objectKeys()).toEqual(expect.arrayContaining([`${TENANT_A.tenant}/${done.output_file_id}`]));

    const out = await readJsonlFile(a, done.output_file_id);
    expect(out).toHaveLength(n);
    const seen = new Set<string>();
    for (const line of out) {
      expect(seen.has(line.custom_id)).toBe(false);
      seen.add(line.custom_id);
      const i = Number(line.custom_id.replace('req-', ''));
      expect(line.error).toBeNull();
      expect(line.response!.status_code).toBe(200);
      expect(line.response!.body.choices[0].message.content).toBe(simulatedAnswer(`s3 question ${i}`));
    }
    expect(seen.size).toBe(n);
    expect(await listStoredFiles(env.storageDir)).toEqual([]);
  });
});
