/**
 * Fault injection: the injected 500s, 429s and hangs (one PRNG draw per attempt), and outages
 * (the listening socket closed, or 503 on everything).
 */
import type * as http from 'node:http';
import { HttpError } from './vllm-request';

export type OutageMode = 'refuse' | '503';

export interface Faults {
  /** Fraction (0..1) of inference requests answered 500; drawn per attempt. */
  failRate: number;
  /** Fraction (0..1) of inference requests that never get an answer. */
  hangRate: number;
  /** Fraction (0..1) of inference requests answered 429. */
  status429Rate: number;
  /** Added before every response except the /sim control endpoints, ms. */
  extraLatencyMs: number;
  /** Length of an outage that starts when this is set; 0 ends an outage now. */
  outageMs: number;
  /** 'refuse': the listening socket is closed (ECONNREFUSED) and open connections are reset;
   *  '503': everything (also /health and /v1/models) answers 503. */
  outageMode: OutageMode;
}

export const NO_FAULTS: Faults = {
  failRate: 0,
  hangRate: 0,
  status429Rate: 0,
  extraLatencyMs: 0,
  outageMs: 0,
  outageMode: 'refuse',
};

/**
 * `current` with the patch's rates, latency and mode; 0, null or absent clears nothing but what is
 * named. `outageMs` is left to the caller (setting it starts an outage). Throws RangeError.
 */
export function mergeFaults(current: Faults, patch: Partial<Faults>): Faults {
  const next: Faults = { ...current };
  for (const key of ['failRate', 'hangRate', 'status429Rate', 'extraLatencyMs'] as const) {
    if (key in patch) next[key] = nonNegative(patch[key], key);
  }
  if (patch.outageMode !== undefined && patch.outageMode !== null) {
    if (patch.outageMode !== 'refuse' && patch.outageMode !== '503')
      throw new RangeError(`outageMode must be "refuse" or "503"`);
    next.outageMode = patch.outageMode;
  }
  return next;
}

/** A fault field's value: null or undefined is 0; anything else must be a number >= 0. */
export function nonNegative(v: unknown, name: string): number {
  const n = v === null || v === undefined ? 0 : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${name} must be a number >= 0`);
  return n;
}

export type InjectedFault = 'hang' | '429' | '500';

export const INJECTED_429 = new HttpError(429, 'Too many requests (simulated)', 'RateLimitError');
export const INJECTED_500 = new HttpError(500, 'Internal server error (simulated)', 'InternalServerError');
export const OUTAGE_503 = new HttpError(
  503,
  'Service unavailable (simulated outage)',
  'ServiceUnavailableError',
);

/** Decides the injected fault of each attempt; seeded so runs repeat. */
export class FaultDraw {
  private rng: () => number;

  constructor(private seed: number) {
    this.rng = mulberry32(seed);
  }

  reseed(seed: number): void {
    if (seed === this.seed) return;
    this.seed = seed;
    this.rng = mulberry32(seed);
  }

  /** One draw per attempt, so the rates add up and a retry of the same request draws again. */
  draw(f: Faults): InjectedFault | null {
    if (f.hangRate <= 0 && f.status429Rate <= 0 && f.failRate <= 0) return null;
    let r = this.rng();
    if (r < f.hangRate) return 'hang';
    r -= f.hangRate;
    if (r < f.status429Rate) return '429';
    r -= f.status429Rate;
    return r < f.failRate ? '500' : null;
  }
}

/** mulberry32: tiny, fast, good enough for fault rates. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The current outage, if any. In 'refuse' mode it closes the server's listening socket and resets
 * its connections, like a crashed vLLM, and listens again when it ends; in '503' mode the router
 * asks `answers503()`.
 */
export class Outage {
  private until = 0;
  private timer: NodeJS.Timeout | null = null;
  /** The listening socket is closed on purpose (outage in 'refuse' mode). */
  refusing = false;

  constructor(
    private readonly server: http.Server,
    /** Where to listen again; null once the simulator is closed. */
    private readonly address: () => { port: number; host: string } | null,
  ) {}

  /** What is left of the current outage, ms. */
  remainingMs(): number {
    return Math.max(0, this.until - Date.now());
  }

  answers503(): boolean {
    return this.until > 0 && !this.refusing && Date.now() < this.until;
  }

  start(ms: number, mode: OutageMode): void {
    this.clearTimer();
    if (ms <= 0 || this.address() === null) {
      this.end();
      return;
    }
    this.until = Date.now() + ms;
    if (mode === 'refuse') {
      if (!this.refusing) {
        this.refusing = true;
        this.server.close();
        this.server.closeAllConnections();
      }
    } else if (this.refusing) {
      this.reopen();
    }
    // Not unref'd: in the CLI nothing else keeps the process alive while the socket is closed.
    this.timer = setTimeout(() => this.end(), ms);
  }

  end(): void {
    this.clearTimer();
    this.until = 0;
    if (this.refusing) this.reopen();
  }

  /** Listen again on the same port (after a 'refuse' outage, or a failed attempt to). */
  reopen(): void {
    const address = this.address();
    if (address === null || this.server.listening) {
      this.refusing = false;
      return;
    }
    this.server.listen(address.port, address.host, () => {
      this.refusing = false;
    });
  }

  clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
