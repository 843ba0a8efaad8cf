/**
 * The control law against the simulator's engine in virtual time: no HTTP, no clock, no noise.
 * A quick way to see how ConcurrencyLaw behaves on a workload (and to compare it with a sweep of
 * fixed concurrencies) before measuring the real service. Not a benchmark of the service.
 *
 *   node dist/bench/law-virtual.js          (env: the shape, see SHAPE below)
 */
import { ConcurrencyLaw, LawSignals } from '../src/worker/concurrency/control-law';
import { Engine } from '../simulator/engine';

export interface VirtualLine {
  prompt: number;
  output: number;
  maxTokens: number;
}

export interface VirtualRun {
  rate: number;
  meanRunning: number;
  meanWaiting: number;
  preemptions: number;
  limits: number[];
  log: string[];
}

interface Options {
  blocks: number;
  stepMs: number;
  /** One-way time between the service and vLLM, ms. */
  wireMs: number;
  prefillMs: number;
  /** Fixed concurrency, or null for the law. */
  fixed: number | null;
  verbose?: boolean;
}

/** Runs `lines` through an engine with either a fixed number in flight or the law's limit. */
export function runVirtual(lines: VirtualLine[], o: Options): VirtualRun {
  const engine = new Engine<number>({
    numGpuBlocks: o.blocks,
    stepBaseMs: o.stepMs,
    stepPerPrefillTokenMs: o.prefillMs,
  });
  const law = new ConcurrencyLaw(1, 2048);
  let limit = o.fixed ?? law.limit;
  let next = 0;
  let inflight = 0;
  let done = 0;
  let now = 0;
  let nextTick = 0;
  let stepAt = 0;
  /** Arrivals at vLLM and answers back at the service, by time. */
  const arrivals: Array<{ at: number; i: number }> = [];
  const answers: Array<{ at: number; i: number }> = [];
  const outcome = { ok: 0, promptTokens: 0, completionTokens: 0 };
  const limits: number[] = [];
  const log: string[] = [];
  const promptMean = lines.reduce((a, l) => a + l.prompt, 0) / lines.length;
  const maxMean = lines.reduce((a, l) => a + l.maxTokens, 0) / lines.length;
  const send = (): void => {
    while (inflight < limit && next < lines.length) {
      arrivals.push({ at: now + o.wireMs, i: next++ });
      inflight++;
    }
  };
  let runningSum = 0;
  let waitingSum = 0;
  let stepsTime = 0;
  while (done < lines.length) {
    // The next event: a tick, an arrival, an answer or an engine step.
    const t = Math.min(
      nextTick,
      arrivals.length ? arrivals[0].at : Infinity,
      answers.length ? answers[0].at : Infinity,
      engine.hasWork() || stepAt > now ? stepAt : Infinity,
    );
    now = Math.max(now, t);
    while (arrivals.length && arrivals[0].at <= now) {
      const { i } = arrivals.shift() as { i: number };
      const l = lines[i];
      engine.submit({ promptTokens: l.prompt, outputTokens: Math.min(l.output, l.maxTokens) }, i, now);
    }
    while (answers.length && answers[0].at <= now) {
      const { i } = answers.shift() as { i: number };
      inflight--;
      done++;
      outcome.ok++;
      outcome.promptTokens += lines[i].prompt;
      outcome.completionTokens += Math.min(lines[i].output, lines[i].maxTokens);
    }
    if (now >= stepAt && engine.hasWork()) {
      const r = engine.step(now);
      runningSum += engine.numRunning * r.durationMs;
      waitingSum += engine.numWaiting * r.durationMs;
      stepsTime += r.durationMs;
      stepAt = now + r.durationMs;
      for (const s of r.finished) answers.push({ at: stepAt + o.wireMs, i: s.data });
      answers.sort((a, b) => a.at - b.at);
    } else if (now >= stepAt) stepAt = now;
    if (now >= nextTick) {
      nextTick = now + 1000;
      if (o.fixed === null) {
        const s: LawSignals = {
          vllm: {
            kvUsage: engine.kvCacheUsage,
            waiting: engine.numWaiting,
            running: engine.numRunning,
            preemptionsTotal: engine.counters.preemptions,
            kvCapacityTokens: engine.kvCapacityTokens,
          },
          inflight,
          queued: next < lines.length && inflight >= limit ? lines.length - next : 0,
          pending: lines.length - next,
          lines: { promptTokens: promptMean, maxTokens: maxMean },
          ok: outcome.ok,
          latencyMsSum: 0,
          promptTokens: outcome.promptTokens,
          completionTokens: outcome.completionTokens,
          overloaded: 0,
          timeouts: 0,
        };
        const d = law.tick(s);
        if (o.verbose && d.changed)
          log.push(`${Math.round(now / 1000)}s ${d.previous}→${d.limit} ${d.reason}: ${d.detail}`);
        limit = d.limit;
      }
      limits.push(limit);
      outcome.ok = outcome.promptTokens = outcome.completionTokens = 0;
    }
    send();
  }
  return {
    rate: lines.length / (now / 1000),
    meanRunning: runningSum / Math.max(1, stepsTime),
    meanWaiting: waitingSum / Math.max(1, stepsTime),
    preemptions: engine.counters.preemptions,
    limits,
    log,
  };
}

/** Deterministic pseudo-random in [0, 1) from an integer. */
function unit(i: number, salt: number): number {
  let h = (i * 2654435761 + salt * 40503) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d) >>> 0;
  h ^= h >>> 12;
  return (h >>> 0) / 2 ** 32;
}

export function shape(
  n: number,
  prompt: [number, number],
  output: [number, number],
  maxTokens: number,
): VirtualLine[] {
  return Array.from({ length: n }, (_, i) => ({
    prompt: Math.round(prompt[0] + unit(i, 1) * (prompt[1] - prompt[0])),
    output: Math.round(output[0] + unit(i, 2) * (output[1] - output[0])),
    maxTokens,
  }));
}

function main(): void {
  const env = process.env;
  const n = Number(env.N ?? 3000);
  const lines = shape(
    n,
    [Number(env.P0 ?? 100), Number(env.P1 ?? 1000)],
    [Number(env.O0 ?? 20), Number(env.O1 ?? 400)],
    Number(env.MAXT ?? 4096),
  );
  const base = {
    blocks: Number(env.BLOCKS ?? 4096),
    stepMs: Number(env.STEP ?? 20),
    wireMs: Number(env.WIRE ?? 2),
    prefillMs: Number(env.PREFILL ?? 0),
  };
  const law = runVirtual(lines, { ...base, fixed: null, verbose: true });
  const fmt = (r: VirtualRun): string =>
    `${r.rate.toFixed(2)} req/s, running ${r.meanRunning.toFixed(1)}, waiting ${r.meanWaiting.toFixed(1)} (${((100 * r.meanWaiting) / r.meanRunning).toFixed(1)} %), preemptions ${r.preemptions}`;
  const sweep = (env.SWEEP ?? '20,40,60,80,100,120,160,240,400').split(',').map(Number);
  let best = 0;
  for (const c of sweep) {
    const r = runVirtual(lines, { ...base, fixed: c });
    best = Math.max(best, r.rate);
    console.log(`fixed ${c}: ${fmt(r)}`);
  }
  console.log(`law: ${fmt(law)} → ${(law.rate / best).toFixed(3)} of best`);
  console.log(`limits: ${law.limits.join(' ')}`);
  if (env.VERBOSE) console.log(law.log.join('\n'));
}

if (require.main === module) main();
