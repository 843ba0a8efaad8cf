import { Engine } from '../../../simulator/engine';
import { ConcurrencyLaw, DEFAULT_LAW_CONSTANTS, LawSignals } from './control-law';
import type { VllmSample } from './vllm-metrics';

const CAPACITY = 1024 * 16;

function vllm(p: Partial<VllmSample> = {}): VllmSample {
  return { kvUsage: 0.5, waiting: 0, running: 10, preemptionsTotal: 0, kvCapacityTokens: CAPACITY, ...p };
}

function signals(p: Partial<LawSignals> = {}): LawSignals {
  return {
    vllm: vllm(),
    inflight: 10,
    queued: 1,
    pending: 100,
    ok: 50,
    latencyMsSum: 50 * 400,
    promptTokens: 50 * 480,
    completionTokens: 50 * 32,
    overloaded: 0,
    timeouts: 0,
    lines: { promptTokens: 480, maxTokens: 32 },
    ...p,
  };
}

/** A law past its fresh start, at limit `at` (the estimate is skipped by giving no capacity). */
function lawAt(at: number, min = 1, max = 512): ConcurrencyLaw {
  const law = new ConcurrencyLaw(min, max);
  law.tick(signals({ vllm: null, ok: 0 }));
  law.restore(at, false);
  return law;
}

/** A sample where vLLM holds exactly our `L` requests, `kv` full. */
const busy = (L: number, kv: number, p: Partial<VllmSample> = {}): Partial<LawSignals> => ({
  inflight: L,
  queued: 1,
  vllm: vllm({ running: L, waiting: 0, kvUsage: kv, ...p }),
});

