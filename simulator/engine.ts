/**
 * Scheduling model of a vLLM engine: continuous batching over a bounded, paged KV cache.
 *
 * `Engine` is pure: it never reads a clock or sets a timer. The caller passes `now` (ms, any
 * monotonic origin) and calls `step()`; each call is one forward pass of the model. That makes
 * the scheduling rules testable in virtual time (see engine.spec.ts).
 *
 * `EngineLoop` (engine-loop.ts) drives an `Engine` in wall-clock time with timers and hands
 * finished sequences back to the HTTP layer at the end of the step that finished them.
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
 *   `stepBaseMs + stepPerSeqMs × batchSize + stepPerPrefillTokenMs × tokens prefilled` (prompts
 *   admitted in the step, and what readmitted preempted sequences recompute). A sequence is finished when it has produced its
 *   `outputTokens`. A pooling (embedding) sequence has `outputTokens = 0`: it needs one step
 *   for its prefill and produces nothing.
 */
import { DEFAULT_ENGINE_CONFIG, type EngineConfig, validateEngineConfig } from './engine-config';
import { type EngineLevelStats, LevelTracker } from './level-stats';
import { Sequence, type SequenceInput } from './sequence';
import { waitingQueue, type WaitingQueue } from './waiting-queue';

export { DEFAULT_ENGINE_CONFIG, type EngineConfig } from './engine-config';
export { EngineLoop, type EngineLoopHandlers, type LoopClock } from './engine-loop';
export type { EngineLevelStats } from './level-stats';
export { Sequence, type SequenceInput, type SequenceState } from './sequence';

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

export class Engine<T = unknown> {
  private config: EngineConfig;
  /** Running sequences in admission order (oldest first). */
  private running: Sequence<T>[] = [];
  private waiting: WaitingQueue<T>;
  private usedBlocksCount = 0;
  private nextId = 1;
  private nextArrival = 1;
  private nextAdmit = 1;
  private readonly levels: LevelTracker;

  readonly counters: EngineCounters = { preemptions: 0, promptTokens: 0, generationTokens: 0, steps: 0 };

  constructor(config: Partial<EngineConfig> = {}, now = 0) {
    this.config = { ...DEFAULT_ENGINE_CONFIG, ...config };
    validateEngineConfig(this.config);
    this.waiting = waitingQueue<T>(this.config.priorityScheduling);
    this.levels = new LevelTracker(now);
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
      this.waiting = waitingQueue<T>(next.priorityScheduling);
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
    this.levels.advance(now);
    this.waiting.push(seq);
    this.noteLevels();
    return { ok: true, seq };
  }

  /** Remove a sequence (client went away). Returns false when it had already ended. */
  abort(seq: Sequence<T>, now: number): boolean {
    if (seq.state !== 'waiting' && seq.state !== 'running') return false;
    this.levels.advance(now);
    if (seq.state === 'waiting') {
      this.waiting.removed();
    } else {
      const i = this.running.indexOf(seq);
      if (i >= 0) this.running.splice(i, 1);
      this.release(seq);
    }
    seq.state = 'aborted';
    this.noteLevels();
    return true;
  }

  /** Run one model step starting at `now`. */
  step(now: number): StepResult<T> {
    this.levels.advance(now);
    const cfg = this.config;
    const preempted = this.reserveNextTokens();
    const failed: Sequence<T>[] = [];
    // Admit only when this step did not have to preempt (the cache is full).
    const { admitted, prefilled } = preempted === 0 ? this.admit(failed) : { admitted: 0, prefilled: 0 };
    const batchSize = this.running.length;
    const finished = batchSize > 0 ? this.forwardPass() : [];
    // The batch occupies the GPU for the whole step: record that level from `now` on.
    this.noteLevels(batchSize);
    const durationMs =
      batchSize > 0
        ? cfg.stepBaseMs + cfg.stepPerSeqMs * batchSize + cfg.stepPerPrefillTokenMs * prefilled
        : 0;
    return { durationMs, batchSize, admitted, preempted, finished, failed };
  }

  /** Close the current level segment at `now` and start one at the current levels. */
  settle(now: number): void {
    this.levels.advance(now);
    this.noteLevels();
  }

  levelStats(now: number): EngineLevelStats {
    return this.levels.stats(now);
  }

  resetLevelStats(now: number): void {
    this.levels.reset(now, this.running.length, this.waiting.size);
  }

  /** Remove every sequence (server shutdown); returns them so the caller can answer them. */
  drainAll(now: number): Sequence<T>[] {
    this.levels.advance(now);
    const all = [...this.running, ...this.waiting.drain()];
    for (const seq of this.running) this.release(seq);
    this.running = [];
    for (const seq of all) seq.state = 'aborted';
    this.noteLevels();
    return all;
  }

  /** Phase 1: every running sequence reserves the slot for its next token, oldest first. */
  private reserveNextTokens(): number {
    let preempted = 0;
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
    return preempted;
  }

  /**
   * Phase 2: admit from the head of the waiting queue; `failed` gets those that never fit. Returns
   * the count and the tokens prefilled (a readmitted sequence recomputes its generated tokens too).
   */
  private admit(failed: Sequence<T>[]): { admitted: number; prefilled: number } {
    const cfg = this.config;
    let admitted = 0;
    let prefilled = 0;
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
      prefilled += seq.promptTokens + seq.generated;
      admitted++;
    }
    return { admitted, prefilled };
  }

  /** Phase 3: every running sequence produces one token; returns those that are done. */
  private forwardPass(): Sequence<T>[] {
    let generated = 0;
    let anyFinished = false;
    for (const seq of this.running) {
      if (seq.generated < seq.outputTokens) {
        seq.generated++;
        generated++;
      }
      if (seq.done) anyFinished = true;
    }
    this.counters.generationTokens += generated;
    this.counters.steps++;
    const finished: Sequence<T>[] = [];
    if (anyFinished) {
      const still: Sequence<T>[] = [];
      for (const seq of this.running) {
        if (seq.done) {
          this.release(seq);
          seq.state = 'finished';
          finished.push(seq);
        } else {
          still.push(seq);
        }
      }
      this.running = still;
    }
    return finished;
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

  private noteLevels(running = this.running.length): void {
    this.levels.set(running, this.waiting.size);
  }
}
