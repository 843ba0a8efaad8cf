/**
 * Scheduling model of a vLLM engine: continuous batching over a bounded, paged KV cache.
 *
 * `Engine` is pure: it never reads a clock or sets a timer. The caller passes `now` (ms, any
 * monotonic origin) and calls `step()`; each call is one forward pass of the model. That makes
 * the scheduling rules testable in virtual time (see engine.spec.ts).
 *
 * `EngineLoop` drives an `Engine` in wall-clock time with timers and hands finished sequences
 * back to the HTTP layer at the end of the step that finished them.
 *
 * The rules follow vLLM's v1 scheduler closely enough for the numbers that matter to a client
 * (throughput, queueing, preemption, KV usage):
 * - KV capacity is `numGpuBlocks` blocks of `blockSize` tokens; a sequence holding T tokens
 *   (prompt + generated so far) holds ceil(T / blockSize) blocks.
 * - Each step first reserves the slot for the next token of every running sequence, oldest
 *   first. When a block is missing, the newest running sequence (under priority scheduling: the
 *   one with the largest priority value, newest among equals) is preempted: its blocks are freed,
 *   its progress is kept, and it goes back to the FRONT of the waiting queue to be recomputed.
 * - Only when that caused no preemption are waiting sequences admitted, head of the queue first,
 *   while `running < maxNumSeqs` and the blocks for prompt + generated + 1 tokens are free. The
 *   head blocks the queue when it does not fit (no skipping ahead), as in vLLM.
 * - Admission does the prefill and produces the first token in the same step.
 * - Every running sequence produces one token per step; step time is
 *   `stepBaseMs + stepPerSeqMs × batchSize`. A sequence is finished when it has produced its
 *   `outputTokens`. A pooling (embedding) sequence has `outputTokens = 0`: it needs one step
 *   for its prefill and produces nothing.
 */

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
  priorityScheduling: false,
  maxWaiting: null,
};

export type SequenceState = 'waiting' | 'running' | 'finished' | 'aborted' | 'failed';

export interface SequenceInput {
  promptTokens: number;
  /** Tokens to generate; 0 for a pooling (embedding) request. */
  outputTokens: number;
  /** Lower runs first; only meaningful with priorityScheduling. */
  priority?: number;
}

export class Sequence<T = unknown> {
  state: SequenceState = 'waiting';
  /** Tokens generated so far (survives preemption: recompute restores them). */
  generated = 0;
  /** KV blocks held now (0 unless running). */
  blocks = 0;
  /** Order of the latest admission; the preemption victim is the newest. */
  admitOrder = 0;
  /** Number of times this sequence was preempted. */
  preemptions = 0;
  /** Whether the prompt was prefilled once (prompt tokens are counted only once). */
  prefilled = false;

  constructor(
    readonly id: number,
    /** Arrival order; ties priorities in the priority queue. */
    readonly arrival: number,
    readonly promptTokens: number,
    readonly outputTokens: number,
    readonly priority: number,
    /** Whatever the caller needs back when the sequence ends (e.g. the HTTP response). */
    readonly data: T,
  ) {}

  /** Tokens that must sit in the KV cache once this sequence is (re)admitted and has run a step. */
  tokensAfterAdmission(): number {
    return this.promptTokens + this.generated + (this.outputTokens > 0 ? 1 : 0);
  }
}

export type SubmitResult<T> =
  | { ok: true; seq: Sequence<T> }
  | { ok: false; reason: 'queue_full' | 'exceeds_kv_capacity'; message: string };

export interface StepResult<T> {
  /** How long this step takes on the simulated GPU. */
  durationMs: number;
  /** Sequences in the batch of this step. */
  batchSize: number;
  admitted: number;
  preempted: number;
  /** Sequences that produced their last token in this step. */
  finished: Sequence<T>[];
  /** Sequences that can never fit into the KV cache (only after a live shrink of the cache). */
  failed: Sequence<T>[];
}

/** Lifetime counters: they back Prometheus counters, so they never reset. */
export interface EngineCounters {
  preemptions: number;
  promptTokens: number;
  generationTokens: number;
  steps: number;
}

/** Time-weighted levels and maxima since the last reset. */
export interface EngineLevelStats {
  maxRunning: number;
  maxWaiting: number;
  meanRunning: number;
  meanWaiting: number;
}

// ---------------------------------------------------------------------------------------------
// Waiting queues. Aborted sequences are deleted lazily (skipped when they reach the head) so an
// abort is O(1) even with 100k requests waiting; `size` counts live entries only.

