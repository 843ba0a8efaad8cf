/**
 * vLLM simulator: an HTTP server that speaks vLLM's OpenAI-compatible API (shapes, errors,
 * /health, /metrics) and answers deterministically from the request, with a continuous-batching
 * scheduling model (engine.ts) behind it so that load behaves like a GPU: throughput saturates,
 * a waiting queue forms past the KV-cache knee, long decodes cause preemptions.
 *
 * It is plain `node:http` on purpose: the service is benchmarked through it at thousands of
 * requests per second, so the per-request path avoids anything heavier than one JSON.parse and
 * one JSON.stringify.
 *
 * See README.md in this folder for the model, the options and the control endpoints.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_ENGINE_CONFIG, Engine, EngineLoop, type EngineConfig, type Sequence } from './engine';
import { simulatedAnswer } from './answers';
import { parseResponsesRequest, responseObject } from './responses';
import {
  pairTokens,
  parseRerankRequest,
  parseScoreRequest,
  scoringAnswer,
  type ScoringRequest,
} from './scoring';
import {
  badRequest,
  contentText,
  countTokens,
  type ErrorFormat,
  fnv1a,
  HttpError,
  isObject,
  type Json,
  optionalPositiveInt,
} from './vllm-request';

export { contentText, countTokens, type ErrorFormat, type VllmError } from './vllm-request';

// ---------------------------------------------------------------------------------------------
// Public types

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

export interface SimulatorOptions extends EngineConfig {
  /** 0 picks a free port. */
  port: number;
  host: string;
  /** Served model ids; the first one labels the metrics. */
  models: string[];
  maxModelLen: number;
  /** Answer at once, bypassing the engine (also implied by stepBaseMs = stepPerSeqMs = 0). */
  instant: boolean;
  /** Generation limit when a request gives neither max_tokens nor max_completion_tokens. */
  defaultMaxTokens: number;
  /** "Natural" answer length in tokens; null = the request's limit. generated = min(limit, this). */
  outputTokens: number | null;
  /** Serve /metrics (false → 404). */
  metrics: boolean;
  /** Export only vllm:gpu_cache_usage_perc (releases before the kv_cache_usage_perc rename). */
  legacyMetricNames: boolean;
  /** Answer the plain ASCII echo instead of multi-byte text (see answers.ts). */
  asciiOnly: boolean;
  /** Shape of error bodies: vLLM's older flat object or the newer nested one. */
  errorFormat: ErrorFormat;
  /** Seed of the PRNG behind the fault rates. */
  seed: number;
  /**
   * Inference paths the served model does not support (e.g. `/v1/score` on a generative model):
   * answered 400 "The model does not support … API", as vLLM does.
   */
  unsupportedEndpoints: string[];
  /** Faults active from the start. */
  faults: Partial<Faults>;
}

export interface SimulatorStats {
  /** Inference requests received (chat, completion, embedding, response, score, rerank). */
  received: number;
  /** Every request by path (control endpoints excluded; unknown paths under "other"). */
  byEndpoint: Record<string, number>;
  /** Inference requests answered 200. */
  completed: number;
  /** Inference requests answered with an injected 500. */
  failedInjected: number;
  /** Inference requests whose client went away before the response. */
  aborted: number;
  running: number;
  waiting: number;
  maxRunning: number;
  maxWaiting: number;
  preemptions: number;
  /** Time-weighted means since the reset (idle time counts as 0). */
  meanRunning: number;
  meanWaiting: number;
  promptTokens: number;
  generationTokens: number;
  /** Epoch ms of the last inference request received. */
  lastRequestAt: number | null;
  /** HTTP requests open now (control endpoints excluded). */
  inFlight: number;
  maxInFlight: number;
  // Additions beyond the brief, for fault tests:
  /** Inference requests answered with an injected 429. */
  injected429: number;
  /** Inference requests that were left hanging on purpose. */
  injectedHangs: number;
  /** Requests answered 503 because of an outage in '503' mode. */
  outageRejected: number;
  /** Open inference requests cut off by an outage in 'refuse' mode (not counted in aborted). */
  droppedByOutage: number;
  /** Inference requests answered 4xx by validation or 503 because the waiting queue was full. */
  rejected: number;
  /** KV cache usage now, 0..1. */
  kvCacheUsage: number;
}

export interface RunningSimulator {
  /** Base URL for an OpenAI client, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): SimulatorStats;
  resetStats(): void;
  setFaults(f: Partial<Faults>): void;
  setOptions(o: Partial<SimulatorOptions>): void;
  /** Current faults (outageMs = what is left of the current outage). */
  faults(): Faults;
  /** Current options. */
  options(): SimulatorOptions;
}

export const DEFAULT_SIMULATOR_OPTIONS: SimulatorOptions = {
  ...DEFAULT_ENGINE_CONFIG,
  port: 8000,
  host: '127.0.0.1',
  models: ['sim-model'],
  maxModelLen: 4096,
  instant: false,
  defaultMaxTokens: 16,
  outputTokens: null,
  metrics: true,
  legacyMetricNames: false,
  asciiOnly: false,
  errorFormat: 'flat',
  seed: 42,
  unsupportedEndpoints: [],
  faults: {},
};

