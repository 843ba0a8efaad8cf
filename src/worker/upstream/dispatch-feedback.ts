/**
 * What the concurrency controller learns from dispatch to one replica: answers with their latency
 * and usage, overload answers (429/503) and timeouts. Called once per upstream attempt.
 */
export interface DispatchFeedback {
  answered(ms: number, promptTokens: number, completionTokens: number): void;
  overloaded(): void;
  timedOut(): void;
}

export const NO_FEEDBACK: DispatchFeedback = {
  answered: () => undefined,
  overloaded: () => undefined,
  timedOut: () => undefined,
};
