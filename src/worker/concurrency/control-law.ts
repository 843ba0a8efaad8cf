import type { VllmSample } from './vllm-metrics';

/**
 * Why the in-flight limit last changed. A bounded set: these are metric label values.
 */
export const LIMIT_REASONS = [
  'initial',
  'estimate',
  'kv_headroom',
  'probe',
  'waiting_queue',
  'preemptions',
  'upstream_overloaded',
  'timeouts',
  'interactive_traffic',
  'latency',
  'idle',
  'fixed',
] as const;
export type LimitReason = (typeof LIMIT_REASONS)[number];

/** Dispatch outcomes, counted over some span (cumulative in a report, per tick for the law). */
export interface DispatchOutcomes {
  /** Successful answers, the sum of their latencies and of their usage. */
  ok: number;
  latencyMsSum: number;
  promptTokens: number;
  completionTokens: number;
  /** 429 and 503 answers (vLLM or a proxy in front of it is overloaded). */
  overloaded: number;
  /** Requests that got no answer within the request timeout. */
  timeouts: number;
}

/**
 * What the law sees once per tick (about once a second). Counts are global over every worker;
 * the outcomes are those since the previous tick.
 */
export interface LawSignals extends DispatchOutcomes {
  /** The latest scrape of vLLM's /metrics; null when it is unreachable (or not vLLM's). */
  vllm: VllmSample | null;
  /** Our requests in flight now. */
  inflight: number;
  /** Our lines waiting for an in-flight slot now (demand beyond the limit). */
  queued: number;
  /** Our lines read ahead of dispatch (work about to arrive). */
  pending: number;
  /** Mean prompt tokens (estimated from its text) and max_tokens of the lines being dispatched. */
  lines: { promptTokens: number; maxTokens: number } | null;
}

export interface LawDecision {
  limit: number;
  previous: number;
  changed: boolean;
  reason: LimitReason;
  /** Human-readable signals behind the decision, for the log. */
  detail: string;
}

/**
 * The constants of the control law. Ticks are about one second; every fraction is of the current
 * limit L unless said otherwise; R and W are vLLM's running and waiting gauges.
 */
export interface LawConstants {
  /** Limit before anything is known (no KV capacity, no request size). */
  initialLimit: number;
  /** The estimate fills this fraction of the KV capacity with requests of prompt + max_tokens. */
  estimateFill: number;
  /** Ticks without growth after the estimate, for its KV usage to show. */
  estimateSettleTicks: number;
  /** Below this KV usage the limit grows in proportion to the headroom. */
  kvTarget: number;
  /** Share of the estimated headroom (in requests) added per tick. */
  growthGain: number;
  /** Largest growth per tick, as a fraction of L; slowStartGrowth while vLLM holds none of our requests. */
  maxGrowth: number;
  slowStartGrowth: number;
  /** Our requests waiting inside vLLM that the law aims for: max(1, waitingTarget × R) on average. */
  waitingTarget: number;
  /** Shrink when the smoothed waiting queue exceeds max(waitingHighMin, waitingHigh × R)... */
  waitingHigh: number;
  waitingHighMin: number;
  /** ...by this share of the excess over the target. */
  waitingGain: number;
  /** Preemptions per answered request (over the last ticks) tolerated without a cut. */
  preemptionBudget: number;
  /** Beyond the budget: L -= max(1, round(L × min(preemptionCut, ¼ × preemption rate))). */
  preemptionCut: number;
  /** Multiplicative decrease on 429/503 answers and on timeouts. */
  overloadBeta: number;
  /** Multiplicative decrease while requests that are not ours wait in vLLM's queue. */
  interactiveBeta: number;
  /** Requests in vLLM beyond ours that are tolerated before calling them foreign: max(min, frac × ours). */
  foreignSlackMin: number;
  foreignSlack: number;
  /** Ticks without growth after a decrease caused by preemptions, overload, timeouts or foreign traffic. */
  cooldownTicks: number;
  /** Ticks a level that caused preemptions caps growth (probes may still test it). */
  ceilingTicks: number;
  /** A probe taken back doubles the wait before the next one, up to this many ticks. */
  maxProbeCooldownTicks: number;
  /** Ticks with nothing in flight and nothing queued before the limit returns to its fresh state. */
  idleTicks: number;
  /** Latency fallback (no /metrics): shrink above latencyHigh × baseline, grow below latencyLow × baseline. */
  latencyHigh: number;
  latencyLow: number;
  latencyBeta: number;
  /** The latency baseline (a running minimum) drifts up by this fraction per tick to follow workload changes. */
  baselineDrift: number;
}

