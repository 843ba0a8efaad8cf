/** One engine sequence: a request's prompt and the tokens it generates, as the scheduler sees it. */

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

  /** Produced its last token (a pooling sequence: once admitted). */
  get done(): boolean {
    return this.generated >= this.outputTokens;
  }
}