const NO_FAULTS: Faults = {
  failRate: 0,
  hangRate: 0,
  status429Rate: 0,
  extraLatencyMs: 0,
  outageMs: 0,
  outageMode: 'refuse',
};

export const EMBEDDING_DIMENSION = 8;

export async function createSimulator(opts: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  const sim = new Simulator(opts);
  await sim.listen();
  return sim;
}

// ---------------------------------------------------------------------------------------------
// Request helpers (pure)

type FinishReason = 'stop' | 'length';
type Kind = 'chat' | 'completion' | 'embedding' | 'response' | 'score' | 'rerank';

/** Inference paths and what they run; also vLLM's name of each API, for "does not support" errors. */
const INFERENCE_PATHS: Record<string, { kind: Kind; api: string }> = {
  '/v1/chat/completions': { kind: 'chat', api: 'Chat Completions' },
  '/v1/completions': { kind: 'completion', api: 'Completions' },
  '/v1/embeddings': { kind: 'embedding', api: 'Embeddings' },
  '/v1/responses': { kind: 'response', api: 'Responses' },
  '/v1/score': { kind: 'score', api: 'Score' },
  '/v1/rerank': { kind: 'rerank', api: 'Rerank' },
};

/** Deterministic unit-length vector of EMBEDDING_DIMENSION float32 values derived from the text. */
export function embeddingFor(text: string): number[] {
  // FNV-1a, then a small xorshift stream seeded by it.
  let x = fnv1a(text) || 1;
  const v: number[] = new Array<number>(EMBEDDING_DIMENSION);
  let norm = 0;
  for (let i = 0; i < EMBEDDING_DIMENSION; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const u = (x >>> 0) / 0x100000000; // [0, 1)
    v[i] = u * 2 - 1;
    norm += v[i] * v[i];
  }
  norm = Math.sqrt(norm) || 1;
  // float32 so that the float and the base64 encodings carry exactly the same numbers
  for (let i = 0; i < EMBEDDING_DIMENSION; i++) v[i] = Math.fround(v[i] / norm);
  return v;
}

function float32Base64(values: number[]): string {
  const buf = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i], i * 4);
  return buf.toString('base64');
}

/** mulberry32: tiny, fast, good enough for fault rates; seeded so runs repeat. */
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

/** A validated inference request: what the engine must do and how to answer when it is done. */
interface Job {
  kind: Kind;
  model: string;
  /** Prompt tokens of each engine sequence (embeddings: one per input). */
  promptTokens: number[];
  /** Tokens to generate per sequence (0 for embeddings). */
  outputTokens: number;
  priority: number;
  finishReason: FinishReason;
  /** Chat/completion/response: the echoed text; embeddings: the input texts. */
  texts: string[];
  base64: boolean;
  /** Score and rerank: the pairs to score (one sequence each). */
  scoring: ScoringRequest | null;
  /** The request body, for answers that repeat request fields (Responses). */
  request: Json;
}

/** Text and token count of a completions/embeddings prompt item: a string or token ids. */
function promptItem(item: unknown, field: string): { text: string; tokens: number } {
  if (typeof item === 'string') return { text: item, tokens: countTokens(item) };
  if (Array.isArray(item) && item.length > 0 && item.every((t) => typeof t === 'number')) {
    return { text: item.join(' '), tokens: item.length };
  }
  throw badRequest(`${field} must be a string, an array of strings, or token ids.`);
}

// ---------------------------------------------------------------------------------------------

interface Call {
  res: http.ServerResponse;
  path: string;
  kind: Kind;
  job: Job | null;
  seqs: Sequence<Call>[];
  /** Sequences not finished yet. */
  remaining: number;
  /** The engine part is over (answered, failed, or the client left). */
  settled: boolean;
}

const JSON_TYPE = 'application/json';
const PROM_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const KNOWN_PATHS = new Set([
  '/health',
  '/version',
  '/metrics',
  '/v1/models',
  ...Object.keys(INFERENCE_PATHS),
]);

class Simulator implements RunningSimulator {
  url = '';
  port = 0;

  private opts: SimulatorOptions;
  private readonly server: http.Server;
  private readonly engine: Engine<Call>;
  private readonly loop: EngineLoop<Call>;
  private currentFaults: Faults = { ...NO_FAULTS };
  private outageUntil = 0;
  private outageTimer: NodeJS.Timeout | null = null;
  /** The listening socket is closed on purpose (outage in 'refuse' mode). */
  private refusing = false;
  private closed = false;
  private rng: () => number;
  private idPrefix = Math.floor(Math.random() * 0xffffffff)
    .toString(16)
    .padStart(8, '0');
  private idCounter = 0;
  private readonly successTotals = { stop: 0, length: 0 };
  private abortedTotal = 0;

  // Stats since the last reset.
  private s = Simulator.zeroCounters();
  private byEndpoint: Record<string, number> = {};
  private lastRequestAt: number | null = null;
  private inFlight = 0;
  private maxInFlight = 0;
  private base = { preemptions: 0, promptTokens: 0, generationTokens: 0 };