export const DEFAULT_LAW_CONSTANTS: LawConstants = {
  initialLimit: 32,
  estimateFill: 1.0,
  estimateSettleTicks: 2,
  kvTarget: 0.95,
  growthGain: 0.75,
  maxGrowth: 0.5,
  slowStartGrowth: 1.0,
  waitingTarget: 0.06,
  waitingHigh: 0.1,
  waitingHighMin: 1,
  waitingGain: 0.5,
  preemptionBudget: 0.005,
  preemptionCut: 0.25,
  overloadBeta: 0.7,
  interactiveBeta: 0.8,
  foreignSlackMin: 2,
  foreignSlack: 0.05,
  cooldownTicks: 10,
  ceilingTicks: 30,
  maxProbeCooldownTicks: 80,
  idleTicks: 5,
  latencyHigh: 1.5,
  latencyLow: 1.2,
  latencyBeta: 0.9,
  baselineDrift: 0.02,
};

/** Ticks of vLLM holding none of our requests before the law concludes the backend is near-instant. */
const HELD_WINDOW = 3;
/** Ticks over which the preemption rate is measured against the budget. */
const PREEMPTION_WINDOW = 10;
/**
 * A preemption cut is this share of the preemption rate (× L): preemptions rise steeply with each
 * request past the cache's edge, so a rate of 20 % means a few requests too many, not a fifth.
 */
const PREEMPTION_CUT_SHARE = 0.25;
/** Answers (decayed count) needed before their measured usage replaces the estimate from the lines. */
const MIN_OBSERVED = 8;
/**
 * The measured usage is a mean over about this many recent answers (decayed per answer, not per
 * tick: a slow workload, a few answers a second, still collects enough of them to be measured, and
 * a change of workload shows within this many answers).
 */
const OBSERVED_ANSWERS = 64;
/** Largest step the measured fit takes per tick (× L): the first answers are the shortest ones. */
const FIT_STEP = 3;

/** Prompt and completion tokens per request. */
interface Footprint {
  prompt: number;
  completion: number;
}

/** One tick's inputs to the rules that read vLLM's gauges. */
interface MetricsTick {
  s: LawSignals;
  v: VllmSample;
  L: number;
  preempted: number;
  used: boolean;
  capacity: number | null;
  footprint: Footprint | null;
  decide: (next: number, reason: LimitReason, detail: string) => LawDecision;
  hold: (detail: string) => LawDecision;
  /** vLLM's gauges and our in-flight count, for the log. */
  state: string;
  /** Our requests in vLLM (see oursInFlight). */
  ours: number;
  /** The waiting queue the law aims for: max(1, waitingTarget × R). */
  target: number;
}

function describeState(v: VllmSample, inflight: number): string {
  const kvText = v.kvUsage === null ? 'n/a' : `${Math.round(v.kvUsage * 1000) / 10}%`;
  return `kv ${kvText}, running ${v.running}, waiting ${v.waiting}, ours ${inflight}`;
}

/** Our requests in flight; while lines queue for slots, the limit (the count may lag a raise). */
function oursInFlight(s: LawSignals, L: number): number {
  return s.queued > 0 ? Math.max(s.inflight, L) : s.inflight;
}

/** Requests waiting in vLLM that are not ours, beyond the tolerated slack. */
function foreignWaiting(v: VllmSample, ours: number, c: LawConstants): number {
  const foreign =
    v.running + v.waiting - ours - Math.max(c.foreignSlackMin, Math.ceil(c.foreignSlack * ours));
  return Math.min(v.waiting, foreign);
}

