/**
 * `npm run demo`: starts two vLLM simulator replicas (ports 8000 and 8001) and the service (port
 * 4080, open mode, its own `vllm_batch_demo` database) feeding both of them (VLLM_ENDPOINTS), runs
 * the quickstart batch through the official SDK, then keeps everything running for you to explore
 * (Swagger UI at /docs, GET /v1/models) until Ctrl-C.
 *
 * Both replicas serve `sim-model`, so the quickstart's lines spread over the two; the second one
 * also serves `sim-model-b`, whose lines go to it alone. SIM_PORT moves the first replica (the
 * second takes the next port).
 */
import { startService, startSimulator, stopChildrenOnSignals } from '../test/support/harness';
import { runQuickstart } from './quickstart';

/** A simulator replica the demo starts: its name, port and the model ids it serves (SIM_MODELS). */
export interface DemoReplica {
  name: string;
  port: number;
  models: string[];
}

/** The replicas of the demo: two, the first port from SIM_PORT (default 8000). */
export function demoReplicas(env: Record<string, string | undefined> = process.env): DemoReplica[] {
  const first = Number(env.SIM_PORT ?? 8000);
  return [
    { name: 'sim-a', port: first, models: ['sim-model'] },
    { name: 'sim-b', port: first + 1, models: ['sim-model', 'sim-model-b'] },
  ];
}

/** The service's environment for the replicas' base URLs (each ending in /v1). */
export function demoServiceEnv(
  upstreams: string[],
  env: Record<string, string | undefined> = process.env,
): Record<string, string> {
  return {
    DATABASE_URL: env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/vllm_batch_demo',
    // The pool: every replica, comma-separated. One vLLM would be VLLM_BASE_URL=<its /v1 URL>.
    VLLM_ENDPOINTS: upstreams.join(','),
    API_KEYS: '',
    STORAGE_DIR: env.STORAGE_DIR ?? './data/demo-files',
    QUEUE_PREFIX: 'vllm-batch-demo',
    LOG_LEVEL: 'warn',
  };
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 4080);
  stopChildrenOnSignals();
  const onConsole = { inheritEnv: true, output: { console: { stdout: false } } };
  const sims = await Promise.all(
    demoReplicas().map((r) =>
      startSimulator({ SIM_MODELS: r.models.join(',') }, r.name, { port: r.port, ...onConsole }),
    ),
  );
  demoReplicas().forEach((r, i) =>
    console.log(`vLLM simulator ${r.name} on ${sims[i].url} serving ${r.models.join(', ')}`),
  );
  const env = demoServiceEnv(sims.map((s) => s.url));
  const svc = await startService('all', env, 'service', { port, ...onConsole });
  console.log(`vllm-batch on ${svc.url} (Swagger UI: ${svc.url}/docs), feeding ${env.VLLM_ENDPOINTS}\n`);
  const stop = async (): Promise<void> => {
    await svc.proc.stop();
    await Promise.all(sims.map((s) => s.proc.stop()));
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await runQuickstart(`${svc.url}/v1`, 'open-mode');
  console.log(`\nStill running: point any OpenAI SDK at ${svc.url}/v1. Ctrl-C stops everything.`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
