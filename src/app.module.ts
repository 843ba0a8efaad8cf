import { DynamicModule, Module, ModuleMetadata, Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import { AdminModule } from './api/admin/admin.module';
import { ApiKeyGuard } from './api/auth/api-key.guard';
import { AuthModule } from './api/auth/auth.module';
import { AuthedRequest } from './api/auth/auth.types';
import { HttpDrainService } from './platform/http/http-drain.service';
import {
  redactErrorLog,
  redactLogArguments,
  redactRequestLog,
  redactResponseLog,
} from './platform/logging/log-redaction';
import { OpenAiExceptionFilter } from './platform/http/openai-exception.filter';
import { assignRequestId } from './platform/http/request-id';
import { AppConfig } from './platform/config/app-config';
import { AppConfigModule } from './platform/config/config.module';
import { dataSourceOptions } from './platform/database/data-source';
import { DOMAIN_ENTITIES } from './domain/entities';
import { BatchesModule } from './api/batches/batches.module';
import { FilesModule } from './api/files/files.module';
import { ModelsModule } from './api/models/models.module';
import { WorkerModule } from './worker/worker.module';
import { HealthModule } from './platform/health/health.module';
import { FEATURE_METRIC_SETS } from './metric-sets';
import { MetricsModule } from './platform/metrics/metrics.module';
import { QueueModule } from './platform/queue/queue.module';
import { StorageModule } from './platform/storage/storage.module';
import { RateLimitGuard } from './api/throttling/rate-limit.guard';
import { ThrottlingModule } from './api/throttling/throttling.module';

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
      // Periodic sweeps (@Interval, SchedulerRegistry): started after bootstrap, cleared before shutdown.
      ScheduleModule.forRoot(),
      LoggerModule.forRoot({
        // A worker serves only /health, /ready and /metrics, which are not logged: without the
        // request logger there, no HTTP request turns on its AsyncLocalStorage, whose hooks would
        // otherwise run on every promise of every batch line for the rest of the process.
        ...(serveApi ? {} : { forRoutes: [] }),
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
        },
      }),
      TypeOrmModule.forRoot({
        ...dataSourceOptions(config.databaseUrl, config.databasePoolMax, DOMAIN_ENTITIES),
        migrationsRun: false,
      }),
      StorageModule,
      AuthModule,
      QueueModule,
      HealthModule,
      MetricsModule.forRoot(FEATURE_METRIC_SETS),
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
    if (serveApi)
      imports.push(FilesModule, BatchesModule, ModelsModule, ThrottlingModule, AdminModule.register(config));
    if (config.role !== 'api') imports.push(WorkerModule);
    return { module: AppModule, imports, providers };
  }
}