/**
 * How many more requests of the current footprint fit below `kvTarget`: KV usage projected with
 * the decode still ahead of the running requests and ours on the wire, over each one's share.
 */
function kvRoom(
  kv: number,
  v: VllmSample,
  ours: number,
  capacity: number | null,
  footprint: Footprint | null,
  kvTarget: number,
): number {
  const R = v.running;
  const growth = capacity && footprint ? footprint.completion / 2 / capacity : 0;
  const perRequest = (R > 0 ? kv / R : 0) + growth;
  const projected = kv + R * growth + Math.max(0, ours - R - v.waiting) * perRequest;
  return perRequest > 0 ? (kvTarget - projected) / perRequest : Infinity;
}

/**
 * The pure control law of the adaptive in-flight limit: no clock, no I/O, one call per tick.
 *
 * The goal is the knee of vLLM's throughput curve: enough requests in flight that the KV cache is
 * full and the running batch never starves, not so many that they queue inside vLLM (where they
 * cannot be cancelled or overtaken by interactive traffic) or outgrow the cache (preemption).
 * Between an answer leaving vLLM and the next line arriving, a slot sits idle for at least one
 * engine step; a small queue of our own requests inside vLLM (about waitingTarget × R) covers that.
 *
 * A request's KV footprint at the end of its life is prompt + completion tokens: measured from the
 * usage of the last ~OBSERVED_ANSWERS answers, estimated from the lines (prompt bytes / 4 +
 * max_tokens) before any. Users often set max_tokens far above what answers use, so the estimate
 * is only a start: the measured footprint raises it as soon as MIN_OBSERVED answers are back
 * (at most tripling per tick, since the first answers back are the short ones), and from there the
 * KV gauge, the waiting queue and preemptions decide.
 * Per tick, the first rule that applies wins (L = limit; R, W, kv = vLLM's running and waiting
 * gauges and KV usage; W̄ = W smoothed over ticks):
 *  1. Idle (nothing in flight, queued or read ahead for `idleTicks`): back to the fresh state,
 *     keeping the mean answer length learnt so far.
 *  2. Fresh and work arrives: L = estimateFill × KV capacity / footprint, the number of worst-case
 *     requests the cache holds at once (without cache_config_info: the initial limit); the
 *     footprint's answer part is the learnt mean answer length when below max_tokens.
 *  3. 429/503 answers or timeouts: L ×= overloadBeta (multiplicative decrease), then cooldown.
 *  With /metrics:
 *  4. Requests that are not ours wait (R + W exceeds our in-flight count by more than the slack,
 *     and W > 0): L ×= interactiveBeta, then cooldown: interactive clients of the vLLM go first.
 *  5. Preemptions beyond the budget (over PREEMPTION_WINDOW ticks, more than
 *     preemptionBudget × answered + 1, counting only preemptions since the last preemption cut), or
 *     a queue: W̄ and the last two samples of W all above max(waitingHighMin, waitingHigh × R)
 *     (one sample can catch arrivals between two engine steps). Right after a probe, the probe is
 *     taken back and the next one waits twice as long (up to maxProbeCooldownTicks); otherwise
 *     L −= max(⌈waitingGain × (W₂ − target)⌉, round(L × min(preemptionCut, ¼ × rate))), at least
 *     1, with W₂ the smaller of the two samples. Past the cache's edge preemptions rise steeply with
 *     every request added, so a high rate means a few requests too many: the cut is a quarter of
 *     it. A preemption cut is not repeated on the next tick (it still shows the level before),
 *     starts a cooldown and caps growth below that level for `ceilingTicks` (probes then add one
 *     request at a time). Preemptions within the budget only stop growth for that tick.
 *  6. Growth, only when the limit is used (lines queued for a slot, or in flight ≥ 90 % of L),
 *     outside cooldown and while max(W̄, W) ≤ target = max(1, waitingTarget × R):
 *     - vLLM held none of our requests for HELD_WINDOW ticks (a near-instant backend): slow start,
 *       L ×= 1 + slowStartGrowth;
 *     - the measured footprint says more fit than L (capacity / footprint > L): grow to that, at
 *       most FIT_STEP × L per tick (a fit of measured requests at the end of their lives);
 *     - KV headroom: projected = kv + R × completion / 2 / capacity (decode still ahead) + ours on
 *       the wire; room = (kvTarget − projected) / per-request footprint; room ≥ 1 → L += growthGain × room
 *       (not in the estimateSettleTicks after an estimate), at most maxGrowth × L;
 *     - the cache is full: while fewer than target − ½ wait and preemptions stay under half the
 *       budget, probe: L += round(target − W), at least 1.
 *  Without /metrics (fallback on latency and errors):
 *  7. Mean latency above latencyHigh × baseline: L ×= latencyBeta; below latencyLow × baseline and
 *     the limit is used: L += max(1, √L). The baseline is the lowest tick mean seen, drifting up.
 * The limit always stays within [min, max]; every decrease is at least 1.
 */
