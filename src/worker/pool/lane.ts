/**
 * One place requests can go: a vLLM replica, with its own in-flight limit. The concurrency
 * controller sets `limit`; the limiter counts `active`.
 */
export interface Lane {
  readonly id: string;
  limit: number;
  active: number;
  /** Whether the lane takes new requests for `model` now (serves it, healthy, not draining). */
  accepts(model: string): boolean;
}
