import { INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { Logger as PinoLogger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { ApiError, envelope } from './common/api-error';
import { rejectDeepBodies } from './common/json-depth';
import { sendError } from './platform/http/openai-exception.filter';
import { AppValidationPipe } from './platform/http/validation';
import { hideAdminRoutes } from './api/admin/admin-routes';
import { setupAdminSwagger } from './api/admin/admin-api.module';
import { AppConfig } from './platform/config/app-config';
import { runMigrations } from './platform/database/data-source';

/**
 * Builds the configured application without listening, so main.ts and the end-to-end tests start
 * exactly the same thing.
 */
export async function createApp(config: AppConfig): Promise<NestExpressApplication> {
  if (config.migrationsRun) await runMigrations(config.databaseUrl);

  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRole(config), {
    bufferLogs: true,
    bodyParser: false,
    cors: config.corsOrigins.length
      ? {
          origin: config.corsOrigins,
          // Browser clients may read the rate-limit headers too, not just the request id.
          exposedHeaders: [
            'X-Request-Id',
            'Retry-After',
            'X-RateLimit-Limit',
            'X-RateLimit-Remaining',
            'X-RateLimit-Reset',
          ],
        }
      : false,
  });
  app.useLogger(app.get(PinoLogger));
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  app.use(helmet({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }));
  // JSON bodies are small (batch requests carry ids and metadata); files go through the multipart stream.
  app.useBodyParser('json', { limit: config.jsonBodyLimit, strict: true });
  app.useBodyParser('urlencoded', { limit: '64kb', extended: false });
  app.use(rejectDeepBodies());
  app.useGlobalPipes(new AppValidationPipe());
  // Before any route: the admin routes answer only requests that came through the admin port.
  app.use(hideAdminRoutes());
  app.enableShutdownHooks();

  if (config.role !== 'worker') {
    setupSwagger(app);
    if (config.adminUsers.length > 0) setupAdminSwagger(app);
  }
  return app;
}

function setupSwagger(app: INestApplication): void {
  const doc = new DocumentBuilder()
    .setTitle('vLLM Batch API')
    .setDescription(
      "OpenAI-compatible Files and Batches API for self-hosted vLLM. Point the official OpenAI SDK's baseURL at /v1. " +
        'Batches that end notify their tenant by signed webhook (batch.completed, batch.failed, batch.cancelled, ' +
        'batch.expired; Standard Webhooks signatures) when WEBHOOKS configures one: see POST /v1/batches and the README.',
    )
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key from API_KEYS' })
    .build();
  const document = SwaggerModule.createDocument(app, doc);
  // The admin API has its own document, on the admin port (setupAdminSwagger).
  for (const path of Object.keys(document.paths)) if (path.startsWith('/admin/')) delete document.paths[path];
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}

/**
 * Errors raised outside Nest's pipeline (e.g. body-parser rejecting a body before routing) still
 * answer in OpenAI's envelope. Registered after init so it is the last Express error handler.
 */
export function installFallbackErrorHandler(app: NestExpressApplication): void {
  const logger = new Logger('Errors');
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    void _next;
    sendError(err, req, res, logger);
  });
  app.use((req: Request, res: Response) => {
    sendError(ApiError.notFound(`Invalid URL (${req.method} ${req.path.slice(0, 200)})`), req, res, logger);
  });
  // Requests Node's HTTP parser refuses before Express sees them (headers or URL over 16 KB, broken
  // framing) got a bare "400 Bad Request" / "431" with no body: answer in the envelope too.
  app.getHttpServer().on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // ERR_HTTP_REQUEST_TIMEOUT: the headers did not arrive within HTTP_HEADERS_TIMEOUT_MS (or a
    // request outlived the server-wide backstop; see http-server-limits.ts).
    const error =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? new ApiError(
            431,
            'Request headers (including the URL) are too large.',
            'invalid_request_error',
            'request_header_fields_too_large',
          )
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? ApiError.requestTimeout('The request took too long to arrive.')
          : ApiError.badRequest('Malformed HTTP request.', null, 'invalid_request');
    const body = JSON.stringify(envelope(error));
    // Closed once the answer is out: the peer is slow or broken, and a half-open socket would
    // otherwise stay until the peer itself closes (the HTTP server allows half-open sockets).
    socket.end(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      () => socket.destroy(),
    );
  });
}