describe('ConcurrencyLaw', () => {
  it('starts from KV capacity ÷ (prompt + max_tokens) of the lines being dispatched', () => {
    const law = new ConcurrencyLaw(1, 512);
    expect(law.limit).toBe(DEFAULT_LAW_CONSTANTS.initialLimit);
    const d = law.tick(
      signals({
        inflight: 0,
        queued: 0,
        pending: 512,
        ok: 0,
        vllm: vllm({ kvCapacityTokens: 2048 * 16, running: 0, kvUsage: 0 }),
      }),
    );
    expect(d).toMatchObject({ limit: 64, changed: true, reason: 'estimate' });
    expect(d.detail).toContain('32768');
  });

  it('grows while the KV cache has room and nothing waits, in proportion to the room', () => {
    const law = lawAt(20);
    // 20 requests use 40 % of the cache: room for ~27 more below the 95 % target.
    const d = law.tick(signals({ ...busy(20, 0.4), lines: null }));
    expect(d.reason).toBe('kv_headroom');
    expect(d.limit).toBeGreaterThan(25);
    expect(d.limit).toBeLessThanOrEqual(30); // at most +50 % per tick
    const next = law.tick(signals({ ...busy(d.limit, 0.6), lines: null }));
    expect(next.limit).toBeGreaterThan(d.limit);
  });

  it('counts the decode still ahead when sizing the room (no overshoot into preemption)', () => {
    // 64-token prompts, 64-token answers on 512 blocks: 64 requests at the end of their lives fill
    // the cache; in flight at all ages they hold ~80 % of it. The rest is their decode still ahead.
    const law = lawAt(64);
    const d = law.tick(
      signals({
        ...busy(64, 0.8, { kvCapacityTokens: 512 * 16 }),
        promptTokens: 50 * 64,
        completionTokens: 50 * 64,
        lines: { promptTokens: 64, maxTokens: 64 },
      }),
    );
    // No KV-headroom growth; at most the small probe for a queue of ~6 % of the running batch.
    expect(d.reason).not.toBe('kv_headroom');
    expect(d.limit).toBeLessThanOrEqual(64 + 4);
  });

  it('slow-starts against a backend that answers before it is ever seen busy', () => {
    const law = lawAt(32);
    const instant = signals({ inflight: 32, queued: 1, vllm: vllm({ running: 0, waiting: 0, kvUsage: 0 }) });
    const limits = [1, 2, 3, 4].map(() => law.tick(instant).limit);
    expect(limits[0]).toBe(32); // not before HELD_WINDOW ticks of evidence
    expect(limits[3]).toBeGreaterThanOrEqual(128);
  });

  it('does not grow a limit that is not used', () => {
    const law = lawAt(40);
    const d = law.tick(signals({ inflight: 10, queued: 0, vllm: vllm({ running: 10, kvUsage: 0.2 }) }));
    expect(d.changed).toBe(false);
    expect(d.detail).toContain('not used');
  });

  it('shrinks when its own requests queue in vLLM, by half the excess', () => {
    const law = lawAt(100);
    const d = law.tick(
      signals({ inflight: 100, queued: 1, vllm: vllm({ running: 40, waiting: 60, kvUsage: 1 }) }),
    );
    expect(d.reason).toBe('waiting_queue');
    // target = max(1, 6 % of 40) = 2.4 → cut ⌈0.5 × (60 − 2.4)⌉ = 29
    expect(d.limit).toBe(71);
  });

  it('holds a small queue of its own requests inside vLLM (covers the answer → next request gap)', () => {
    const law = lawAt(34);
    // The cache is full, nothing waits: one step per request is lost to the round trip.
    const d = law.tick(signals(busy(34, 0.99)));
    expect(d).toMatchObject({ reason: 'probe', changed: true });
    expect(d.limit).toBeGreaterThan(34);
    // With ~target requests waiting, it stops there.
    const at = law.tick(
      signals({ inflight: d.limit, queued: 1, vllm: vllm({ running: 34, waiting: 3, kvUsage: 0.99 }) }),
    );
    expect(at.changed).toBe(false);
  });

  it('takes a probe back when it causes preemptions, and waits longer before the next', () => {
    const law = lawAt(32);
    const up = law.tick(signals(busy(32, 0.99)));
    expect(up.reason).toBe('probe');
    const back = law.tick(signals({ ...busy(up.limit, 1, { preemptionsTotal: 5 }), ok: 80 }));
    // First tick with a counter sets the baseline; the next one sees the increase.
    const back2 = back.changed
      ? back
      : law.tick(signals({ ...busy(up.limit, 1, { preemptionsTotal: 10 }), ok: 80 }));
    expect(back2).toMatchObject({ limit: 32, reason: 'preemptions' });
    // Cooling down: no probe on the next ticks even though the cache looks fine.
    for (let i = 0; i < 5; i++)
      expect(law.tick(signals(busy(32, 0.99, { preemptionsTotal: 10 }))).limit).toBe(32);
  });

  it('cuts on preemptions beyond the budget, and tolerates them within it', () => {
    const law = lawAt(64);
    // About the target queue waits (no probing); the first counter value is the baseline.
    law.tick(signals(busy(64, 1, { preemptionsTotal: 100, waiting: 4 })));
    // 1 preemption against 1000 answers: 0.1 %, within the 0.5 % budget.
    const ok = law.tick(signals({ ...busy(64, 1, { preemptionsTotal: 101, waiting: 4 }), ok: 1000 }));
    expect(ok.changed).toBe(false);
    // 40 more against 100 answers: far over the budget.
    const cut = law.tick(signals({ ...busy(64, 1, { preemptionsTotal: 141, waiting: 4 }), ok: 100 }));
    expect(cut).toMatchObject({ reason: 'preemptions', changed: true });
    expect(cut.limit).toBeLessThan(64);
    // A vLLM restart (counter back to 0) is not a burst of preemptions.
    const restart = lawAt(64);
    restart.tick(signals(busy(64, 1, { preemptionsTotal: 500 })));
    expect(restart.tick(signals(busy(64, 1, { preemptionsTotal: 0, waiting: 1 }))).reason).not.toBe(
      'preemptions',
    );
  });

  it('backs off multiplicatively on 429/503 answers and on timeouts, then cools down', () => {
    const law = lawAt(100);
    expect(law.tick(signals({ ...busy(100, 0.5), overloaded: 3 }))).toMatchObject({
      limit: 70,
      reason: 'upstream_overloaded',
    });
    expect(law.tick(signals({ ...busy(70, 0.5), timeouts: 1 }))).toMatchObject({
      limit: 49,
      reason: 'timeouts',
    });
    // No growth during the cooldown, although the KV cache is half empty.
    expect(law.tick(signals(busy(49, 0.5))).changed).toBe(false);
  });

  it('yields when requests that are not its own wait in vLLM (interactive traffic)', () => {
    const law = lawAt(40);
    // We have 40 in flight; vLLM holds 40 running + 10 waiting: ~8 of those are someone else's.
    const foreign = signals({
      inflight: 40,
      queued: 1,
      vllm: vllm({ running: 40, waiting: 10, kvUsage: 1 }),
    });
    // A batch in full flow: it yields at once.
    expect(law.tick(foreign)).toMatchObject({ limit: 32, reason: 'interactive_traffic' });
    // Our own queue of the same size is not mistaken for foreign traffic.
    const own = lawAt(50);
    expect(
      own.tick(signals({ inflight: 50, queued: 1, vllm: vllm({ running: 40, waiting: 10, kvUsage: 1 }) }))
        .reason,
    ).toBe('waiting_queue');
  });

  it('does not take its own requests for foreign ones on the tick a batch starts', () => {
    // The reported in-flight count was read before the batch sent its first lines; the scrape
    // after it sees them all waiting in vLLM. Next tick the counts agree: no cut happened.
    const law = lawAt(34);
    expect(law.tick(signals({ inflight: 0, queued: 0, vllm: vllm({ running: 1, waiting: 33 }) })).limit).toBe(
      34,
    );
    const next = law.tick(
      signals({ inflight: 34, queued: 1, vllm: vllm({ running: 34, waiting: 0, kvUsage: 0.99 }) }),
    );
    expect(next.limit).toBeGreaterThanOrEqual(34);
    expect(next.reason).not.toBe('interactive_traffic');
  });

  it('stays within its bounds', () => {
    const low = lawAt(2, 2, 8);
    expect(low.tick(signals({ ...busy(2, 1), overloaded: 5 })).limit).toBe(2);
    const high = lawAt(8, 2, 8);
    expect(high.tick(signals(busy(8, 0.1))).limit).toBe(8);
    const est = new ConcurrencyLaw(4, 16);
    expect(est.tick(signals({ inflight: 0, queued: 0, pending: 10 })).limit).toBe(16);
  });

  it('falls back to latency and errors without /metrics', () => {
    const law = lawAt(20);
    const tick = (ms: number, p: Partial<LawSignals> = {}) =>
      law.tick(signals({ vllm: null, inflight: law.limit, queued: 1, ok: 40, latencyMsSum: 40 * ms, ...p }));
    expect(tick(400).limit).toBeGreaterThan(20); // baseline, latency steady: grow
    const grown = tick(420).limit;
    expect(grown).toBeGreaterThan(24);
    // Latency doubles (requests queue upstream): shrink.
    expect(tick(900)).toMatchObject({ reason: 'latency' });
    expect(law.limit).toBeLessThan(grown);
    // Errors still count.
    expect(tick(400, { overloaded: 2 }).reason).toBe('upstream_overloaded');
  });

  it('returns to the fresh state after a while without work, and estimates again', () => {
    const law = lawAt(200);
    for (let i = 0; i < DEFAULT_LAW_CONSTANTS.idleTicks; i++)
      law.tick(signals({ inflight: 0, queued: 0, pending: 0, ok: 0 }));
    expect(law.limit).toBe(DEFAULT_LAW_CONSTANTS.initialLimit);
    expect(law.isFresh).toBe(true);
    const d = law.tick(
      signals({ inflight: 0, queued: 0, pending: 5, ok: 0, lines: { promptTokens: 1000, maxTokens: 24 } }),
    );
    expect(d).toMatchObject({ limit: 16, reason: 'estimate' });
  });

  it('keeps the answer length it learnt across an idle spell: the next batch is not estimated from max_tokens', () => {
    const law = new ConcurrencyLaw(1, 512);
    // Lines asking for up to 4,096 tokens, answered with 50.
    const lines = { promptTokens: 500, maxTokens: 4096 };
    const quiet = { inflight: 0, queued: 0, ok: 0, promptTokens: 0, completionTokens: 0, lines };
    const fromMaxTokens = Math.floor((DEFAULT_LAW_CONSTANTS.estimateFill * CAPACITY) / 4596);
    expect(law.tick(signals({ ...quiet, pending: 5 })).limit).toBe(fromMaxTokens);
    law.tick(signals({ ok: 60, promptTokens: 60 * 500, completionTokens: 60 * 50, lines }));
    for (let i = 0; i < DEFAULT_LAW_CONSTANTS.idleTicks; i++) law.tick(signals({ ...quiet, pending: 0 }));
    expect(law.isFresh).toBe(true);
    // The next batch: 16,384 tokens / (500 + 50), not / (500 + 4,096).
    expect(law.tick(signals({ ...quiet, pending: 5 }))).toMatchObject({
      limit: Math.floor((DEFAULT_LAW_CONSTANTS.estimateFill * CAPACITY) / 550),
      reason: 'estimate',
    });
  });

  it('raises a low estimate once answers show smaller requests (max_tokens never reached)', () => {
    const law = new ConcurrencyLaw(1, 512);
    // Lines ask for up to 128 tokens: 16384 / 608 → 26.
    expect(
      law.tick(
        signals({
          inflight: 0,
          queued: 0,
          pending: 512,
          ok: 0,
          promptTokens: 0,
          completionTokens: 0,
          lines: { promptTokens: 480, maxTokens: 128 },
        }),
      ).limit,
    ).toBe(26);
    // Answers use 480 + 32 tokens: 32 fit.
    const d = law.tick(
      signals({
        ...busy(26, 0.8),
        ok: 60,
        promptTokens: 60 * 480,
        completionTokens: 60 * 32,
        lines: { promptTokens: 480, maxTokens: 128 },
      }),
    );
    expect(d).toMatchObject({ limit: 32, reason: 'estimate' });
  });
});

