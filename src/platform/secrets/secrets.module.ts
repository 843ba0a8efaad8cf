import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { SecretBox } from './secret-box';

/**
 * Injection token for the SecretBox under SECRETS_ENCRYPTION_KEY, or null when that key is not
 * set (then nothing secret may be stored, and callers say so).
 */
export const SECRET_BOX = Symbol('SECRET_BOX');

@Module({
  providers: [
    {
      provide: SECRET_BOX,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): SecretBox | null =>
        config.secretsEncryptionKey ? new SecretBox(config.secretsEncryptionKey) : null,
    },
  ],
  exports: [SECRET_BOX],
})
export class SecretsModule {}
