import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { LocalDiskStorage } from './local-disk.storage';
import { STORAGE, StorageDriver } from './storage.types';

export function createStorage(config: AppConfig): StorageDriver {
  switch (config.storageDriver) {
    case 'local':
      return new LocalDiskStorage(config.storageDir);
    case 's3':
      // Loaded lazily so the AWS SDK costs nothing when the local driver is used.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return new (require('./s3.storage').S3Storage)(config.s3);
  }
}

@Global()
@Module({
  providers: [{ provide: STORAGE, inject: [APP_CONFIG], useFactory: createStorage }],
  exports: [STORAGE],
})
export class StorageModule {}