interface WaitingQueue<T> {
  readonly size: number;
  push(seq: Sequence<T>): void;
  /** Re-queue a preempted sequence ahead of new arrivals. */
  pushFront(seq: Sequence<T>): void;
  peek(): Sequence<T> | undefined;
  shift(): Sequence<T> | undefined;
  /** Mark removed (the caller has set seq.state away from 'waiting'). */
  removed(): void;
  drain(): Sequence<T>[];
}

/** FIFO deque: an array with a moving head, compacted now and then. */
class FifoQueue<T> implements WaitingQueue<T> {
  private items: Sequence<T>[] = [];
  private head = 0;
  size = 0;

  push(seq: Sequence<T>): void {
    this.items.push(seq);
    this.size++;
  }

  pushFront(seq: Sequence<T>): void {
    if (this.head > 0) this.items[--this.head] = seq;
    else this.items.unshift(seq);
    this.size++;
  }

  peek(): Sequence<T> | undefined {
    while (this.head < this.items.length) {
      const seq = this.items[this.head];
      if (seq.state === 'waiting') return seq;
      this.head++; // lazily dropped (aborted while waiting)
    }
    if (this.head > 0) {
      this.items = []; // everything before head is gone
      this.head = 0;
    }
    return undefined;
  }

  shift(): Sequence<T> | undefined {
    const seq = this.peek();
    if (seq) {
      this.head++;
      this.size--;
      if (this.head > 1024 && this.head * 2 > this.items.length) this.compact();
    }
    return seq;
  }

  removed(): void {
    this.size--;
  }

  drain(): Sequence<T>[] {
    const live = this.items.slice(this.head).filter((s) => s.state === 'waiting');
    this.items = [];
    this.head = 0;
    this.size = 0;
    return live;
  }

  private compact(): void {
    this.items = this.items.slice(this.head);
    this.head = 0;
  }
}

/**
 * Binary min-heap on (priority, arrival). A preempted sequence keeps its arrival number, so it
 * goes ahead of every later arrival of the same priority, as vLLM's priority queue does.
 */
class PriorityQueue<T> implements WaitingQueue<T> {
  private heap: Sequence<T>[] = [];
  size = 0;

  private static less<U>(a: Sequence<U>, b: Sequence<U>): boolean {
    return a.priority !== b.priority ? a.priority < b.priority : a.arrival < b.arrival;
  }

  push(seq: Sequence<T>): void {
    const heap = this.heap;
    heap.push(seq);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!PriorityQueue.less(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
    this.size++;
  }

  pushFront(seq: Sequence<T>): void {
    this.push(seq);
  }

  peek(): Sequence<T> | undefined {
    while (this.heap.length > 0 && this.heap[0].state !== 'waiting') this.popTop();
    return this.heap[0];
  }

  shift(): Sequence<T> | undefined {
    const seq = this.peek();
    if (seq) {
      this.popTop();
      this.size--;
    }
    return seq;
  }

  removed(): void {
    this.size--;
  }

  drain(): Sequence<T>[] {
    const live = this.heap.filter((s) => s.state === 'waiting');
    this.heap = [];
    this.size = 0;
    return live;
  }

  private popTop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && PriorityQueue.less(heap[l], heap[m])) m = l;
      if (r < heap.length && PriorityQueue.less(heap[r], heap[m])) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }
}

// ---------------------------------------------------------------------------------------------

export class Engine<T = unknown> {
  private config: EngineConfig;
  /** Running sequences in admission order (oldest first). */
  private running: Sequence<T>[] = [];
  private waiting: WaitingQueue<T>;
  private usedBlocksCount = 0;
  private nextId = 1;
  private nextArrival = 1;
  private nextAdmit = 1;

  readonly counters: EngineCounters = { preemptions: 0, promptTokens: 0, generationTokens: 0, steps: 0 };

  // Time-weighted level statistics (integrals of level × time since the last reset).
  private levelSince = 0;
  private levelAt = 0;
  private runningLevel = 0;
  private waitingLevel = 0;
  private runningIntegral = 0;
  private waitingIntegral = 0;
  private maxRunningSeen = 0;
  private maxWaitingSeen = 0;

  constructor(config: Partial<EngineConfig> = {}, now = 0) {
    this.config = { ...DEFAULT_ENGINE_CONFIG, ...config };
    validateEngineConfig(this.config);
    this.waiting = this.config.priorityScheduling ? new PriorityQueue<T>() : new FifoQueue<T>();
    this.levelSince = now;
    this.levelAt = now;
  }

  getConfig(): Readonly<EngineConfig> {
    return this.config;
  }

