import { Engine, EngineLoop, type EngineConfig } from './engine';

const small: Partial<EngineConfig> = { blockSize: 4, numGpuBlocks: 64, maxNumSeqs: 8 };

/** A loop on `engine` that collects the finished sequences' data; `done` resolves once `isLast` holds. */
function collectingLoop<T>(engine: Engine<T>, isLast: (finished: T[]) => boolean) {
  const finished: T[] = [];
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  const loop = new EngineLoop<T>(engine, {
    onFinished: (seq) => {
      finished.push(seq.data);
      if (isLast(finished)) resolveDone();
    },
    onFailed: () => undefined,
  });
  return { loop, finished, done };
}

describe('EngineLoop (wall clock)', () => {
  it('runs steps with timers, delivers finished sequences, and idles without a timer', async () => {
    const engine = new Engine<number>({ ...small, stepBaseMs: 2, stepPerSeqMs: 0 });
    const { loop, finished, done: all } = collectingLoop(engine, (f) => f.length === 10);
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) loop.submit({ promptTokens: 4, outputTokens: 5 }, i);
    await all;
    const elapsed = performance.now() - t0;
    // 8 run in the first wave (maxNumSeqs 8), 2 in the second: 10 steps of 2 ms at the least
    expect(elapsed).toBeGreaterThanOrEqual(9);
    expect(elapsed).toBeLessThan(1000);
    expect(finished.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await new Promise((r) => setTimeout(r, 10));
    expect(loop.idle).toBe(true);
    loop.close();
  });

  it('drops an aborted sequence', async () => {
    const engine = new Engine<string>({ ...small, stepBaseMs: 1, stepPerSeqMs: 0, maxNumSeqs: 1 });
    const { loop, finished, done: second } = collectingLoop(engine, (f) => f.at(-1) === 'c');
    loop.submit({ promptTokens: 1, outputTokens: 3 }, 'a');
    const b = loop.submit({ promptTokens: 1, outputTokens: 3 }, 'b');
    loop.submit({ promptTokens: 1, outputTokens: 3 }, 'c');
    if (!b.ok) throw new Error('refused');
    loop.abort(b.seq);
    await second;
    expect(finished).toEqual(['a', 'c']);
    loop.close();
  });
});