/**
 * The law against the simulator's engine in virtual time: a closed loop that keeps `limit`
 * requests in flight (an answer's slot is refilled 2 ms later), the law ticking every second on
 * the engine's gauges. Checks that it finds the knee by itself at several KV capacities.
 */
function closedLoop(blocks: number, prompt: number, output: number, maxTokens: number, n = 3000) {
  const engine = new Engine<null>({ numGpuBlocks: blocks }, 0);
  const law = new ConcurrencyLaw(1, 512);
  let now = 0;
  let sent = 0;
  let done = 0;
  let inflight = 0;
  let okSince = 0;
  let nextTick = 0;
  let last = 0;
  const arrivals: number[] = [];
  const limits: number[] = [];
  const pump = (): void => {
    while (inflight < law.limit && sent < n) {
      inflight++;
      sent++;
      arrivals.push(now + 2);
    }
  };
  while (done < n) {
    if (now >= nextTick) {
      law.tick({
        vllm: {
          kvUsage: engine.kvCacheUsage,
          waiting: engine.numWaiting,
          running: engine.numRunning,
          preemptionsTotal: engine.counters.preemptions,
          kvCapacityTokens: blocks * 16,
        },
        inflight,
        queued: sent < n ? 1 : 0,
        pending: 0,
        ok: okSince,
        latencyMsSum: 0,
        promptTokens: okSince * prompt,
        completionTokens: okSince * output,
        overloaded: 0,
        timeouts: 0,
        lines: { promptTokens: prompt, maxTokens },
      });
      okSince = 0;
      nextTick += 1000;
      limits.push(law.limit);
      pump();
    }
    while (arrivals.length && arrivals[0] <= now) {
      arrivals.shift();
      engine.submit({ promptTokens: prompt, outputTokens: output }, null, now);
    }
    if (!engine.hasWork()) {
      now = Math.min(arrivals[0] ?? Infinity, nextTick);
      continue;
    }
    const r = engine.step(now);
    now += r.durationMs;
    for (let i = 0; i < r.finished.length; i++) {
      done++;
      inflight--;
      okSince++;
      last = now;
    }
    pump();
  }
  const levels = engine.levelStats(now);
  return { rate: n / (last / 1000), levels, preemptions: engine.counters.preemptions, limits };
}

