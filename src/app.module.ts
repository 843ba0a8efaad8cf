import { DynamicModule, Module, ModuleMetadata, Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import { AdminModule } from './admin/admin.module';
import { ApiKeyGuard } from './auth/api-key.guard';
import { AuthModule } from './auth/auth.module';
import { AuthedRequest } from './auth/auth.types';
import { HttpDrainService } from './common/http-drain.service';
import {
  redactErrorLog,
  redactLogArguments,
  redactRequestLog,
  redactResponseLog,
} from './common/log-redaction';
import { OpenAiExceptionFilter } from './common/openai-exception.filter';
import { assignRequestId } from './common/request-id';
import { AppConfig } from './config/app-config';
import { AppConfigModule } from './config/config.module';
import { dataSourceOptions } from './database/data-source';
import { BatchesModule } from './batches/batches.module';
import { FilesModule } from './files/files.module';
import { GpuWorkerModule } from './gpu-worker/gpu-worker.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { QueueModule } from './queue/queue.module';
import { StorageModule } from './storage/storage.module';
import { RateLimitGuard } from './throttling/rate-limit.guard';
import { ThrottlingModule } from './throttling/throttling.module';

/**
 * The module graph is chosen by role: `api` serves HTTP, `worker` drains the queues against vLLM,
 * `all` does both. Shared infrastructure (config, logging, database, storage, queues, health) is
 * in every role.
 */
@Module({})
export class AppModule {
  static forRole(config: AppConfig, extra: Pick<ModuleMetadata, 'imports'> = {}): DynamicModule {
    const serveApi = config.role !== 'worker';
    const imports: NonNullable<ModuleMetadata['imports']> = [
      AppConfigModule.forRoot(config),
      LoggerModule.forRoot({
        pinoHttp: {
          level: config.logLevel,
          genReqId: (req, res) => assignRequestId(req, res),
          // Keys never reach the log (see log-redaction.ts): secret-named headers and query parameters of
          // requests and responses, and credentials in any URL a message or error quotes, are redacted.
          serializers: { req: redactRequestLog, res: redactResponseLog, err: redactErrorLog },
          hooks: {
            logMethod(args, method) {
              method.apply(this, redactLogArguments(args) as Parameters<typeof method>);
            },
          },
          customProps: (req) => {
            const tenant = (req as AuthedRequest).tenant;
            return tenant ? { tenant: tenant.tenant, key: tenant.keyFingerprint } : {};
          },
          autoLogging: {
            ignore: (req) => ['/health', '/ready', '/metrics'].includes((req.url ?? '').split('?')[0]),
          },
          transport: process.env.NODE_ENV === 'development' ? { target: 'pino-pretty' } : undefined,
        },
      }),
      TypeOrmModule.forRoot({
        ...dataSourceOptions(config.databaseUrl, config.databasePoolMax),
        migrationsRun: false,
      }),
      StorageModule,
      AuthModule,
      QueueModule,
      HealthModule,
      MetricsModule,
      ...(extra.imports ?? []),
    ];
    // Global guards run in the order listed. The rate limiter comes first and identifies the caller
    // itself (tenant for a valid key, else client IP), so requests without a valid key are throttled
    // too (key guessing) instead of reaching ApiKeyGuard's 401 without limit.
    const providers: Provider[] = [
      { provide: APP_FILTER, useClass: OpenAiExceptionFilter },
      HttpDrainService,
      ...(serveApi ? [{ provide: APP_GUARD, useExisting: RateLimitGuard }] : []),
      { provide: APP_GUARD, useExisting: ApiKeyGuard },
    ];
    if (serveApi) imports.push(FilesModule, BatchesModule, ThrottlingModule, AdminModule.register(config));
    if (config.role !== 'api') imports.push(GpuWorkerModule);
    return { module: AppModule, imports, providers };
  }
}