  constructor(opts: Partial<SimulatorOptions>) {
    this.opts = Simulator.validate({ ...DEFAULT_SIMULATOR_OPTIONS, ...opts });
    this.rng = mulberry32(this.opts.seed);
    this.engine = new Engine<Call>(this.engineConfig(), performance.now());
    this.loop = new EngineLoop<Call>(this.engine, {
      onFinished: (seq) => this.onSeqFinished(seq),
      onFailed: (seq) => this.onSeqFailed(seq),
    });
    this.server = http.createServer(this.onRequest);
    // vLLM (uvicorn) keeps idle connections 5 s; Node's default is the same, stated for clarity.
    this.server.keepAliveTimeout = 5000;
    // An outage must start once the socket is open (listen() applies it); the rest applies now,
    // so that bad values fail before anything listens.
    const { outageMs, ...otherFaults } = this.opts.faults;
    if (outageMs !== undefined && outageMs !== null && (!Number.isFinite(outageMs) || outageMs < 0)) {
      throw new RangeError('outageMs must be a number >= 0');
    }
    this.setFaults(otherFaults);
  }

  private static zeroCounters() {
    return {
      received: 0,
      completed: 0,
      failedInjected: 0,
      aborted: 0,
      injected429: 0,
      injectedHangs: 0,
      outageRejected: 0,
      droppedByOutage: 0,
      rejected: 0,
    };
  }

