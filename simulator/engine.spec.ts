import { Engine, type EngineConfig, type Sequence } from './engine';

const small: Partial<EngineConfig> = {
  blockSize: 4,
  numGpuBlocks: 64,
  maxNumSeqs: 8,
  stepBaseMs: 10,
  stepPerSeqMs: 1,
};

/** Run steps in virtual time until idle; returns the finish order (data) and the end time. */
function runToIdle<T>(engine: Engine<T>, start = 0, maxSteps = 100_000): { order: T[]; now: number } {
  const order: T[] = [];
  let now = start;
  for (let i = 0; i < maxSteps && engine.hasWork(); i++) {
    const r = engine.step(now);
    now += r.durationMs || 1;
    for (const seq of r.finished) order.push(seq.data);
  }
  return { order, now };
}

function submitOk<T>(
  engine: Engine<T>,
  promptTokens: number,
  outputTokens: number,
  data: T,
  priority = 0,
): Sequence<T> {
  const r = engine.submit({ promptTokens, outputTokens, priority }, data, 0);
  if (!r.ok) throw new Error(`submit refused: ${r.message}`);
  return r.seq;
}

describe('Engine: one sequence', () => {
  it('prefills and produces the first token in one step, then one token per step', () => {
    const engine = new Engine<string>(small);
    const seq = submitOk(engine, 10, 3, 'a');
    const r1 = engine.step(0);
    expect(r1).toMatchObject({ batchSize: 1, admitted: 1, preempted: 0, durationMs: 11 });
    expect(seq.generated).toBe(1);
    expect(engine.step(11).finished).toEqual([]);
    const r3 = engine.step(22);
    expect(r3.finished.map((s) => s.data)).toEqual(['a']);
    expect(seq.state).toBe('finished');
    expect(engine.hasWork()).toBe(false);
    expect(engine.counters).toMatchObject({ promptTokens: 10, generationTokens: 3, steps: 3 });
  });

  it('holds ceil(tokens / blockSize) blocks and frees them at the end', () => {
    const engine = new Engine(small);
    const seq = submitOk(engine, 6, 5, null);
    const blocks: number[] = [];
    let now = 0;
    while (engine.hasWork()) {
      const r = engine.step(now);
      now += r.durationMs;
      blocks.push(r.finished.length ? -1 : seq.blocks);
    }
    // tokens after each step: 7, 8, 9, 10, 11 (finished) → blocks 2, 2, 3, 3, then freed
    expect(blocks).toEqual([2, 2, 3, 3, -1]);
    expect(engine.usedBlocks).toBe(0);
    expect(engine.kvCacheUsage).toBe(0);
  });

  it('treats an embedding (0 output tokens) as a one-step prefill that generates nothing', () => {
    const engine = new Engine(small);
    submitOk(engine, 20, 0, null);
    const r = engine.step(0);
    expect(r.finished).toHaveLength(1);
    expect(engine.counters.generationTokens).toBe(0);
    expect(engine.counters.promptTokens).toBe(20);
    expect(engine.usedBlocks).toBe(0);
  });

  it('idles (zero-length step) when there is nothing to run', () => {
    const engine = new Engine(small);
    expect(engine.step(0)).toMatchObject({ batchSize: 0, durationMs: 0 });
  });
});