  /** Change the configuration live. A smaller cache shows up as preemptions on the next step. */
  setConfig(patch: Partial<EngineConfig>): void {
    const next = { ...this.config, ...patch };
    validateEngineConfig(next);
    const oldBlockSize = this.config.blockSize;
    const oldPriority = this.config.priorityScheduling;
    this.config = next;
    if (next.blockSize !== oldBlockSize) {
      // Re-derive every running sequence's block count under the new block size.
      this.usedBlocksCount = 0;
      for (const seq of this.running) {
        seq.blocks = this.blocksFor(seq.promptTokens + seq.generated);
        this.usedBlocksCount += seq.blocks;
      }
    }
    if (next.priorityScheduling !== oldPriority) {
      const live = this.waiting.drain();
      this.waiting = next.priorityScheduling ? new PriorityQueue<T>() : new FifoQueue<T>();
      for (const seq of live) this.waiting.push(seq);
    }
  }

  get numRunning(): number {
    return this.running.length;
  }

  get numWaiting(): number {
    return this.waiting.size;
  }

  get usedBlocks(): number {
    return this.usedBlocksCount;
  }

  get freeBlocks(): number {
    return this.config.numGpuBlocks - this.usedBlocksCount;
  }

  /** Fraction of KV blocks in use, 0..1 (what vLLM exports as kv_cache_usage_perc). */
  get kvCacheUsage(): number {
    return Math.min(1, this.usedBlocksCount / this.config.numGpuBlocks);
  }

  /** Total KV capacity in tokens. */
  get kvCapacityTokens(): number {
    return this.config.numGpuBlocks * this.config.blockSize;
  }

  hasWork(): boolean {
    return this.running.length > 0 || this.waiting.size > 0;
  }

  /** The waiting queue can take `n` more sequences. */
  canAccept(n = 1): boolean {
    return this.config.maxWaiting === null || this.waiting.size + n <= this.config.maxWaiting;
  }

  submit(input: SequenceInput, data: T, now: number): SubmitResult<T> {
    if (!this.canAccept()) {
      return {
        ok: false,
        reason: 'queue_full',
        message: `The waiting queue is full (${this.waiting.size} requests waiting, maxWaiting=${String(this.config.maxWaiting)}).`,
      };
    }
    const needed = input.promptTokens + input.outputTokens;
    if (this.blocksFor(needed) > this.config.numGpuBlocks) {
      // vLLM refuses to start when max_model_len does not fit the KV cache; the simulator lets the
      // options disagree, so it refuses the single request that could never run instead.
      return {
        ok: false,
        reason: 'exceeds_kv_capacity',
        message: `The request needs ${needed} tokens of KV cache but the cache holds only ${this.kvCapacityTokens} tokens (${this.config.numGpuBlocks} blocks of ${this.config.blockSize}).`,
      };
    }
    const seq = new Sequence<T>(
      this.nextId++,
      this.nextArrival++,
      Math.max(0, Math.floor(input.promptTokens)),
      Math.max(0, Math.floor(input.outputTokens)),
      input.priority ?? 0,
      data,
    );
    this.touch(now);
    this.waiting.push(seq);
    this.noteLevels();
    return { ok: true, seq };
  }

  /** Remove a sequence (client went away). Returns false when it had already ended. */
  abort(seq: Sequence<T>, now: number): boolean {
    if (seq.state === 'waiting') {
      this.touch(now);
      seq.state = 'aborted';
      this.waiting.removed();
      this.noteLevels();
      return true;
    }
    if (seq.state === 'running') {
      this.touch(now);
      const i = this.running.indexOf(seq);
      if (i >= 0) this.running.splice(i, 1);
      this.release(seq);
      seq.state = 'aborted';
      this.noteLevels();
      return true;
    }
    return false;
  }

