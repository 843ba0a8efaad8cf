/**
 * `npm run demo`: starts the vLLM simulator (port 8000) and the service (port 4080, open mode, its
 * own `vllm_batch_demo` database), runs the quickstart batch through the official SDK, then keeps
 * both running for you to explore (Swagger UI at /docs) until Ctrl-C.
 */
import { startService, startSimulator, stopChildrenOnSignals } from '../test/support/harness';
import { runQuickstart } from './quickstart';

async function main(): Promise<void> {
  const simPort = Number(process.env.SIM_PORT ?? 8000);
  const port = Number(process.env.PORT ?? 4080);
  stopChildrenOnSignals();
  const onConsole = { inheritEnv: true, output: { console: { stdout: false } } };
  const sim = await startSimulator({}, 'sim', { port: simPort, ...onConsole });
  console.log(`vLLM simulator on ${sim.url}`);
  const env = {
    DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/vllm_batch_demo',
    VLLM_BASE_URL: sim.url,
    API_KEYS: '',
    STORAGE_DIR: process.env.STORAGE_DIR ?? './data/demo-files',
    QUEUE_PREFIX: 'vllm-batch-demo',
    LOG_LEVEL: 'warn',
  };
  const svc = await startService('all', env, 'service', { port, ...onConsole });
  console.log(`vllm-batch on ${svc.url} (Swagger UI: ${svc.url}/docs)\n`);
  const stop = async (): Promise<void> => {
    await svc.proc.stop();
    await sim.proc.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await runQuickstart(`${svc.url}/v1`, 'open-mode');
  console.log(`\nStill running: point any OpenAI SDK at ${svc.url}/v1. Ctrl-C stops both.`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