export class ConcurrencyLaw {
  private value: number;
  private fresh = true;
  /** Mean completion tokens per answer, learnt before the last idle spell (null: nothing learnt). */
  private learntCompletion: number | null = null;
  private cooldown = 0;
  /** Ticks left in which only measured answers may raise the estimate (no KV growth, no probe). */
  private settle = 0;
  private idleFor = 0;
  private lastPreemptions: number | null = null;
  private baseline: number | null = null;
  private reasonValue: LimitReason = 'initial';
  private ticksSinceCut = Infinity;
  /** Preemptions and answers of the last PREEMPTION_WINDOW ticks. */
  private readonly window: Array<{ preempted: number; ok: number }> = [];
  private waitingAvgValue: number | null = null;
  /** vLLM's waiting gauge at this tick and the one before. */
  private lastWaiting: number | null = null;
  private prevWaiting: number | null = null;
  /** vLLM's running + waiting over the last ticks. */
  private readonly held: number[] = [];
  /** The level before the probe in progress (null: not probing). */
  private probeFrom: number | null = null;
  /** Ticks in a row that saw requests in vLLM beyond ours (rule 4 acts on the second). */
  private foreignSightings = 0;
  private ticksSinceProbe = 0;
  private probeCooldown: number;
  /** A level that caused preemptions; growth stays below it for a while. */
  private ceiling: { level: number; ticks: number } | null = null;
  /** Decayed sums of the usage of recent answers. */
  private observed = { n: 0, prompt: 0, completion: 0 };

  constructor(
    private readonly min: number,
    private readonly max: number,
    private readonly c: LawConstants = DEFAULT_LAW_CONSTANTS,
  ) {
    this.value = this.clamp(c.initialLimit);
    this.probeCooldown = c.cooldownTicks;
  }

  get limit(): number {
    return this.value;
  }

  get reason(): LimitReason {
    return this.reasonValue;
  }

  /** True until work arrives after a start or an idle period. */
  get isFresh(): boolean {
    return this.fresh;
  }

  /** Continue from a limit published by a previous leader instead of starting over. */
  restore(limit: number, fresh: boolean): void {
    this.value = this.clamp(limit);
    this.fresh = fresh;
  }

