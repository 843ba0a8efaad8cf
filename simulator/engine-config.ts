/** The engine's configuration: what vLLM's flags and the GPU decide. */

export interface EngineConfig {
  /** Tokens per KV block (vLLM `--block-size`). */
  blockSize: number;
  /** KV blocks on the GPU (vLLM reports it in `cache_config_info`). */
  numGpuBlocks: number;
  /** Cap on the running batch (vLLM `--max-num-seqs`). */
  maxNumSeqs: number;
  /** Fixed cost of one step, ms. */
  stepBaseMs: number;
  /** Added step cost per sequence in the batch, ms. */
  stepPerSeqMs: number;
  /**
   * Added step cost per token prefilled in the step, ms: a new prompt, or a preempted sequence's
   * prompt and generated tokens recomputed on readmission. 0 = prefill is free.
   */
  stepPerPrefillTokenMs: number;
  /** Admit by lowest `priority` value first (vLLM `--scheduling-policy priority`). */
  priorityScheduling: boolean;
  /** Cap on the waiting queue; null = unbounded (vLLM's default). */
  maxWaiting: number | null;
}

export const DEFAULT_ENGINE_CONFIG: EngineConfig = {
  blockSize: 16,
  numGpuBlocks: 2048,
  maxNumSeqs: 256,
  stepBaseMs: 10,
  stepPerSeqMs: 0.05,
  stepPerPrefillTokenMs: 0,
  priorityScheduling: false,
  maxWaiting: null,
};

/** The engine's part of a larger options object. */
export function engineConfigOf(o: EngineConfig): EngineConfig {
  return {
    blockSize: o.blockSize,
    numGpuBlocks: o.numGpuBlocks,
    maxNumSeqs: o.maxNumSeqs,
    stepBaseMs: o.stepBaseMs,
    stepPerSeqMs: o.stepPerSeqMs,
    stepPerPrefillTokenMs: o.stepPerPrefillTokenMs,
    priorityScheduling: o.priorityScheduling,
    maxWaiting: o.maxWaiting,
  };
}

export function validateEngineConfig(cfg: EngineConfig): void {
  for (const name of ['blockSize', 'numGpuBlocks', 'maxNumSeqs'] as const) {
    const v = cfg[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new RangeError(`engine option ${name} must be a positive integer, got ${String(v)}`);
    }
  }
  for (const name of ['stepBaseMs', 'stepPerSeqMs', 'stepPerPrefillTokenMs'] as const) {
    const v = cfg[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`engine option ${name} must be a number >= 0, got ${String(v)}`);
    }
  }
  if (cfg.maxWaiting !== null && (!Number.isInteger(cfg.maxWaiting) || cfg.maxWaiting < 0)) {
    throw new RangeError(
      `engine option maxWaiting must be null or an integer >= 0, got ${String(cfg.maxWaiting)}`,
    );
  }
}