describe('Engine: admission', () => {
  it('caps the running set at maxNumSeqs', () => {
    const engine = new Engine({ ...small, maxNumSeqs: 2 });
    for (let i = 0; i < 5; i++) submitOk(engine, 4, 10, i);
    engine.step(0);
    expect(engine.numRunning).toBe(2);
    expect(engine.numWaiting).toBe(3);
  });

  it('admits in FIFO order and blocks the queue when the head does not fit', () => {
    const engine = new Engine<string>({ ...small, numGpuBlocks: 10 });
    submitOk(engine, 30, 2, 'big'); // needs ceil(31/4) = 8 blocks
    submitOk(engine, 20, 2, 'next'); // needs 6: does not fit beside 'big'
    submitOk(engine, 1, 2, 'tiny'); // would fit, but must not jump the queue
    engine.step(0);
    expect(engine.numRunning).toBe(1);
    expect(engine.numWaiting).toBe(2);
    expect(runToIdle(engine, 10).order).toEqual(['big', 'next', 'tiny']);
  });

  it('refuses a request that could never fit the whole cache', () => {
    const engine = new Engine({ ...small, numGpuBlocks: 4 });
    const r = engine.submit({ promptTokens: 10, outputTokens: 10 }, null, 0);
    expect(r).toMatchObject({ ok: false, reason: 'exceeds_kv_capacity' });
  });

  it('refuses when the waiting queue is at maxWaiting', () => {
    const engine = new Engine({ ...small, maxWaiting: 2 });
    submitOk(engine, 1, 1, null);
    submitOk(engine, 1, 1, null);
    expect(engine.submit({ promptTokens: 1, outputTokens: 1 }, null, 0)).toMatchObject({
      ok: false,
      reason: 'queue_full',
    });
    engine.step(0); // both admitted: room again
    expect(engine.submit({ promptTokens: 1, outputTokens: 1 }, null, 0).ok).toBe(true);
  });

  it('admits the lowest priority value first under priority scheduling', () => {
    const engine = new Engine<string>({ ...small, maxNumSeqs: 1, priorityScheduling: true });
    submitOk(engine, 4, 2, 'p5', 5);
    submitOk(engine, 4, 2, 'p1', 1);
    submitOk(engine, 4, 2, 'p3-first', 3);
    submitOk(engine, 4, 2, 'p3-second', 3);
    submitOk(engine, 4, 2, 'p-2', -2);
    expect(runToIdle(engine).order).toEqual(['p-2', 'p1', 'p3-first', 'p3-second', 'p5']);
  });

  it('ignores priority (FIFO) without priority scheduling', () => {
    const engine = new Engine<string>({ ...small, maxNumSeqs: 1 });
    submitOk(engine, 4, 2, 'a', 5);
    submitOk(engine, 4, 2, 'b', 1);
    expect(runToIdle(engine).order).toEqual(['a', 'b']);
  });
});

