/**
 * CLI for the vLLM simulator: `node dist/simulator/main.js` or `npx ts-node simulator/main.ts`.
 *
 * Every option comes from an environment variable (unset → default):
 *
 *   SIM_PORT                  8000       listen port (0 = any free port)
 *   SIM_HOST                  127.0.0.1  listen address
 *   SIM_MODELS                sim-model  served model ids, comma-separated (the first labels /metrics)
 *   SIM_MAX_MODEL_LEN         4096       context length (prompt + max_tokens)
 *   SIM_BLOCK_SIZE            16         tokens per KV block
 *   SIM_NUM_GPU_BLOCKS        2048       KV blocks (capacity = blocks × block size tokens)
 *   SIM_MAX_NUM_SEQS          256        cap on the running batch
 *   SIM_STEP_BASE_MS          10         fixed time of one engine step
 *   SIM_STEP_PER_SEQ_MS       0.05       added step time per running sequence
 *   SIM_STEP_PER_PREFILL_TOKEN_MS 0      added step time per token prefilled (prompts admitted,
 *                                        preempted sequences recomputed)
 *   SIM_INSTANT               false      answer at once, no engine (also when both step times are 0)
 *   SIM_PRIORITY_SCHEDULING   false      accept `priority` and admit lower values first
 *   SIM_MAX_WAITING           (none)     cap on the waiting queue; beyond it requests get 503
 *   SIM_DEFAULT_MAX_TOKENS    16         generation limit when a request sets no max_tokens
 *   SIM_OUTPUT_TOKENS         (none)     natural answer length; generated = min(limit, this)
 *   SIM_OUTPUT_TOKENS_MAX     (none)     with SIM_OUTPUT_TOKENS: natural lengths spread over
 *                                        SIM_OUTPUT_TOKENS..this by a hash of the prompt
 *   SIM_METRICS               true       serve /metrics
 *   SIM_LEGACY_METRIC_NAMES   false      export only vllm:gpu_cache_usage_perc (old vLLM)
 *   SIM_ASCII_ONLY            false      answer the plain ASCII echo instead of multi-byte text
 *   SIM_ERROR_FORMAT          flat       error bodies: flat (older vLLM) | nested ({"error": {...}})
 *   SIM_SEED                  42         PRNG seed for the fault rates
 *   SIM_UNSUPPORTED_ENDPOINTS (none)     inference paths the model does not serve (e.g. /v1/score):
 *                                        400 "The model does not support … API", as vLLM answers
 *   SIM_FAIL_RATE             0          fraction of inference requests answered 500
 *   SIM_HANG_RATE             0          fraction of inference requests never answered
 *   SIM_429_RATE              0          fraction of inference requests answered 429
 *   SIM_EXTRA_LATENCY_MS      0          added to every response
 *   SIM_OUTAGE_MS             0          start with an outage of this length
 *   SIM_OUTAGE_MODE           refuse     outage kind: refuse | 503
 *
 * Booleans accept 1/0, true/false, yes/no, on/off. SIGTERM and SIGINT close the server.
 */
import { isInstant } from './options';
import { createSimulator, type Faults, type SimulatorOptions } from './simulator';

type Env = Record<string, string | undefined>;

class EnvError extends Error {}

function read(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function num(
  env: Env,
  name: string,
  opts: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const v = Number(raw);
  const bad =
    !Number.isFinite(v) ||
    (opts.integer === true && !Number.isInteger(v)) ||
    (opts.min !== undefined && v < opts.min) ||
    (opts.max !== undefined && v > opts.max);
  if (bad) {
    const range = `${opts.integer ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}${opts.max !== undefined ? ` <= ${opts.max}` : ''}`;
    throw new EnvError(`${name} must be ${range}, got "${raw}"`);
  }
  return v;
}

function bool(env: Env, name: string): boolean | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const v = raw.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new EnvError(`${name} must be a boolean (true/false), got "${raw}"`);
}

/** A comma-separated list; undefined when unset. */
function list(env: Env, name: string): string[] | undefined {
  return read(env, name)
    ?.split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
}

