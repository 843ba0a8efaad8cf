import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { Queue } from 'bullmq';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError } from '../../common/api-error';
import { applyHttpServerLimits } from '../../platform/http/http-server-limits';
import { sendError } from '../../platform/http/openai-exception.filter';
import type { AppConfig } from '../../platform/config/app-config';
import type { ThrottleRedisClient } from '../throttling/throttle-redis.client';
import { adminBasicAuth } from './admin-basic-auth.middleware';
import { AdminLoginLimiter } from './admin-login-limiter';
import { boardPageWithoutRemoteFonts } from './board-page.middleware';
import { refuseCrossSite } from './cross-site.middleware';
import { requireQueueRedis } from './queue-redis.middleware';

export const ADMIN_QUEUES_ROUTE = '/admin/queues';

/**
 * The admin surface on its own port (ADMIN_PORT), never on the public one: a queue board that can
 * retry and delete jobs has no business behind the public Ingress, and a separate port is what a
 * NetworkPolicy, a Service and `kubectl port-forward` can single out. Its gate, in this order:
 * cross-site writes refused (403), HTTP Basic auth with failed logins throttled per client address
 * (401, 429), and a Redis check before the board's API (503). Errors come in OpenAI's envelope.
 */
export class AdminServer implements OnApplicationBootstrap, OnModuleDestroy {
  private server: Server | null = null;
  private readonly logger = new Logger('Admin');

  constructor(
    private readonly config: AppConfig,
    private readonly queues: Queue[],
    private readonly throttleRedis: ThrottleRedisClient,
  ) {}

  /** The port it listens on (the real one when ADMIN_PORT=0 picked a free port). */
  get port(): number | null {
    return (this.server?.address() as AddressInfo | null)?.port ?? null;
  }

  async onApplicationBootstrap(): Promise<void> {
    const { adminUser, adminPassword, adminPort, trustProxy } = this.config;
    if (!adminUser || !adminPassword) return;
    const app = express();
    app.set('trust proxy', trustProxy);
    app.disable('x-powered-by');
    // The board's page loads its own scripts and styles inline; framing and sniffing stay refused.
    app.use(helmet({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }));

    const board = new ExpressAdapter().setBasePath(ADMIN_QUEUES_ROUTE);
    createBullBoard({
      queues: this.queues.map((q) => new BullMQAdapter(q)),
      serverAdapter: board,
      options: { uiConfig: { boardTitle: 'vLLM Batch queues' } },
    });
    app.use(
      ADMIN_QUEUES_ROUTE,
      refuseCrossSite(),
      adminBasicAuth(
        adminUser,
        adminPassword,
        new AdminLoginLimiter(this.throttleRedis.redis, this.config.adminAuthFailLimit),
      ),
      requireQueueRedis(`${ADMIN_QUEUES_ROUTE}/api/`, this.queues),
      boardPageWithoutRemoteFonts(),
      board.getRouter(),
    );
    app.use((req: Request, res: Response) =>
      sendError(
        ApiError.notFound(`Invalid URL (${req.method} ${req.path.slice(0, 200)})`),
        req,
        res,
        this.logger,
      ),
    );
    app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
      void _next;
      sendError(err, req, res, this.logger);
    });

    const server = app.listen(adminPort, '0.0.0.0');
    applyHttpServerLimits(server, this.config);
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    this.server = server;
    this.logger.log(`queue board on :${this.port}${ADMIN_QUEUES_ROUTE} (HTTP Basic auth)`);
  }

  /** Closed with the API's listener, first thing at shutdown; an operator's open page is not worth waiting for. */
  async onModuleDestroy(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