describe('Engine: preemption', () => {
  it('preempts the newest running sequence when decode outgrows the cache, then recomputes it', () => {
    // 6 blocks of 4 = 24 tokens; two sequences of 8 + 12 tokens cannot both finish together.
    const engine = new Engine<string>({ ...small, numGpuBlocks: 6 });
    const a = submitOk(engine, 8, 12, 'A');
    const b = submitOk(engine, 8, 12, 'B');
    engine.step(0);
    expect(engine.numRunning).toBe(2); // ceil(9/4) = 3 blocks each
    const { order } = runToIdle(engine, 10);
    expect(order).toEqual(['A', 'B']);
    expect(b.preemptions).toBeGreaterThanOrEqual(1);
    expect(a.preemptions).toBe(0);
    expect(engine.counters.preemptions).toBe(b.preemptions);
    // recompute does not count tokens twice
    expect(engine.counters.generationTokens).toBe(24);
    expect(engine.counters.promptTokens).toBe(16);
    expect(engine.usedBlocks).toBe(0);
  });

  it('charges stepPerPrefillTokenMs for prompts admitted and for what a preempted sequence recomputes', () => {
    const engine = new Engine<string>({ ...small, numGpuBlocks: 6, stepPerPrefillTokenMs: 0.5 });
    submitOk(engine, 8, 12, 'A');
    const b = submitOk(engine, 8, 12, 'B');
    // Both prompts are prefilled in the first step: 16 tokens.
    expect(engine.step(0).durationMs).toBe(10 + 2 * 1 + 16 * 0.5);
    let now = 0;
    let readmitted: number | null = null;
    while (engine.hasWork()) {
      const before = b.state;
      const generated = b.generated;
      const r = engine.step(now);
      now += r.durationMs;
      if (before === 'waiting' && b.state !== 'waiting' && readmitted === null) {
        readmitted = r.durationMs - 10 - r.batchSize * 1;
        expect(readmitted).toBeCloseTo((8 + generated) * 0.5);
      }
    }
    expect(b.preemptions).toBeGreaterThanOrEqual(1);
    expect(readmitted).not.toBeNull();
  });

  it('puts the preempted sequence at the front of the waiting queue', () => {
    const engine = new Engine<string>({ ...small, numGpuBlocks: 6, maxNumSeqs: 2 });
    submitOk(engine, 8, 12, 'A');
    submitOk(engine, 8, 12, 'B');
    // C arrives before B is preempted; B must be readmitted ahead of it. C is long enough to
    // finish after B only if it was admitted after B.
    submitOk(engine, 1, 12, 'C');
    expect(runToIdle(engine).order).toEqual(['A', 'B', 'C']);
  });

  it('preempts the largest priority value first under priority scheduling', () => {
    const engine = new Engine<string>({ ...small, numGpuBlocks: 6, priorityScheduling: true });
    // 'lazy' is admitted first, so FCFS would pick 'urgent' (the newest) as the victim.
    const lazy = submitOk(engine, 8, 12, 'lazy', 9);
    engine.step(0);
    const urgent = submitOk(engine, 8, 12, 'urgent', 0);
    engine.step(10);
    expect(engine.numRunning).toBe(2);
    expect(urgent.admitOrder).toBeGreaterThan(lazy.admitOrder);
    runToIdle(engine, 10);
    expect(lazy.preemptions).toBeGreaterThan(0);
    expect(urgent.preemptions).toBe(0);
  });

  it('shows preemptions when the cache shrinks live', () => {
    const engine = new Engine({ ...small, numGpuBlocks: 64 });
    for (let i = 0; i < 4; i++) submitOk(engine, 16, 40, i);
    engine.step(0);
    engine.setConfig({ numGpuBlocks: 20 }); // 4 × 5 blocks: full, every new block needs a victim
    runToIdle(engine, 10);
    expect(engine.counters.preemptions).toBeGreaterThan(0);
    expect(engine.counters.generationTokens).toBe(160);
  });

  it('fails a waiting sequence that no longer fits the shrunken cache instead of blocking the queue', () => {
    const engine = new Engine<string>({ ...small, numGpuBlocks: 64, maxNumSeqs: 1 });
    submitOk(engine, 4, 2, 'small');
    submitOk(engine, 100, 4, 'huge');
    submitOk(engine, 4, 2, 'after');
    engine.setConfig({ numGpuBlocks: 8 });
    const failed: string[] = [];
    const finished: string[] = [];
    for (let now = 0; engine.hasWork(); now += 10) {
      const r = engine.step(now);
      failed.push(...r.failed.map((s) => s.data));
      finished.push(...r.finished.map((s) => s.data));
    }
    expect(failed).toEqual(['huge']);
    expect(finished).toEqual(['small', 'after']);
  });
});

describe('Engine: aborts and stats', () => {
  it('removes an aborted waiting sequence without running it', () => {
    const engine = new Engine<string>({ ...small, maxNumSeqs: 1 });
    submitOk(engine, 4, 2, 'a');
    const b = submitOk(engine, 4, 2, 'b');
    submitOk(engine, 4, 2, 'c');
    expect(engine.abort(b, 0)).toBe(true);
    expect(engine.numWaiting).toBe(2);
    expect(runToIdle(engine).order).toEqual(['a', 'c']);
    expect(engine.abort(b, 0)).toBe(false);
  });

  it('frees the blocks of an aborted running sequence', () => {
    const engine = new Engine(small);
    const seq = submitOk(engine, 40, 10, null);
    engine.step(0);
    expect(engine.usedBlocks).toBe(11);
    engine.abort(seq, 5);
    expect(engine.usedBlocks).toBe(0);
    expect(engine.numRunning).toBe(0);
    expect(engine.hasWork()).toBe(false);
  });

  it('keeps time-weighted means and maxima', () => {
    const engine = new Engine({ ...small, stepPerSeqMs: 0, maxNumSeqs: 2 });
    for (let i = 0; i < 4; i++) submitOk(engine, 4, 5, i);
    const { now } = runToIdle(engine); // 2 seqs for 5 steps, then 2 more for 5 steps: 100 ms
    expect(now).toBe(100);
    engine.settle(now); // what EngineLoop does when it goes idle; then 100 ms idle
    const s = engine.levelStats(200);
    expect(s.maxRunning).toBe(2);
    expect(s.maxWaiting).toBe(4);
    expect(s.meanRunning).toBeCloseTo(1, 5); // 2 for half the time
    expect(s.meanWaiting).toBeCloseTo((2 * 50) / 200, 5);
    engine.resetLevelStats(200);
    expect(engine.levelStats(300)).toEqual({ maxRunning: 0, maxWaiting: 0, meanRunning: 0, meanWaiting: 0 });
  });

  it('keeps waiting sequences when switching the scheduling policy', () => {
    const engine = new Engine<string>({ ...small, maxNumSeqs: 1 });
    submitOk(engine, 4, 2, 'a', 3);
    submitOk(engine, 4, 2, 'b', 2);
    submitOk(engine, 4, 2, 'c', 1);
    engine.setConfig({ priorityScheduling: true });
    expect(engine.numWaiting).toBe(3);
    expect(runToIdle(engine).order).toEqual(['c', 'b', 'a']);
  });

  it('rejects invalid configuration', () => {
    expect(() => new Engine({ blockSize: 0 })).toThrow(RangeError);
    expect(() => new Engine({ stepBaseMs: -1 })).toThrow(RangeError);
  });
});

