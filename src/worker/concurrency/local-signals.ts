import type { DispatchFeedback } from '../upstream/dispatch-feedback';
import type { LineShape } from '../dispatch/line-shape';
import type { DispatchOutcomes } from './control-law';
import type { WorkerReport } from './coordinator';

/** Per-tick decay of the line-size sums (the estimate follows the lines being read). */
const LINE_DECAY = 0.5;

/**
 * What this worker process observes, for its heartbeat: dispatch outcomes (cumulative, so a lost
 * heartbeat loses no events) and the decayed sizes of the lines read recently.
 */
export class LocalSignals implements DispatchFeedback {
  private readonly outcomes: DispatchOutcomes = {
    ok: 0,
    latencyMsSum: 0,
    promptTokens: 0,
    completionTokens: 0,
    overloaded: 0,
    timeouts: 0,
  };
  private lines = { n: 0, prompt: 0, max: 0 };
  private seq = 0;

  answered(ms: number, promptTokens: number, completionTokens: number): void {
    const o = this.outcomes;
    o.ok++;
    o.latencyMsSum += ms;
    o.promptTokens += promptTokens;
    o.completionTokens += completionTokens;
  }

  overloaded(): void {
    this.outcomes.overloaded++;
  }

  timedOut(): void {
    this.outcomes.timeouts++;
  }

  noteLine(shape: LineShape): void {
    this.lines.n++;
    this.lines.prompt += shape.promptTokens;
    this.lines.max += shape.maxTokens;
  }

  /** This tick's report; the line sums decay after each one. */
  report(id: string, now: Pick<WorkerReport, 'inflight' | 'queued' | 'pending' | 'batches'>): WorkerReport {
    const l = this.lines;
    this.lines = { n: l.n * LINE_DECAY, prompt: l.prompt * LINE_DECAY, max: l.max * LINE_DECAY };
    return {
      id,
      seq: ++this.seq,
      ...now,
      ...this.outcomes,
      lineN: l.n,
      linePrompt: l.prompt,
      lineMax: l.max,
    };
  }
}
