/** The whole app in this test process (what `describeApp()` starts), on a free port. */
import { NestExpressApplication } from '@nestjs/platform-express';
import { AddressInfo } from 'node:net';
import { AdminServer } from '../../src/api/admin/admin-server';
import { createApp, installFallbackErrorHandler } from '../../src/bootstrap';
import { applyHttpServerLimits } from '../../src/platform/http/http-server-limits';
import { AppConfig, loadConfig } from '../../src/platform/config/app-config';

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  /** The admin surface (ADMIN_PORT), or null when the board is off. */
  adminUrl: string | null;
  close(): Promise<void>;
}

export async function startApp(env: Record<string, string>): Promise<TestApp> {
  const config = loadConfig({ ...env });
  const app = await createApp(config);
  await app.init();
  installFallbackErrorHandler(app);
  applyHttpServerLimits(app.getHttpServer(), config);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  // The board is served by the API roles when admin credentials are set.
  const adminPort =
    config.adminUsers.length > 0 && config.role !== 'worker'
      ? app.get(AdminServer, { strict: false }).port
      : null;
  return {
    app,
    config,
    url: `http://127.0.0.1:${port}`,
    adminUrl: adminPort === null ? null : `http://127.0.0.1:${adminPort}`,
    close: () => app.close(),
  };
}