  private static validate(o: SimulatorOptions): SimulatorOptions {
    if (
      !Array.isArray(o.models) ||
      o.models.length === 0 ||
      !o.models.every((m) => typeof m === 'string' && m)
    ) {
      throw new RangeError('models must be a non-empty array of model ids');
    }
    const posInt = (name: 'maxModelLen' | 'defaultMaxTokens'): void => {
      if (!Number.isInteger(o[name]) || o[name] < 1)
        throw new RangeError(`${name} must be a positive integer`);
    };
    posInt('maxModelLen');
    posInt('defaultMaxTokens');
    if (o.outputTokens !== null && (!Number.isInteger(o.outputTokens) || o.outputTokens < 1)) {
      throw new RangeError('outputTokens must be null or a positive integer');
    }
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)
      throw new RangeError('port must be 0..65535');
    if (!Array.isArray(o.unsupportedEndpoints) || !o.unsupportedEndpoints.every((p) => p in INFERENCE_PATHS))
      throw new RangeError(
        `unsupportedEndpoints lists paths among ${Object.keys(INFERENCE_PATHS).join(', ')}`,
      );
    return o;
  }

  private engineConfig(): EngineConfig {
    const o = this.opts;
    return {
      blockSize: o.blockSize,
      numGpuBlocks: o.numGpuBlocks,
      maxNumSeqs: o.maxNumSeqs,
      stepBaseMs: o.stepBaseMs,
      stepPerSeqMs: o.stepPerSeqMs,
      priorityScheduling: o.priorityScheduling,
      maxWaiting: o.maxWaiting,
    };
  }

  private get instant(): boolean {
    return this.opts.instant || (this.opts.stepBaseMs === 0 && this.opts.stepPerSeqMs === 0);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.onServerError(err));
        this.port = (this.server.address() as AddressInfo).port;
        const host = this.opts.host === '0.0.0.0' || this.opts.host === '::' ? '127.0.0.1' : this.opts.host;
        const urlHost = host.includes(':') ? `[${host}]` : host;
        this.url = `http://${urlHost}:${this.port}/v1`;
        const startupOutage = this.opts.faults.outageMs;
        if (startupOutage) this.setFaults({ outageMs: startupOutage }); // e.g. "refused while loading"
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.outageTimer) clearTimeout(this.outageTimer);
    this.outageTimer = null;
    this.loop.close();
    await new Promise<void>((resolve) => {
      if (this.server.listening) this.server.close(() => resolve());
      else resolve();
      this.server.closeAllConnections();
    });
  }

  private onServerError(err: Error): void {
    // Only re-listening after a 'refuse' outage can fail here (the port was taken meanwhile).
    if (this.closed) return;
    process.emitWarning(`vLLM simulator: ${err.message}; retrying to listen on port ${this.port}`);
    setTimeout(() => this.reopen(), 100).unref();
  }

  // -------------------------------------------------------------------------------------------
  // Faults and options

  faults(): Faults {
    const left = Math.max(0, this.outageUntil - Date.now());
    return { ...this.currentFaults, outageMs: left };
  }

  options(): SimulatorOptions {
    return {
      ...this.opts,
      models: [...this.opts.models],
      unsupportedEndpoints: [...this.opts.unsupportedEndpoints],
      faults: this.faults(),
    };
  }

  setFaults(f: Partial<Faults>): void {
    const next: Faults = { ...this.currentFaults };
    for (const key of ['failRate', 'hangRate', 'status429Rate', 'extraLatencyMs'] as const) {
      if (key in f) {
        const v = f[key];
        next[key] = v === null || v === undefined ? 0 : Number(v);
        if (!Number.isFinite(next[key]) || next[key] < 0)
          throw new RangeError(`${key} must be a number >= 0`);
      }
    }
    if (f.outageMode !== undefined && f.outageMode !== null) {
      if (f.outageMode !== 'refuse' && f.outageMode !== '503')
        throw new RangeError(`outageMode must be "refuse" or "503"`);
      next.outageMode = f.outageMode;
    }
    this.currentFaults = next;
    if ('outageMs' in f) {
      const ms = f.outageMs === null || f.outageMs === undefined ? 0 : Number(f.outageMs);
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('outageMs must be a number >= 0');
      this.startOutage(ms);
    }
  }

  private startOutage(ms: number): void {
    if (this.outageTimer) clearTimeout(this.outageTimer);
    this.outageTimer = null;
    if (ms <= 0 || this.closed) {
      this.endOutage();
      return;
    }
    this.outageUntil = Date.now() + ms;
    if (this.currentFaults.outageMode === 'refuse') {
      if (!this.refusing) {
        this.refusing = true;
        // Like a crashed vLLM: new connections are refused and open ones (with their requests) are cut.
        this.server.close();
        this.server.closeAllConnections();
      }
    } else if (this.refusing) {
      this.reopen();
    }
    // Not unref'd: in the CLI nothing else keeps the process alive while the socket is closed.
    this.outageTimer = setTimeout(() => this.endOutage(), ms);
  }

  private endOutage(): void {
    if (this.outageTimer) clearTimeout(this.outageTimer);
    this.outageTimer = null;
    this.outageUntil = 0;
    if (this.refusing) this.reopen();
  }

  private reopen(): void {
    if (this.closed || this.server.listening) {
      this.refusing = false;
      return;
    }
    this.server.listen(this.port, this.opts.host, () => {
      this.refusing = false;
    });
  }

  setOptions(o: Partial<SimulatorOptions>): void {
    const { faults, port: _port, host: _host, ...rest } = o;
    const next = Simulator.validate({ ...this.opts, ...rest });
    const engineConfig: EngineConfig = {
      blockSize: next.blockSize,
      numGpuBlocks: next.numGpuBlocks,
      maxNumSeqs: next.maxNumSeqs,
      stepBaseMs: next.stepBaseMs,
      stepPerSeqMs: next.stepPerSeqMs,
      priorityScheduling: next.priorityScheduling,
      maxWaiting: next.maxWaiting,
    };
    this.engine.setConfig(engineConfig); // throws on bad values before anything changes
    if (next.seed !== this.opts.seed) this.rng = mulberry32(next.seed);
    this.opts = { ...next, faults: this.opts.faults };
    if (faults) this.setFaults(faults);
    this.loop.kick();
  }

  // -------------------------------------------------------------------------------------------
  // Stats

  stats(): SimulatorStats {
    const levels = this.engine.levelStats(this.loop.now());
    const c = this.engine.counters;
    return {
      received: this.s.received,
      byEndpoint: { ...this.byEndpoint },
      completed: this.s.completed,
      failedInjected: this.s.failedInjected,
      aborted: this.s.aborted,
      running: this.engine.numRunning,
      waiting: this.engine.numWaiting,
      maxRunning: levels.maxRunning,
      maxWaiting: levels.maxWaiting,
      preemptions: c.preemptions - this.base.preemptions,
      meanRunning: levels.meanRunning,
      meanWaiting: levels.meanWaiting,
      promptTokens: c.promptTokens - this.base.promptTokens,
      generationTokens: c.generationTokens - this.base.generationTokens,
      lastRequestAt: this.lastRequestAt,
      inFlight: this.inFlight,
      maxInFlight: this.maxInFlight,
      injected429: this.s.injected429,
      injectedHangs: this.s.injectedHangs,
      outageRejected: this.s.outageRejected,
      droppedByOutage: this.s.droppedByOutage,
      rejected: this.s.rejected,
      kvCacheUsage: this.engine.kvCacheUsage,
    };
  }

  resetStats(): void {
    this.s = Simulator.zeroCounters();
    this.byEndpoint = {};
    this.lastRequestAt = null;
    this.maxInFlight = this.inFlight;
    const c = this.engine.counters;
    this.base = {
      preemptions: c.preemptions,
      promptTokens: c.promptTokens,
      generationTokens: c.generationTokens,
    };
    this.engine.resetLevelStats(this.loop.now());
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);

    if (path.startsWith('/sim/')) {
      this.handleControl(req, res, path);
      return;
    }

    const endpointKey = KNOWN_PATHS.has(path) ? path : 'other';
    this.byEndpoint[endpointKey] = (this.byEndpoint[endpointKey] ?? 0) + 1;
    this.inFlight++;
    if (this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;

    const kind = inferenceKind(path);
    if (kind !== null && req.method === 'POST') {
      this.s.received++;
      this.lastRequestAt = Date.now();
    }
    let call: Call | null = null;
    res.once('close', () => {
      this.inFlight--;
      if (call !== null && !res.writableEnded) this.onClientGone(call);
    });

    if (this.outageUntil > 0 && !this.refusing && Date.now() < this.outageUntil) {
      this.s.outageRejected++;
      this.send(
        res,
        503,
        new HttpError(503, 'Service unavailable (simulated outage)', 'ServiceUnavailableError').body(
          this.opts.errorFormat,
        ),
      );
      return;
    }

    if (kind !== null) {
      if (req.method !== 'POST') {
        this.send(res, 405, '{"detail":"Method Not Allowed"}');
        return;
      }
      call = { res, path, kind, job: null, seqs: [], remaining: 0, settled: false };
      const theCall = call;
      readBody(req, (body) => this.handleInference(theCall, body));
      return;
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.send(
        res,
        KNOWN_PATHS.has(path) ? 405 : 404,
        KNOWN_PATHS.has(path) ? '{"detail":"Method Not Allowed"}' : '{"detail":"Not Found"}',
      );
      return;
    }
    switch (path) {
      case '/health':
        this.send(res, 200, '', null);
        return;
      case '/version':
        this.send(res, 200, '{"version":"0.0.0-simulator"}');
        return;
      case '/v1/models':
        this.send(res, 200, this.modelsBody());
        return;
      case '/metrics':
        if (this.opts.metrics) this.send(res, 200, this.metricsText(), PROM_TYPE);
        else this.send(res, 404, '{"detail":"Not Found"}');
        return;
      default:
        this.send(res, 404, '{"detail":"Not Found"}');
    }
  };

  /** Write a response after the injected extra latency, if any. contentType null: no body type. */
  private send(
    res: http.ServerResponse,
    status: number,
    body: string,
    contentType: string | null = JSON_TYPE,
    extraHeaders?: Record<string, string>,
    success?: FinishReason,
  ): void {
    const delay = this.currentFaults.extraLatencyMs;
    if (delay > 0) {
      setTimeout(() => this.write(res, status, body, contentType, extraHeaders, success), delay).unref();
    } else {
      this.write(res, status, body, contentType, extraHeaders, success);
    }
  }

  private write(
    res: http.ServerResponse,
    status: number,
    body: string,
    contentType: string | null,
    extraHeaders: Record<string, string> | undefined,
    success: FinishReason | undefined,
  ): void {
    if (res.writableEnded || res.destroyed) return;
    const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
    if (contentType !== null) headers['content-type'] = contentType;
    if (extraHeaders) Object.assign(headers, extraHeaders);
    res.writeHead(status, headers);
    res.end(body);
    if (success !== undefined) {
      this.s.completed++;
      this.successTotals[success]++;
    }
  }

  private handleInference(call: Call, rawBody: string): void {
    if (call.settled) return;
    const f = this.currentFaults;
    // One draw per attempt decides the injected fault, so the rates add up and a retry of the
    // same request draws again (and may succeed).
    if (f.hangRate > 0 || f.status429Rate > 0 || f.failRate > 0) {
      let r = this.rng();
      if (r < f.hangRate) {
        this.s.injectedHangs++;
        return; // never answered; onClientGone cleans up when the client gives up
      }
      r -= f.hangRate;
      if (r < f.status429Rate) {
        this.s.injected429++;
        call.settled = true;
        const err = new HttpError(429, 'Too many requests (simulated)', 'RateLimitError');
        this.send(call.res, 429, err.body(this.opts.errorFormat), JSON_TYPE, { 'retry-after': '1' });
        return;
      }
      r -= f.status429Rate;
      if (r < f.failRate) {
        this.s.failedInjected++;
        call.settled = true;
        this.send(
          call.res,
          500,
          new HttpError(500, 'Internal server error (simulated)', 'InternalServerError').body(
            this.opts.errorFormat,
          ),
        );
        return;
      }
    }

    let job: Job;
    try {
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch (e) {
        throw badRequest(`Invalid JSON body: ${(e as Error).message}`);
      }
      job = this.validate(call.path, call.kind, body);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      this.reject(call, e);
      return;
    }
    call.job = job;

    if (this.instant) {
      const c = this.engine.counters;
      for (const p of job.promptTokens) c.promptTokens += p;
      c.generationTokens += job.outputTokens * job.promptTokens.length;
      this.answer(call);
      return;
    }

    if (!this.engine.canAccept(job.promptTokens.length)) {
      this.reject(
        call,
        new HttpError(
          503,
          `The waiting queue is full (maxWaiting=${String(this.opts.maxWaiting)}).`,
          'ServiceUnavailableError',
        ),
      );
      return;
    }
    for (const promptTokens of job.promptTokens) {
      const r = this.loop.submit(
        { promptTokens, outputTokens: job.outputTokens, priority: job.priority },
        call,
      );
      if (!r.ok) {
        for (const seq of call.seqs) this.loop.abort(seq);
        this.reject(
          call,
          r.reason === 'queue_full'
            ? new HttpError(503, r.message, 'ServiceUnavailableError')
            : badRequest(r.message),
        );
        return;
      }
      call.seqs.push(r.seq);
    }
    call.remaining = call.seqs.length;
  }

  private reject(call: Call, err: HttpError): void {
    call.settled = true;
    this.s.rejected++;
    this.send(call.res, err.status, err.body(this.opts.errorFormat));
  }

  private onSeqFinished(seq: Sequence<Call>): void {
    const call = seq.data;
    if (call.settled) return;
    if (--call.remaining === 0) this.answer(call);
  }

  private onSeqFailed(seq: Sequence<Call>): void {
    const call = seq.data;
    if (call.settled) return;
    for (const other of call.seqs) if (other !== seq) this.loop.abort(other);
    const cap = this.engine.kvCapacityTokens;
    this.reject(
      call,
      badRequest(`The request no longer fits the KV cache (${cap} tokens) after a configuration change.`),
    );
  }

  private onClientGone(call: Call): void {
    if (this.refusing) this.s.droppedByOutage++;
    else {
      this.s.aborted++;
      this.abortedTotal++;
    }
    if (call.settled) return;
    call.settled = true;
    for (const seq of call.seqs) this.loop.abort(seq);
  }

  private nextId(prefix: string): string {
    this.idCounter++;
    return `${prefix}${this.idPrefix}${this.idCounter.toString(16).padStart(12, '0')}`;
  }

  private answer(call: Call): void {
    call.settled = true;
    const job = call.job;
    if (job === null) return;
    const created = Math.floor(Date.now() / 1000);
    let body: string;
    if (job.kind === 'embedding') {
      const promptTokens = job.promptTokens.reduce((a, b) => a + b, 0);
      body = JSON.stringify({
        id: this.nextId('embd-'),
        object: 'list',
        created,
        model: job.model,
        data: job.texts.map((text, index) => {
          const v = embeddingFor(text);
          return { object: 'embedding', index, embedding: job.base64 ? float32Base64(v) : v };
        }),
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      });
      this.send(call.res, 200, body, JSON_TYPE, undefined, 'stop');
      return;
    }
    if (job.scoring !== null) {
      const prefix = job.kind === 'score' ? 'score-' : 'rerank-';
      body = JSON.stringify(
        scoringAnswer(job.scoring, { id: this.nextId(prefix), created, model: job.model }),
      );
      this.send(call.res, 200, body, JSON_TYPE, undefined, 'stop');
      return;
    }
    const promptTokens = job.promptTokens[0];
    const usage = {
      prompt_tokens: promptTokens,
      total_tokens: promptTokens + job.outputTokens,
      completion_tokens: job.outputTokens,
    };
    const text = simulatedAnswer(job.texts[0], this.opts.asciiOnly);
    if (job.kind === 'response') {
      body = JSON.stringify(
        responseObject({
          id: this.nextId('resp_'),
          messageId: this.nextId('msg_'),
          createdAt: created,
          model: job.model,
          text,
          inputTokens: promptTokens,
          outputTokens: job.outputTokens,
          finishReason: job.finishReason,
          request: job.request,
        }),
      );
    } else if (job.kind === 'chat') {
      body = JSON.stringify({
        id: this.nextId('chatcmpl-'),
        object: 'chat.completion',
        created,
        model: job.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text },
            logprobs: null,
            finish_reason: job.finishReason,
            stop_reason: null,
          },
        ],
        usage,
      });
    } else {
      body = JSON.stringify({
        id: this.nextId('cmpl-'),
        object: 'text_completion',
        created,
        model: job.model,
        choices: [{ index: 0, text, logprobs: null, finish_reason: job.finishReason, stop_reason: null }],
        usage,
      });
    }
    this.send(call.res, 200, body, JSON_TYPE, undefined, job.finishReason);
  }

  // -------------------------------------------------------------------------------------------
  // Validation: vLLM's checks and messages for the cases a batch service meets

  private validate(path: string, kind: Kind, body: unknown): Job {
    // vLLM routes a request to an API its model does not serve to this answer, before reading it.
    if (this.opts.unsupportedEndpoints.includes(path))
      throw badRequest(`The model does not support ${INFERENCE_PATHS[path].api} API`);
    if (!isObject(body)) throw badRequest('The request body must be a JSON object.');
    const model = this.resolveModel(body.model);

    const priorityRaw = body.priority ?? 0;
    if (typeof priorityRaw !== 'number' || !Number.isInteger(priorityRaw)) {
      throw badRequest(`priority must be an integer, got ${JSON.stringify(priorityRaw)}.`);
    }
    if (priorityRaw !== 0 && !this.opts.priorityScheduling) {
      throw badRequest(`Got priority ${priorityRaw} but Priority scheduling is not enabled.`);
    }
    // Streaming is not simulated; the batch service never streams (it rejects stream lines).
    if (body.stream === true) throw badRequest('stream=true is not supported by the vLLM simulator.');

    if (kind === 'embedding') return this.validateEmbedding(body, model, priorityRaw);
    if (kind === 'score' || kind === 'rerank') return this.validateScoring(kind, body, model, priorityRaw);

    let promptText: string;
    let echoed: string;
    let promptTokens: number;
    let requested: number | undefined;
    const where = kind === 'chat' ? 'messages' : kind === 'response' ? 'input' : 'prompt';
    if (kind === 'chat') {
      const messages = body.messages;
      if (messages === undefined || messages === null) throw badRequest('Field required: messages');
      if (!Array.isArray(messages) || messages.length === 0)
        throw badRequest('messages must be a non-empty array.');
      const texts: string[] = [];
      for (const m of messages) {
        if (!isObject(m) || typeof m.role !== 'string')
          throw badRequest('Each message must be an object with a role.');
        texts.push(contentText(m.content));
      }
      promptText = texts.join('\n');
      echoed = texts[texts.length - 1];
      promptTokens = countTokens(promptText);
    } else if (kind === 'response') {
      const parsed = parseResponsesRequest(body);
      promptText = parsed.promptText;
      echoed = parsed.echoed;
      promptTokens = countTokens(promptText);
      requested = parsed.maxOutputTokens;
    } else {
      let prompt = body.prompt;
      if (prompt === undefined || prompt === null) throw badRequest('Field required: prompt');
      // A list of prompts (strings or token-id lists): the simulator answers the first only.
      if (Array.isArray(prompt) && prompt.length > 0 && typeof prompt[0] !== 'number') prompt = prompt[0];
      const item = promptItem(prompt, 'prompt');
      promptText = item.text;
      echoed = item.text;
      promptTokens = item.tokens;
    }

    const maxLen = this.opts.maxModelLen;
    if (kind !== 'response')
      requested =
        optionalPositiveInt(body, 'max_tokens') ?? optionalPositiveInt(body, 'max_completion_tokens');
    let limit: number;
    if (requested === undefined) {
      if (promptTokens >= maxLen) {
        throw badRequest(
          `This model's maximum context length is ${maxLen} tokens. However, you requested ${promptTokens} tokens in the ${where}, Please reduce the length of the ${where}.`,
        );
      }
      // vLLM's default would be maxModelLen - prompt; a small default keeps simulated jobs short.
      limit = Math.min(this.opts.defaultMaxTokens, maxLen - promptTokens);
    } else {
      if (promptTokens + requested > maxLen) {
        throw badRequest(
          `This model's maximum context length is ${maxLen} tokens. However, you requested ${promptTokens + requested} tokens (${promptTokens} in the ${where}, ${requested} in the completion). Please reduce the length of the ${where} or completion.`,
        );
      }
      limit = requested;
    }
    const natural = this.opts.outputTokens ?? limit;
    return {
      kind,
      model,
      promptTokens: [promptTokens],
      outputTokens: Math.min(limit, natural),
      priority: priorityRaw,
      finishReason: natural > limit ? 'length' : 'stop',
      texts: [echoed],
      base64: false,
      scoring: null,
      request: body,
    };
  }

  private validateScoring(kind: 'score' | 'rerank', body: Json, model: string, priority: number): Job {
    const scoring = kind === 'score' ? parseScoreRequest(body) : parseRerankRequest(body);
    const maxLen = this.opts.maxModelLen;
    const promptTokens = scoring.pairs.map(pairTokens);
    for (const tokens of promptTokens) {
      if (tokens > maxLen) {
        throw badRequest(
          `This model's maximum context length is ${maxLen} tokens. However, you requested ${tokens} tokens in the input for ${kind}. Please reduce the length of the input.`,
        );
      }
    }
    return {
      kind,
      model,
      promptTokens,
      outputTokens: 0,
      priority,
      finishReason: 'stop',
      texts: [],
      base64: false,
      scoring,
      request: body,
    };
  }

  private validateEmbedding(body: Json, model: string, priority: number): Job {
    const input = body.input;
    if (input === undefined || input === null) throw badRequest('Field required: input');
    let items: unknown[];
    if (typeof input === 'string') items = [input];
    else if (Array.isArray(input) && input.length > 0 && typeof input[0] === 'number') items = [input];
    else if (Array.isArray(input) && input.length > 0) items = input;
    else throw badRequest('input must be a non-empty string or array.');
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64')
      throw badRequest(`encoding_format must be "float" or "base64", got ${JSON.stringify(format)}.`);
    const maxLen = this.opts.maxModelLen;
    const texts: string[] = [];
    const promptTokens: number[] = [];
    for (const raw of items) {
      const item = promptItem(raw, 'input');
      if (item.tokens > maxLen) {
        throw badRequest(
          `This model's maximum context length is ${maxLen} tokens. However, you requested ${item.tokens} tokens in the input for embedding generation. Please reduce the length of the input.`,
        );
      }
      texts.push(item.text);
      promptTokens.push(item.tokens);
    }
    return {
      kind: 'embedding',
      model,
      promptTokens,
      outputTokens: 0,
      priority,
      finishReason: 'stop',
      texts,
      base64: format === 'base64',
      scoring: null,
      request: body,
    };
  }

  private resolveModel(model: unknown): string {
    // vLLM falls back to the served model when the field is absent.
    if (model === undefined || model === null) return this.opts.models[0];
    if (typeof model !== 'string') throw badRequest('model must be a string.');
    if (!this.opts.models.includes(model))
      throw new HttpError(404, `The model \`${model}\` does not exist.`, 'NotFoundError');
    return model;
  }

  // -------------------------------------------------------------------------------------------
  // /v1/models and /metrics

  private modelsBody(): string {
    const created = Math.floor(Date.now() / 1000);
    return JSON.stringify({
      object: 'list',
      data: this.opts.models.map((id) => ({
        id,
        object: 'model',
        created,
        owned_by: 'vllm',
        root: id,
        parent: null,
        max_model_len: this.opts.maxModelLen,
      })),
    });
  }

  /** Prometheus text in the shape vLLM's prometheus_client output has (labels model_name, engine). */
  private metricsText(): string {
    const labels = `model_name="${escapeLabel(this.opts.models[0])}",engine="0"`;
    const num = (v: number): string => (Number.isInteger(v) ? v.toFixed(1) : String(v));
    const lines: string[] = [];
    const metric = (
      name: string,
      type: 'gauge' | 'counter',
      help: string,
      value: number,
      extra = '',
    ): void => {
      lines.push(
        `# HELP ${name} ${help}`,
        `# TYPE ${name} ${type}`,
        `${name}{${labels}${extra}} ${num(value)}`,
      );
    };
    const e = this.engine;
    const c = e.counters;
    metric(
      'vllm:num_requests_running',
      'gauge',
      'Number of requests in model execution batches.',
      e.numRunning,
    );
    metric('vllm:num_requests_waiting', 'gauge', 'Number of requests waiting to be processed.', e.numWaiting);
    const usage = e.kvCacheUsage;
    if (!this.opts.legacyMetricNames) {
      metric('vllm:kv_cache_usage_perc', 'gauge', 'KV-cache usage. 1 means 100 percent usage.', usage);
    }
    metric('vllm:gpu_cache_usage_perc', 'gauge', 'GPU KV-cache usage. 1 means 100 percent usage.', usage);
    metric(
      'vllm:num_preemptions_total',
      'counter',
      'Cumulative number of preemption from the engine.',
      c.preemptions,
    );
    metric('vllm:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.', c.promptTokens);
    metric(
      'vllm:generation_tokens_total',
      'counter',
      'Number of generation tokens processed.',
      c.generationTokens,
    );
    lines.push(
      '# HELP vllm:request_success_total Count of successfully processed requests.',
      '# TYPE vllm:request_success_total counter',
      `vllm:request_success_total{${labels},finished_reason="stop"} ${num(this.successTotals.stop)}`,
      `vllm:request_success_total{${labels},finished_reason="length"} ${num(this.successTotals.length)}`,
      `vllm:request_success_total{${labels},finished_reason="abort"} ${num(this.abortedTotal)}`,
    );
    // vLLM's info gauge carries the cache config as labels and no model_name.
    const cfg = e.getConfig();
    lines.push(
      '# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig',
      '# TYPE vllm:cache_config_info gauge',
      `vllm:cache_config_info{block_size="${cfg.blockSize}",cache_dtype="auto",calculate_kv_scales="False",cpu_offload_gb="0",enable_prefix_caching="False",engine="0",gpu_memory_utilization="0.9",is_attention_free="False",num_cpu_blocks="None",num_gpu_blocks="${cfg.numGpuBlocks}",num_gpu_blocks_override="None",sliding_window="None",swap_space_bytes="4294967296"} 1.0`,
    );
    return lines.join('\n') + '\n';
  }

  // -------------------------------------------------------------------------------------------
  // Control endpoints (never subject to faults; unreachable during a 'refuse' outage)

  private handleControl(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    const reply = (status: number, value: unknown): void => {
      const body = JSON.stringify(value);
      res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const route = `${req.method ?? 'GET'} ${path}`;
    if (route === 'GET /sim/stats') return reply(200, this.stats());
    if (route === 'GET /sim/faults') return reply(200, this.faults());
    if (route === 'GET /sim/options') return reply(200, this.options());
    if (route === 'POST /sim/reset') {
      this.resetStats();
      return reply(200, this.stats());
    }
    if (route === 'POST /sim/faults' || route === 'POST /sim/options') {
      readBody(req, (raw) => {
        try {
          const patch: unknown = raw.trim() === '' ? {} : JSON.parse(raw);
          if (!isObject(patch)) throw new RangeError('body must be a JSON object');
          if (route === 'POST /sim/faults') {
            this.setFaults(patch as Partial<Faults>);
            reply(200, this.faults());
          } else {
            this.setOptions(patch as Partial<SimulatorOptions>);
            reply(200, this.options());
          }
        } catch (e) {
          reply(400, { error: (e as Error).message });
        }
      });
      return;
    }
    reply(404, { error: `unknown control endpoint ${route}` });
  }
}

function inferenceKind(path: string): Kind | null {
  return Object.hasOwn(INFERENCE_PATHS, path) ? INFERENCE_PATHS[path].kind : null;
}

function readBody(req: http.IncomingMessage, done: (body: string) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () =>
    done(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')),
  );
  req.on('error', () => undefined); // the client went away; the response's 'close' handles it
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