  /** Run one model step starting at `now`. */
  step(now: number): StepResult<T> {
    this.touch(now);
    const cfg = this.config;
    let preempted = 0;

    // Phase 1: every running sequence reserves the slot for its next token, oldest first.
    let i = 0;
    while (i < this.running.length) {
      const seq = this.running[i];
      const need = this.blocksFor(seq.promptTokens + seq.generated + 1) - seq.blocks;
      let selfPreempted = false;
      while (need > this.freeBlocks) {
        const victimIndex = this.victimIndex();
        const victim = this.running[victimIndex];
        this.preempt(victimIndex);
        preempted++;
        if (victim === seq) {
          selfPreempted = true;
          break;
        }
        if (victimIndex < i) i--;
      }
      if (selfPreempted) continue; // running[i] is now the next sequence
      seq.blocks += need;
      this.usedBlocksCount += need;
      i++;
    }

    // Phase 2: admit from the waiting queue, unless this step had to preempt (the cache is full).
    let admitted = 0;
    const failed: Sequence<T>[] = [];
    if (preempted === 0) {
      while (this.running.length < cfg.maxNumSeqs) {
        const seq = this.waiting.peek();
        if (!seq) break;
        const blocks = this.blocksFor(seq.tokensAfterAdmission());
        if (blocks > cfg.numGpuBlocks) {
          // Can never fit (the cache was shrunk live): fail it rather than block the queue forever.
          this.waiting.shift();
          seq.state = 'failed';
          failed.push(seq);
          continue;
        }
        if (blocks > this.freeBlocks) break; // head-of-line: wait for blocks to free up
        this.waiting.shift();
        seq.state = 'running';
        seq.blocks = blocks;
        seq.admitOrder = this.nextAdmit++;
        this.usedBlocksCount += blocks;
        this.running.push(seq);
        if (!seq.prefilled) {
          seq.prefilled = true;
          this.counters.promptTokens += seq.promptTokens;
        }
        admitted++;
      }
    }

    // Phase 3: the forward pass. Every running sequence produces one token.
    const batchSize = this.running.length;
    const finished: Sequence<T>[] = [];
    if (batchSize > 0) {
      let generated = 0;
      let anyFinished = false;
      for (const seq of this.running) {
        if (seq.generated < seq.outputTokens) {
          seq.generated++;
          generated++;
        }
        if (seq.generated >= seq.outputTokens) anyFinished = true;
      }
      this.counters.generationTokens += generated;
      if (anyFinished) {
        const still: Sequence<T>[] = [];
        for (const seq of this.running) {
          if (seq.generated >= seq.outputTokens) {
            this.release(seq);
            seq.state = 'finished';
            finished.push(seq);
          } else {
            still.push(seq);
          }
        }
        this.running = still;
      }
      this.counters.steps++;
    }

    // The batch occupies the GPU for the whole step: record that level from `now` on.
    this.runningLevel = batchSize;
    this.waitingLevel = this.waiting.size;
    if (batchSize > this.maxRunningSeen) this.maxRunningSeen = batchSize;
    if (this.waitingLevel > this.maxWaitingSeen) this.maxWaitingSeen = this.waitingLevel;

    const durationMs = batchSize > 0 ? cfg.stepBaseMs + cfg.stepPerSeqMs * batchSize : 0;
    return { durationMs, batchSize, admitted, preempted, finished, failed };
  }

  /** Close the current level segment at `now` and start one at the current levels. */
  settle(now: number): void {
    this.touch(now);
    this.noteLevels();
  }

  levelStats(now: number): EngineLevelStats {
    this.touch(now);
    const span = this.levelAt - this.levelSince;
    return {
      maxRunning: this.maxRunningSeen,
      maxWaiting: this.maxWaitingSeen,
      meanRunning: span > 0 ? this.runningIntegral / span : this.runningLevel,
      meanWaiting: span > 0 ? this.waitingIntegral / span : this.waitingLevel,
    };
  }

  resetLevelStats(now: number): void {
    this.levelSince = now;
    this.levelAt = now;
    this.runningIntegral = 0;
    this.waitingIntegral = 0;
    this.maxRunningSeen = this.running.length;
    this.maxWaitingSeen = this.waiting.size;
  }

  /** Remove every sequence (server shutdown); returns them so the caller can answer them. */
  drainAll(now: number): Sequence<T>[] {
    this.touch(now);
    const all = [...this.running, ...this.waiting.drain()];
    for (const seq of this.running) this.release(seq);
    this.running = [];
    for (const seq of all) seq.state = 'aborted';
    this.noteLevels();
    return all;
  }

  private blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.config.blockSize);
  }

  private release(seq: Sequence<T>): void {
    this.usedBlocksCount -= seq.blocks;
    seq.blocks = 0;
  }

  /** FCFS: the newest admission. Priority: the largest priority value, newest among equals. */
  private victimIndex(): number {
    const running = this.running;
    let best = running.length - 1;
    if (this.config.priorityScheduling) {
      for (let k = running.length - 2; k >= 0; k--) {
        const a = running[k];
        const b = running[best];
        if (a.priority > b.priority || (a.priority === b.priority && a.admitOrder > b.admitOrder)) best = k;
      }
    }
    return best;
  }

  private preempt(index: number): void {
    const [seq] = this.running.splice(index, 1);
    this.release(seq);
    seq.state = 'waiting';
    seq.preemptions++;
    this.counters.preemptions++;
    this.waiting.pushFront(seq);
  }

  private touch(now: number): void {
    if (now > this.levelAt) {
      const dt = now - this.levelAt;
      this.runningIntegral += this.runningLevel * dt;
      this.waitingIntegral += this.waitingLevel * dt;
      this.levelAt = now;
    }
  }

  private noteLevels(): void {
    this.runningLevel = this.running.length;
    this.waitingLevel = this.waiting.size;
    if (this.runningLevel > this.maxRunningSeen) this.maxRunningSeen = this.runningLevel;
    if (this.waitingLevel > this.maxWaitingSeen) this.maxWaitingSeen = this.waitingLevel;
  }
}

