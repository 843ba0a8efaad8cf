import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp, installFallbackErrorHandler } from './bootstrap';
import { ConfigError, loadConfig } from './config/app-config';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`Configuration error: ${err.message}`);
      process.exit(78);
    }
    throw err;
  }
  const app = await createApp(config);
  await app.init();
  installFallbackErrorHandler(app);
  // A worker-only process serves just /metrics, /health and /ready, on its own port.
  const port = config.role === 'worker' ? config.metricsPort : config.port;
  await app.listen(port, '0.0.0.0');
  new Logger('Main').log(
    `vllm-batch ${config.role} role listening on :${port} (upstream ${config.vllmBaseUrl})`,
  );
}

main().catch((err) => {
  console.error('Failed to start:', err);
  process.exit(1);
});
