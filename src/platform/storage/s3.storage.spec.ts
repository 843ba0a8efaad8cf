import { loadConfig } from '../config/app-config';
import { S3Storage, s3ClientConfig } from './s3.storage';
import { createStorage } from './storage.module';

describe('S3Storage configuration', () => {
  // The SDK's one-off "Node >= 22 from 2027" notice is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const base = { bucket: 'b', region: 'eu-west-3', forcePathStyle: true };

  it('is what STORAGE_DRIVER=s3 selects, configured from the S3_* variables', () => {
    const config = loadConfig({
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'files',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_REGION: 'eu-west-3',
      S3_ACCESS_KEY_ID: 'AK',
      S3_SECRET_ACCESS_KEY: 'SK',
      API_KEYS: 'tenant-a:sk-test-unit-0001',
    });
    const storage = createStorage(config);
    expect(storage).toBeInstanceOf(S3Storage);
    (storage as S3Storage).destroy();
  });

  it('targets a custom endpoint with path-style URLs, static keys and checksums only where required', () => {
    const cfg = s3ClientConfig({
      ...base,
      endpoint: 'http://minio:9000',
      accessKeyId: 'AK',
      secretAccessKey: 'SK',
    });
    expect(cfg).toMatchObject({
      region: 'eu-west-3',
      endpoint: 'http://minio:9000',
      forcePathStyle: true,
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  });

  it('leaves AWS defaults alone without an endpoint, and uses the default credential chain without keys', () => {
    const cfg = s3ClientConfig({ ...base, forcePathStyle: false });
    expect(cfg.endpoint).toBeUndefined();
    expect(cfg.credentials).toBeUndefined();
    expect(cfg.requestChecksumCalculation).toBeUndefined();
    expect(cfg.forcePathStyle).toBe(false);
  });
});