describe('ConcurrencyLaw against the simulated engine (virtual time)', () => {
  it.each([512, 1024, 2048])('finds the knee of a KV-bound engine with %d blocks', (blocks) => {
    const knee = Math.floor((blocks * 16) / (464 + 16));
    const adaptive = closedLoop(blocks, 464, 16, 16);
    // Reference: a fixed concurrency far past the knee (flat throughput, a huge waiting queue).
    const flooded = (() => {
      const engine = new Engine<null>({ numGpuBlocks: blocks }, 0);
      let now = 0;
      let done = 0;
      let last = 0;
      for (let i = 0; i < 3000; i++) engine.submit({ promptTokens: 464, outputTokens: 16 }, null, 0);
      while (done < 3000) {
        const r = engine.step(now);
        now += r.durationMs;
        done += r.finished.length;
        if (r.finished.length) last = now;
      }
      return { rate: 3000 / (last / 1000), waiting: engine.levelStats(now).meanWaiting };
    })();
    expect(adaptive.rate / flooded.rate).toBeGreaterThan(0.95);
    expect(adaptive.levels.meanWaiting).toBeLessThan(0.1 * adaptive.levels.meanRunning);
    expect(adaptive.preemptions).toBeLessThanOrEqual(30);
    expect(flooded.waiting).toBeGreaterThan(10 * adaptive.levels.meanRunning);
    expect(Math.max(...adaptive.limits)).toBeLessThanOrEqual(knee + Math.ceil(0.12 * knee) + 1);
  });

  it('keeps preemptions within budget when decode growth overcommits the cache', () => {
    const r = closedLoop(1024, 480, 32, 32);
    expect(r.preemptions).toBeLessThanOrEqual(30); // ≤ 1 % of 3000
    expect(r.levels.meanWaiting).toBeLessThan(0.1 * r.levels.meanRunning);
  });
});