/**
 * A closed loop in virtual time: `concurrency` clients, each sending its next request as soon as
 * the previous one is answered (what a batch worker with an in-flight limit does).
 */
function closedLoop(
  cfg: Partial<EngineConfig>,
  concurrency: number,
  prompt = 64,
  output = 64,
  durationMs = 60_000,
) {
  const engine = new Engine(cfg);
  for (let i = 0; i < concurrency; i++) submitOk(engine, prompt, output, null);
  let now = 0;
  let completed = 0;
  while (now < durationMs) {
    const r = engine.step(now);
    now += r.durationMs || 1;
    completed += r.finished.length;
    for (let i = 0; i < r.finished.length; i++)
      engine.submit({ promptTokens: prompt, outputTokens: output }, null, now);
  }
  const levels = engine.levelStats(now);
  return { throughput: (completed / now) * 1000, preemptions: engine.counters.preemptions, ...levels };
}

describe('Engine: behaviour under load (virtual time)', () => {
  // 256 blocks × 16 = 4096 tokens; a request peaks at 128 tokens = 8 blocks: the KV knee is ~32-40.
  const gpu: Partial<EngineConfig> = {
    blockSize: 16,
    numGpuBlocks: 256,
    maxNumSeqs: 256,
    stepBaseMs: 10,
    stepPerSeqMs: 0.05,
  };

  it('throughput grows with concurrency, then saturates at the KV knee', () => {
    const t = [4, 16, 64, 128, 256].map((c) => closedLoop(gpu, c).throughput);
    expect(t[1]).toBeGreaterThan(t[0] * 3);
    expect(t[2]).toBeGreaterThan(t[1] * 1.5);
    // past the knee more in-flight requests buy (almost) nothing
    expect(t[3]).toBeLessThan(t[2] * 1.1);
    expect(t[4]).toBeLessThan(t[2] * 1.1);
  });

  it('past the knee the waiting queue grows and decode causes preemptions', () => {
    const below = closedLoop(gpu, 16);
    expect(below.meanWaiting).toBeLessThan(0.5);
    expect(below.preemptions).toBe(0);
    const above = closedLoop(gpu, 128);
    expect(above.meanWaiting).toBeGreaterThan(60);
    expect(above.maxRunning).toBeLessThan(64); // bounded by the cache, not by maxNumSeqs
    expect(above.preemptions).toBeGreaterThan(0);
  });

  it('halving numGpuBlocks roughly halves the knee', () => {
    const full = closedLoop(gpu, 200);
    const half = closedLoop({ ...gpu, numGpuBlocks: 128 }, 200);
    const ratio = half.meanRunning / full.meanRunning;
    expect(ratio).toBeGreaterThan(0.4);
    expect(ratio).toBeLessThan(0.6);
    expect(half.throughput / full.throughput).toBeLessThan(0.65);
  });

  it('maxNumSeqs caps the batch when the cache is large', () => {
    const r = closedLoop({ ...gpu, numGpuBlocks: 100_000, maxNumSeqs: 32 }, 100);
    expect(r.maxRunning).toBe(32);
    expect(r.preemptions).toBe(0);
  });
});
