import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp, installFallbackErrorHandler } from './bootstrap';
import { applyHttpServerLimits } from './platform/http/http-server-limits';
import { redactText } from './platform/logging/log-redaction';
import { ConfigError, loadConfig } from './platform/config/app-config';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`Configuration error: ${redactText(err.message)}`);
      process.exit(78);
    }
    throw err;
  }
  const app = await createApp(config);
  // Shutdown hooks drain HTTP and hand batches back within SHUTDOWN_GRACE_SECONDS; should one of them
  // hang anyway (e.g. closing a connection to a dead database), the process still exits soon after.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        console.error(`Shutdown took longer than the grace period; exiting now.`);
        process.exit(1);
      }, config.shutdownGraceMs + 10_000).unref();
    });
  }
  await app.init();
  installFallbackErrorHandler(app);
  applyHttpServerLimits(app.getHttpServer(), config);
  // A worker-only process serves just /metrics, /health and /ready, on its own port.
  const port = config.role === 'worker' ? config.metricsPort : config.port;
  await app.listen(port, '0.0.0.0');
  // The worker's upstreams are logged by the pool ("upstreams from …").
  new Logger('Main').log(`vllm-batch ${config.role} role listening on :${port}`);
}

main().catch((err) => {
  // Some settings can only be judged once the database answers (are there API keys in it?).
  if (err instanceof ConfigError) {
    console.error(`Configuration error: ${redactText(err.message)}`);
    process.exit(78);
  }
  // Outside the logger's redaction: driver errors may quote a connection URL with its password.
  console.error(
    'Failed to start:',
    redactText(err instanceof Error ? (err.stack ?? err.message) : String(err)),
  );
  process.exit(1);
});