  tick(s: LawSignals): LawDecision {
    const L = this.value;
    const decide = (next: number, reason: LimitReason, detail: string): LawDecision => {
      let limit = this.clamp(next);
      if (limit < L) {
        limit = Math.min(limit, Math.max(this.min, L - 1));
        this.ticksSinceCut = 0;
      }
      if (limit !== L) this.reasonValue = reason;
      this.value = limit;
      return { limit, previous: L, changed: limit !== L, reason, detail };
    };
    const hold = (detail: string): LawDecision => ({
      limit: L,
      previous: L,
      changed: false,
      reason: this.reasonValue,
      detail,
    });

    const preempted = this.preemptionsSince(s.vllm);
    this.window.push({ preempted, ok: s.ok });
    if (this.window.length > PREEMPTION_WINDOW) this.window.shift();
    this.prevWaiting = this.lastWaiting;
    this.lastWaiting = s.vllm ? s.vllm.waiting : null;
    if (s.vllm)
      this.waitingAvgValue =
        this.waitingAvgValue === null ? s.vllm.waiting : this.waitingAvgValue * 0.7 + s.vllm.waiting * 0.3;
    this.held.push(s.vllm ? s.vllm.running + s.vllm.waiting : 0);
    if (this.held.length > HELD_WINDOW) this.held.shift();
    this.observe(s);
    if (this.cooldown > 0) this.cooldown--;
    if (this.settle > 0) this.settle--;
    if (this.ceiling && --this.ceiling.ticks <= 0) this.ceiling = null;
    this.ticksSinceCut++;
    this.ticksSinceProbe++;

    // 1. Idle.
    if (s.inflight + s.queued + s.pending === 0) {
      if (++this.idleFor >= this.c.idleTicks && !this.fresh) {
        this.reset();
        return decide(this.c.initialLimit, 'idle', 'no work in flight');
      }
      return hold('idle');
    }
    this.idleFor = 0;

    // 2. Fresh start: the estimate from KV capacity and request size.
    const capacity = s.vllm?.kvCapacityTokens ?? null;
    const footprint = this.footprint(s);
    if (this.fresh) {
      this.fresh = false;
      if (capacity && footprint) {
        const tokens = footprint.prompt + footprint.completion;
        // The estimate fits worst-case requests: give it time to show its KV usage before probing.
        this.settle = this.c.estimateSettleTicks;
        return decide(
          (this.c.estimateFill * capacity) / tokens,
          'estimate',
          `KV capacity ${capacity} tokens / ${Math.round(tokens)} tokens per request`,
        );
      }
    }

    // 3. Errors that mean "too much": 429/503 and timeouts.
    if (s.overloaded > 0 || s.timeouts > 0) {
      this.cooldown = this.c.cooldownTicks;
      this.probeFrom = null;
      return decide(
        Math.floor(L * this.c.overloadBeta),
        s.overloaded > 0 ? 'upstream_overloaded' : 'timeouts',
        `${s.overloaded} answers 429/503, ${s.timeouts} timeouts`,
      );
    }

    const used = s.queued > 0 || s.inflight >= 0.9 * L;
    if (s.vllm) return this.withMetrics(s, s.vllm, L, preempted, used, capacity, footprint, decide, hold);
    return this.onLatency(s, L, used, decide, hold);
  }

  /** Rules 4 to 6, when vLLM's gauges are known: the first step that decides wins. */
  private withMetrics(
    s: LawSignals,
    v: VllmSample,
    L: number,
    preempted: number,
    used: boolean,
    capacity: number | null,
    footprint: Footprint | null,
    decide: (next: number, reason: LimitReason, detail: string) => LawDecision,
    hold: (detail: string) => LawDecision,
  ): LawDecision {
    const R = v.running;
    const t: MetricsTick = {
      s,
      v,
      L,
      preempted,
      used,
      capacity,
      footprint,
      decide,
      hold,
      state: describeState(v, s.inflight),
      ours: oursInFlight(s, L),
      target: Math.max(1, this.c.waitingTarget * R),
    };
    return this.yieldToForeign(t) ?? this.backOff(t) ?? this.grow(t);
  }

  /**
   * 4. Requests that are not ours wait in vLLM: yield. While our lines queue for slots, our
   * in-flight count is the limit (the reported count may lag a tick behind a raise).
   */
  private yieldToForeign(t: MetricsTick): LawDecision | null {
    const c = this.c;
    const waiting = foreignWaiting(t.v, t.ours, c);
    if (waiting < 1) {
      this.foreignSightings = 0;
      return null;
    }
    // Workers report their in-flight count before the leader scrapes vLLM. On the tick a batch
    // starts (our count still far below the limit) the lines sent in between show in vLLM as someone
    // else's: then only a second tick that sees them too makes it yield.
    const starting = t.s.inflight < 0.5 * t.L;
    if (starting && ++this.foreignSightings < 2)
      return t.hold(`${t.state}: ~${waiting} waiting requests may be ours, sent since our count`);
    this.cooldown = Math.ceil(c.cooldownTicks / 2);
    this.probeFrom = null;
    return t.decide(
      Math.floor(t.L * c.interactiveBeta),
      'interactive_traffic',
      `${t.state}: ~${waiting} waiting requests are not ours`,
    );
  }