/** Build simulator options from SIM_* variables; throws with a clear message on a bad value. */
export function optionsFromEnv(env: Env = process.env): Partial<SimulatorOptions> {
  const o: Partial<SimulatorOptions> = {};
  const set = <K extends keyof SimulatorOptions>(key: K, value: SimulatorOptions[K] | undefined): void => {
    if (value !== undefined) o[key] = value;
  };
  set('port', num(env, 'SIM_PORT', { integer: true, min: 0, max: 65535 }) ?? 8000);
  set('host', read(env, 'SIM_HOST') ?? '127.0.0.1');
  const models = list(env, 'SIM_MODELS');
  if (models !== undefined && models.length === 0)
    throw new EnvError('SIM_MODELS must list at least one model id');
  set('models', models);
  set('unsupportedEndpoints', list(env, 'SIM_UNSUPPORTED_ENDPOINTS'));
  set('maxModelLen', num(env, 'SIM_MAX_MODEL_LEN', { integer: true, min: 1 }));
  set('blockSize', num(env, 'SIM_BLOCK_SIZE', { integer: true, min: 1 }));
  set('numGpuBlocks', num(env, 'SIM_NUM_GPU_BLOCKS', { integer: true, min: 1 }));
  set('maxNumSeqs', num(env, 'SIM_MAX_NUM_SEQS', { integer: true, min: 1 }));
  set('stepBaseMs', num(env, 'SIM_STEP_BASE_MS', { min: 0 }));
  set('stepPerSeqMs', num(env, 'SIM_STEP_PER_SEQ_MS', { min: 0 }));
  set('stepPerPrefillTokenMs', num(env, 'SIM_STEP_PER_PREFILL_TOKEN_MS', { min: 0 }));
  set('instant', bool(env, 'SIM_INSTANT'));
  set('priorityScheduling', bool(env, 'SIM_PRIORITY_SCHEDULING'));
  set('maxWaiting', num(env, 'SIM_MAX_WAITING', { integer: true, min: 0 }));
  set('defaultMaxTokens', num(env, 'SIM_DEFAULT_MAX_TOKENS', { integer: true, min: 1 }));
  set('outputTokens', num(env, 'SIM_OUTPUT_TOKENS', { integer: true, min: 1 }));
  set('outputTokensMax', num(env, 'SIM_OUTPUT_TOKENS_MAX', { integer: true, min: 1 }));
  set('metrics', bool(env, 'SIM_METRICS'));
  set('legacyMetricNames', bool(env, 'SIM_LEGACY_METRIC_NAMES'));
  set('asciiOnly', bool(env, 'SIM_ASCII_ONLY'));
  const errorFormat = read(env, 'SIM_ERROR_FORMAT');
  if (errorFormat !== undefined && errorFormat !== 'flat' && errorFormat !== 'nested') {
    throw new EnvError(`SIM_ERROR_FORMAT must be "flat" or "nested", got "${errorFormat}"`);
  }
  set('errorFormat', errorFormat);
  set('seed', num(env, 'SIM_SEED', { integer: true }));

  const faults: Partial<Faults> = {};
  const rate = (name: string): number | undefined => num(env, name, { min: 0, max: 1 });
  const failRate = rate('SIM_FAIL_RATE');
  const hangRate = rate('SIM_HANG_RATE');
  const status429Rate = rate('SIM_429_RATE');
  const extraLatencyMs = num(env, 'SIM_EXTRA_LATENCY_MS', { min: 0 });
  const outageMs = num(env, 'SIM_OUTAGE_MS', { min: 0 });
  const outageMode = read(env, 'SIM_OUTAGE_MODE');
  if (outageMode !== undefined && outageMode !== 'refuse' && outageMode !== '503') {
    throw new EnvError(`SIM_OUTAGE_MODE must be "refuse" or "503", got "${outageMode}"`);
  }
  if (failRate !== undefined) faults.failRate = failRate;
  if (hangRate !== undefined) faults.hangRate = hangRate;
  if (status429Rate !== undefined) faults.status429Rate = status429Rate;
  if (extraLatencyMs !== undefined) faults.extraLatencyMs = extraLatencyMs;
  if (outageMode !== undefined) faults.outageMode = outageMode;
  if (outageMs !== undefined) faults.outageMs = outageMs; // after the mode: setting it starts the outage
  if (Object.keys(faults).length > 0) o.faults = faults;
  return o;
}

async function main(): Promise<void> {
  let options: Partial<SimulatorOptions>;
  try {
    options = optionsFromEnv();
  } catch (e) {
    if (e instanceof EnvError) {
      process.stderr.write(`vLLM simulator: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const sim = await createSimulator(options);
  const o = sim.options();
  const mode = isInstant(o) ? 'instant' : `step ${o.stepBaseMs}+${o.stepPerSeqMs}×n ms`;
  process.stdout.write(
    `vLLM simulator listening on ${sim.url} (models ${o.models.join(',')}, max_model_len ${o.maxModelLen}, ` +
      `KV ${o.numGpuBlocks}×${o.blockSize} tokens, max_num_seqs ${o.maxNumSeqs}, ${mode})\n`,
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`vLLM simulator: ${signal}, closing\n`);
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`vLLM simulator failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
