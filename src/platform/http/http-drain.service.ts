import { BeforeApplicationShutdown, Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';
import { APP_CONFIG, AppConfig } from '../config/app-config';

/**
 * Graceful HTTP shutdown. Nest closes the HTTP server only after every shutdown hook (in the `all`
 * role that includes the worker's hand-back, up to SHUTDOWN_GRACE_SECONDS), so new requests kept
 * being accepted meanwhile. Here the listener closes first thing (onModuleDestroy, the first hook),
 * idle keep-alive connections are closed as they become idle, and requests in flight get the grace
 * period to finish before their sockets are cut. The wait runs alongside the worker's hand-back
 * (beforeApplicationShutdown), and the database closes only after both.
 */
@Injectable()
export class HttpDrainService implements OnModuleDestroy, BeforeApplicationShutdown {
  private draining: Promise<void> | null = null;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleDestroy(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server?.listening) return;
    this.draining = new Promise<void>((resolve) => {
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      const cut = setTimeout(() => server.closeAllConnections(), this.config.shutdownGraceMs);
      server.close(() => {
        clearInterval(idle);
        clearTimeout(cut);
        resolve();
      });
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.draining;
  }
}