  /**
   * 5. Preemptions beyond the budget, or our own requests waiting beyond the band: take a probe
   * back, or cut. Preemptions within the budget hold the limit for this tick.
   */
  private backOff(t: MetricsTick): LawDecision | null {
    const c = this.c;
    const { L, preempted, state } = t;
    const W = t.v.waiting;
    const high = Math.max(c.waitingHighMin, c.waitingHigh * t.v.running);
    const rate = this.preemptionRate;
    // One preemption more than the budget allows: a lone one among few answers is not a trend.
    const overBudget = preempted > 0 && this.windowPreempted > c.preemptionBudget * this.windowAnswers + 1;
    // A queue is real when two samples in a row show it: one sample can catch the requests that
    // arrived between two engine steps, or the first burst of a batch, waiting for admission.
    const wLow = Math.min(W, this.prevWaiting ?? W);
    const queueing = this.waitingAvg > high && wLow > high;
    if (overBudget || queueing) {
      const what = overBudget
        ? `${preempted} preemptions (${Math.round(rate * 1000) / 10}% of answers lately)`
        : `waiting above ${Math.floor(high)}`;
      const reason: LimitReason = overBudget ? 'preemptions' : 'waiting_queue';
      if (this.probeFrom !== null && this.probeFrom < L) {
        const back = this.probeFrom;
        this.probeFrom = null;
        this.cooldown = this.probeCooldown;
        this.probeCooldown = Math.min(this.probeCooldown * 2, c.maxProbeCooldownTicks);
        return t.decide(back, reason, `${state}: ${what} after a probe`);
      }
      this.probeFrom = null;
      // The excess in flight is exactly what waits.
      const waitingCut = queueing ? Math.ceil(c.waitingGain * (wLow - t.target)) : 0;
      let preemptionCut = 0;
      if (overBudget) {
        this.cooldown = Math.max(this.cooldown, c.cooldownTicks);
        this.ceiling = { level: L, ticks: c.ceilingTicks };
        if (this.ticksSinceCut > 1)
          preemptionCut = Math.max(1, Math.round(L * Math.min(c.preemptionCut, rate * PREEMPTION_CUT_SHARE)));
        // These preemptions are answered by this cut: the next one needs new ones (still measured
        // against every answer of the window, so that a few right after the cut are no burst).
        for (const w of this.window) w.preempted = 0;
      }
      if (waitingCut === 0 && preemptionCut === 0) return t.hold(`${state}: ${what} (settling after a cut)`);
      return t.decide(
        L - Math.max(waitingCut, preemptionCut),
        waitingCut > preemptionCut ? 'waiting_queue' : 'preemptions',
        `${state}: ${what}`,
      );
    }
    if (preempted > 0) return t.hold(`${state}: ${preempted} preemptions, within the budget`);
    // A probe that survived two ticks is the new level.
    if (this.probeFrom !== null && this.ticksSinceProbe >= 2) {
      this.probeFrom = null;
      this.probeCooldown = c.cooldownTicks;
    }
    return null;
  }

  /** 6. Grow while the KV cache has room and (almost) nothing waits. */
  private grow(t: MetricsTick): LawDecision {
    const c = this.c;
    const { L, state, hold, decide, target } = t;
    const R = t.v.running;
    const W = t.v.waiting;
    if (!t.used) return hold(`${state}: limit not used`);
    if (this.cooldown > 0) return hold(`${state}: cooling down`);
    // Growth looks at the larger of the smoothed and the current queue (the smoothed one lags).
    const wNow = Math.max(this.waitingAvg, W);
    if (wNow > target) return hold(`${state}: at the knee`);
    if (this.recentHeld === 0) {
      // For several ticks vLLM held none of our requests: it answers faster than we send them.
      // Nothing to measure the cache by: slow start.
      return decide(L + Math.ceil(c.slowStartGrowth * L), 'kv_headroom', `${state}: slow start`);
    }
    // Most of ours are between vLLM and us (a wave of answers just ended): the sample is transient.
    if (R + W < 0.5 * t.ours) return hold(`${state}: requests in transit`);
    const kv = t.v.kvUsage;
    if (kv === null)
      return decide(
        this.capGrowth(L, L + Math.max(1, Math.round(0.1 * L))),
        'probe',
        `${state}: no KV gauge`,
      );
    return this.growToMeasuredFit(t) ?? this.growIntoHeadroom(t, kv) ?? this.probe(t, wNow);
  }

