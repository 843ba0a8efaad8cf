/** The simulator's options, their defaults and checks. */
import { DEFAULT_ENGINE_CONFIG, type EngineConfig } from './engine-config';
import type { Faults } from './faults';
import { INFERENCE_PATHS } from './jobs';
import type { ErrorFormat } from './vllm-request';

export interface SimulatorOptions extends EngineConfig {
  /** 0 picks a free port. */
  port: number;
  host: string;
  /** Served model ids; the first one labels the metrics. */
  models: string[];
  maxModelLen: number;
  /** Answer at once, bypassing the engine (also implied by stepBaseMs = stepPerSeqMs = 0). */
  instant: boolean;
  /** Generation limit when a request gives neither max_tokens nor max_completion_tokens. */
  defaultMaxTokens: number;
  /** "Natural" answer length in tokens; null = the request's limit. generated = min(limit, this). */
  outputTokens: number | null;
  /**
   * With `outputTokens`, the natural length varies from request to request: spread uniformly over
   * outputTokens..outputTokensMax by a hash of the prompt (the same request always gets the same
   * length), as real answers vary. null = every answer is `outputTokens` long.
   */
  outputTokensMax: number | null;
  /** Serve /metrics (false → 404). */
  metrics: boolean;
  /** Export only vllm:gpu_cache_usage_perc (releases before the kv_cache_usage_perc rename). */
  legacyMetricNames: boolean;
  /** Answer the plain ASCII echo instead of multi-byte text (see answers.ts). */
  asciiOnly: boolean;
  /** Shape of error bodies: vLLM's older flat object or the newer nested one. */
  errorFormat: ErrorFormat;
  /** Seed of the PRNG behind the fault rates. */
  seed: number;
  /**
   * Inference paths the served model does not support (e.g. `/v1/score` on a generative model):
   * answered 400 "The model does not support … API", as vLLM does.
   */
  unsupportedEndpoints: string[];
  /** Faults active from the start. */
  faults: Partial<Faults>;
}

export const DEFAULT_SIMULATOR_OPTIONS: SimulatorOptions = {
  ...DEFAULT_ENGINE_CONFIG,
  port: 8000,
  host: '127.0.0.1',
  models: ['sim-model'],
  maxModelLen: 4096,
  instant: false,
  defaultMaxTokens: 16,
  outputTokens: null,
  outputTokensMax: null,
  metrics: true,
  legacyMetricNames: false,
  asciiOnly: false,
  errorFormat: 'flat',
  seed: 42,
  unsupportedEndpoints: [],
  faults: {},
};

/** The options and faults in force; the HTTP side reads them on every request, setters replace them. */
export interface LiveSettings {
  opts: SimulatorOptions;
  faults: Faults;
}

/** Answer at once, without the engine. */
export function isInstant(o: Pick<SimulatorOptions, 'instant' | 'stepBaseMs' | 'stepPerSeqMs'>): boolean {
  return o.instant || (o.stepBaseMs === 0 && o.stepPerSeqMs === 0);
}

/** Checks the options the engine does not check; throws RangeError. */
export function validateOptions(o: SimulatorOptions): SimulatorOptions {
  if (
    !Array.isArray(o.models) ||
    o.models.length === 0 ||
    !o.models.every((m) => typeof m === 'string' && m)
  ) {
    throw new RangeError('models must be a non-empty array of model ids');
  }
  for (const name of ['maxModelLen', 'defaultMaxTokens'] as const) {
    if (!Number.isInteger(o[name]) || o[name] < 1) throw new RangeError(`${name} must be a positive integer`);
  }
  if (o.outputTokens !== null && (!Number.isInteger(o.outputTokens) || o.outputTokens < 1)) {
    throw new RangeError('outputTokens must be null or a positive integer');
  }
  if (
    o.outputTokensMax !== null &&
    (!Number.isInteger(o.outputTokensMax) || o.outputTokensMax < (o.outputTokens ?? 1))
  ) {
    throw new RangeError('outputTokensMax must be null or an integer ≥ outputTokens');
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)
    throw new RangeError('port must be 0..65535');
  if (!Array.isArray(o.unsupportedEndpoints) || !o.unsupportedEndpoints.every((p) => p in INFERENCE_PATHS))
    throw new RangeError(`unsupportedEndpoints lists paths among ${Object.keys(INFERENCE_PATHS).join(', ')}`);
  return o;
}