function validateEngineConfig(cfg: EngineConfig): void {
  const positiveInt = (name: keyof EngineConfig): void => {
    const v = cfg[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new RangeError(`engine option ${name} must be a positive integer, got ${String(v)}`);
    }
  };
  positiveInt('blockSize');
  positiveInt('numGpuBlocks');
  positiveInt('maxNumSeqs');
  for (const name of ['stepBaseMs', 'stepPerSeqMs'] as const) {
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

// ---------------------------------------------------------------------------------------------

export interface LoopClock {
  /** Monotonic milliseconds. */
  now(): number;
}

export interface EngineLoopHandlers<T> {
  /** Called at the end of the step that produced the sequence's last token. */
  onFinished(seq: Sequence<T>): void;
  /** Called for a sequence that can never fit the KV cache. */
  onFailed(seq: Sequence<T>): void;
}

/**
 * Runs `engine.step()` back to back in wall-clock time while there is work, and idles (no timer
 * at all) when there is none. Steps are scheduled against an absolute timeline (`nextStepAt`),
 * so timer jitter does not add up, and when the event loop falls behind the missed steps are run
 * in a burst: the simulated GPU keeps working while Node is busy, like a real one.
 */
export class EngineLoop<T> {
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private nextStepAt = 0;
  /** Finished by the step in progress; delivered when that step's time is over. */
  private pending: Sequence<T>[] = [];
  private closed = false;

  constructor(
    readonly engine: Engine<T>,
    private readonly handlers: EngineLoopHandlers<T>,
    private readonly clock: LoopClock = performance,
    /** Most steps run in one timer callback before yielding to I/O. */
    private readonly maxBurst = 256,
  ) {}

  now(): number {
    return this.clock.now();
  }

  submit(input: SequenceInput, data: T): SubmitResult<T> {
    const result = this.engine.submit(input, data, this.clock.now());
    if (result.ok) this.kick();
    return result;
  }

  abort(seq: Sequence<T>): boolean {
    const removed = this.engine.abort(seq, this.clock.now());
    // Freed blocks may let a waiting sequence in; the loop is running anyway when something was.
    return removed;
  }

  /** Wake the loop (after a submit or a configuration change). */
  kick(): void {
    if (this.closed || this.timer !== null || this.immediate !== null) return;
    // setImmediate batches every request that arrived in the same I/O turn into one first step.
    this.immediate = setImmediate(this.run);
  }

  get idle(): boolean {
    return this.timer === null && this.immediate === null;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.pending = [];
  }

  private readonly run = (): void => {
    this.timer = null;
    this.immediate = null;
    if (this.closed) return;
    const now = this.clock.now();
    if (this.engine.numRunning === 0 && this.pending.length === 0 && this.nextStepAt < now) {
      // Coming back from idle: the GPU starts now, not at the end of the last busy period.
      this.nextStepAt = now;
    } else if (this.nextStepAt < now - 1000) {
      // The event loop stalled for over a second: don't replay all of it in one burst.
      this.nextStepAt = now - 1000;
    }

    let burst = 0;
    for (;;) {
      this.deliver();
      if (!this.engine.hasWork()) {
        this.engine.settle(this.nextStepAt);
        return; // idle: no timer until the next submit
      }
      const result = this.engine.step(this.nextStepAt);
      for (const seq of result.failed) this.handlers.onFailed(seq);
      this.pending = result.finished;
      // An empty batch with work left cannot normally happen (an empty GPU admits the head or
      // fails it); wait a millisecond instead of spinning if it ever does.
      this.nextStepAt += result.durationMs > 0 ? result.durationMs : 1;
      if (this.nextStepAt > now || ++burst >= this.maxBurst) break;
    }
    const delay = this.nextStepAt - now;
    if (delay < 1) this.immediate = setImmediate(this.run);
    else this.timer = setTimeout(this.run, delay);
  };

  private deliver(): void {
    if (this.pending.length === 0) return;
    const done = this.pending;
    this.pending = [];
    for (const seq of done) this.handlers.onFinished(seq);
  }
}