  /** What the answers say fits (the estimate, corrected by the measured usage), taken in one step. */
  private growToMeasuredFit(t: MetricsTick): LawDecision | null {
    const { capacity, footprint } = t;
    if (!capacity || !footprint || this.observed.n < MIN_OBSERVED) return null;
    const tokens = footprint.prompt + footprint.completion;
    const model = Math.floor((this.c.estimateFill * capacity) / tokens);
    // A worst-case fit of measured requests: safe to take in one step (only a ceiling caps it).
    // Taken in steps of at most FIT_STEP × L: the answers that come back first are the short ones,
    // so the early mean understates the footprint.
    const fit = Math.min(model, FIT_STEP * t.L, this.ceiling ? this.ceiling.level - 1 : Infinity);
    if (fit <= t.L) return null;
    // The level moved on from any probe in progress: preemptions now are not the probe's to take back.
    this.probeFrom = null;
    return t.decide(fit, 'estimate', `${t.state}: answers use ~${Math.round(tokens)} tokens each`);
  }

  /**
   * KV headroom, counting the decode still ahead of the running requests (on average half of the
   * completion) and ours on the wire (they come back as new requests).
   */
  private growIntoHeadroom(t: MetricsTick, kv: number): LawDecision | null {
    const { L } = t;
    const room = kvRoom(kv, t.v, t.ours, t.capacity, t.footprint, this.c.kvTarget);
    if (!(room >= 1 && this.capGrowth(L, L + 1) > L && this.settle === 0)) return null;
    const step = Math.max(1, Math.round(this.c.growthGain * room));
    this.probeFrom = null;
    return t.decide(
      this.capGrowth(L, L + step),
      'kv_headroom',
      `${t.state}: room for ~${Math.round(room)} more`,
    );
  }

  /**
   * The cache is full. Requests between vLLM and us (an answer on its way back, the next line on
   * its way out) leave a slot idle for a step; a small queue of ours inside vLLM covers that.
   * Probe for it while fewer than `target` wait on average and preemptions stay well in budget.
   */
  private probe(t: MetricsTick, wNow: number): LawDecision {
    const { L, target } = t;
    if (wNow >= target - 0.5 || this.preemptionRate > this.c.preemptionBudget / 2) {
      return t.hold(`${t.state}: at the knee`);
    }
    if (this.probeFrom === null) {
      this.probeFrom = L;
      this.ticksSinceProbe = 0;
    }
    // Near a level that caused preemptions, one request at a time: past the cache's edge decode
    // growth preempts steeply more with every request added, and shows only seconds later.
    const step = this.ceiling ? 1 : Math.max(1, Math.round(target - wNow));
    return t.decide(
      L + step,
      'probe',
      `${t.state}: ~${Math.round(this.waitingAvg * 10) / 10} waiting on average, aiming at ${Math.round(target * 10) / 10}`,
    );
  }

  /** Growth per tick is at most maxGrowth × L, and stays below a level that caused preemptions. */
  private capGrowth(L: number, n: number): number {
    return Math.min(n, L + Math.ceil(this.c.maxGrowth * L), this.ceiling ? this.ceiling.level - 1 : Infinity);
  }

