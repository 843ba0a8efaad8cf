/** Helpers the simulator's HTTP specs share. */
import OpenAI from 'openai';
import { createSimulator, type RunningSimulator, type SimulatorOptions } from './simulator';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll until `cond` holds (tests wait on the simulator's state, not on guessed delays). */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(2);
  }
}

export const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'sim-model',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content },
  ],
  ...extra,
});

/** The body of a vLLM error answer (vLLM's ErrorResponse: `param` is always null here). */
export const vllmErrorBody = (code: number, type: string, message: string) => ({
  object: 'error',
  message,
  type,
  param: null,
  code,
});

export async function withSim<T>(
  opts: Partial<SimulatorOptions>,
  fn: (sim: RunningSimulator) => Promise<T>,
): Promise<T> {
  const sim = await createSimulator({ port: 0, ...opts });
  try {
    return await fn(sim);
  } finally {
    await sim.close();
  }
}

/** A simulator with fast steps and an OpenAI client on it, for a describe block's beforeAll. */
export async function startTestSimulator(): Promise<{ sim: RunningSimulator; client: OpenAI }> {
  const sim = await createSimulator({ port: 0, stepBaseMs: 1, stepPerSeqMs: 0 });
  return { sim, client: new OpenAI({ baseURL: sim.url, apiKey: 'unused', maxRetries: 0 }) };
}

/**
 * Registers a describe block's hooks: one test simulator for the block (`use` receives it and its
 * client), reset before each test, closed after the block.
 */
export function useTestSimulator(use: (started: { sim: RunningSimulator; client: OpenAI }) => void): void {
  let sim: RunningSimulator;
  beforeAll(async () => {
    const started = await startTestSimulator();
    sim = started.sim;
    use(started);
  });
  afterAll(() => sim.close());
  beforeEach(() => resetTestSimulator(sim));
}

/** No faults, natural answer length, fresh stats: for beforeEach. */
export function resetTestSimulator(sim: RunningSimulator): void {
  sim.setFaults({ failRate: 0, hangRate: 0, status429Rate: 0, extraLatencyMs: 0, outageMs: 0 });
  sim.setOptions({ outputTokens: null });
  sim.resetStats();
}
