import { InjectQueue } from '@nestjs/bullmq';
import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { Public } from '../auth/public.decorator';
import { BATCH_QUEUE } from '../queue/queue.constants';
import { STORAGE, StorageDriver } from '../storage/storage.types';
import { SkipThrottle } from '@nestjs/throttler';

const CHECK_TIMEOUT_MS = 2000;

function withTimeout<T>(p: Promise<T>): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS).unref(),
    ),
  ]);
}

@ApiTags('Health')
@Public()
@SkipThrottle()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    @InjectDataSource() private readonly db: DataSource,
    @InjectQueue(BATCH_QUEUE) private readonly queue: Queue,
    @Inject(STORAGE) private readonly storage: StorageDriver,
  ) {}

  @Get('health')
  @ApiOperation({ summary: 'Liveness: the process is up (checks no dependency)' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: PostgreSQL, Redis and storage answer' })
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.probe('postgres', () => this.db.query('SELECT 1')),
      () =>
        this.probe('redis', async () =>
          ((await this.queue.client) as unknown as { ping(): Promise<string> }).ping(),
        ),
      () => this.probe('storage', () => this.storage.check()),
    ]);
  }

  private async probe(key: string, fn: () => Promise<unknown>) {
    const check = this.indicator.check(key);
    try {
      await withTimeout(fn());
      return check.up();
    } catch (err) {
      return check.down({ message: (err as Error).message });
    }
  }
}