  private onLatency(
    s: LawSignals,
    L: number,
    used: boolean,
    decide: (next: number, reason: LimitReason, detail: string) => LawDecision,
    hold: (detail: string) => LawDecision,
  ): LawDecision {
    if (s.ok === 0) return hold('no /metrics and no answers');
    const mean = s.latencyMsSum / s.ok;
    this.baseline =
      this.baseline === null ? mean : Math.min(this.baseline * (1 + this.c.baselineDrift), mean);
    const ratio = mean / this.baseline;
    const state = `no /metrics; latency ${Math.round(mean)} ms, ${Math.round(ratio * 100) / 100}× baseline`;
    if (ratio > this.c.latencyHigh) return decide(Math.floor(L * this.c.latencyBeta), 'latency', state);
    if (ratio < this.c.latencyLow && used && this.cooldown === 0)
      return decide(L + Math.max(1, Math.round(Math.sqrt(L))), 'latency', state);
    return hold(state);
  }

  /** Prompt and completion tokens per request: measured from answers, else estimated from the lines. */
  private footprint(s: LawSignals): Footprint | null {
    const o = this.observed;
    // Answers without usage (0 tokens) say nothing about the footprint.
    if (o.n >= MIN_OBSERVED && o.prompt + o.completion >= o.n)
      return { prompt: o.prompt / o.n, completion: o.completion / o.n };
    if (s.lines && s.lines.promptTokens + s.lines.maxTokens > 0) {
      // The lines' own prompts; their answers as long as this replica's answers were before an
      // idle spell, when that is below max_tokens (users set it far above what answers use).
      const completion =
        this.learntCompletion === null
          ? s.lines.maxTokens
          : Math.min(s.lines.maxTokens, this.learntCompletion);
      return { prompt: s.lines.promptTokens, completion };
    }
    return null;
  }

  private observe(s: LawSignals): void {
    const o = this.observed;
    if (s.ok <= 0) {
      // No answers, nothing to decay: a quiet tick must not erase what slow answers taught.
      o.prompt += s.promptTokens;
      o.completion += s.completionTokens;
      return;
    }
    const keep = Math.exp(-s.ok / OBSERVED_ANSWERS);
    // Scaled so that this tick's answers weigh as a share of the window, however many they are.
    const w = (1 - keep) * (OBSERVED_ANSWERS / s.ok);
    o.n = o.n * keep + s.ok * w;
    o.prompt = o.prompt * keep + s.promptTokens * w;
    o.completion = o.completion * keep + s.completionTokens * w;
  }

  private reset(): void {
    const o = this.observed;
    // What answers used is kept across the idle spell (the next batch is most often more of the
    // same model's work): the next estimate needs no answers to stop assuming max_tokens.
    if (o.n >= MIN_OBSERVED && o.completion >= 0) this.learntCompletion = o.completion / o.n;
    this.fresh = true;
    this.cooldown = 0;
    this.settle = 0;
    this.ceiling = null;
    this.probeFrom = null;
    this.probeCooldown = this.c.cooldownTicks;
    this.observed = { n: 0, prompt: 0, completion: 0 };
    this.baseline = null;
    this.waitingAvgValue = null;
    this.lastWaiting = null;
    this.prevWaiting = null;
    this.window.length = 0;
  }

  /** vLLM's waiting queue, smoothed over ticks (EWMA, weight 0.3 for the newest). */
  private get waitingAvg(): number {
    return this.waitingAvgValue ?? 0;
  }

  /** Preemptions per answered request over the last ticks. */
  private get preemptionRate(): number {
    return this.windowPreempted / Math.max(1, this.windowAnswers);
  }

  private get windowPreempted(): number {
    return this.window.reduce((a, t) => a + t.preempted, 0);
  }

  private get windowAnswers(): number {
    return this.window.reduce((a, t) => a + t.ok, 0);
  }

  /** The most requests vLLM held in the recent ticks (0: it answers before we look). */
  private get recentHeld(): number {
    return this.held.length < HELD_WINDOW ? Infinity : Math.max(...this.held);
  }

  private preemptionsSince(v: VllmSample | null): number {
    const total = v?.preemptionsTotal;
    if (total === null || total === undefined) return 0;
    const last = this.lastPreemptions;
    this.lastPreemptions = total;
    if (last === null || total < last) return 0; // first sample, or vLLM restarted
    return total - last;
  }

  private clamp(n: number): number {
    return Math.max(this.min, Math.min(this.max, Math.floor(n)));
  }
}
