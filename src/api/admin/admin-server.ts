import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { Queue } from 'bullmq';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
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
import { ADMIN_API_ROUTE, ADMIN_DOCS_ROUTE, ADMIN_QUEUES_ROUTE, isAdminNestPath } from './admin-routes';
import { boardPageWithoutRemoteFonts } from './board-page.middleware';
import { refuseCrossSite } from './cross-site.middleware';
import { requireQueueRedis } from './queue-redis.middleware';

/**
 * The admin surface on its own port (ADMIN_PORT), never on the public one: a queue board that can
 * retry and delete jobs, and an API that makes keys, have no business behind the public Ingress,
 * and a separate port is what a NetworkPolicy, a Service and `kubectl port-forward` can single out.
 * Its gate, in this order: cross-site writes refused (403), HTTP Basic auth with failed logins
 * throttled per client address (401, 429), then the board (with a Redis check before its API, 503)
 * or the admin API and its Swagger UI. Errors come in OpenAI's envelope.
 *
 * The admin API is made of Nest controllers, so it gets the app's DTO validation, exception filter,
 * Swagger and dependency injection like any route; rather than a second Nest application, requests
 * that passed the gate are handed to the one app's Express instance, which hides everything under
 * /admin from requests that did not come through here (hideAdminRoutes).
 */
export class AdminServer implements OnApplicationBootstrap, OnModuleDestroy {
  private server: Server | null = null;
  private readonly logger = new Logger('Admin');

  constructor(
    private readonly config: AppConfig,
    private readonly queues: Queue[],
    private readonly throttleRedis: ThrottleRedisClient,
    /** The Nest application's Express instance, which serves the admin API's routes. */
    private readonly nest: RequestHandler,
  ) {}

  /** The port it listens on (the real one when ADMIN_PORT=0 picked a free port). */
  get port(): number | null {
    return (this.server?.address() as AddressInfo | null)?.port ?? null;
  }

  async onApplicationBootstrap(): Promise<void> {
    const { adminUsers, adminPort, trustProxy } = this.config;
    if (adminUsers.length === 0) return;
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
    const gate = [
      refuseCrossSite(),
      adminBasicAuth(
        adminUsers,
        new AdminLoginLimiter(this.throttleRedis.redis, this.config.adminAuthFailLimit),
      ),
    ];
    app.use(
      ADMIN_QUEUES_ROUTE,
      ...gate,
      requireQueueRedis(`${ADMIN_QUEUES_ROUTE}/api/`, this.queues),
      boardPageWithoutRemoteFonts(),
      board.getRouter(),
    );
    // A router called as a function sees the whole path (no mount prefix stripped), as Nest's routes expect.
    const nestRoutes = express.Router().use(...gate, this.nest);
    app.use((req: Request, res: Response, next: NextFunction) =>
      isAdminNestPath(req.path) ? nestRoutes(req, res, next) : next(),
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
    this.logger.log(
      `admin on :${this.port}: queue board ${ADMIN_QUEUES_ROUTE}, API ${ADMIN_API_ROUTE}, docs ${ADMIN_DOCS_ROUTE} (HTTP Basic auth, ${adminUsers.length} user(s))`,
    );
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
