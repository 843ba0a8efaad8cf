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
 * This file is the public face (`createSimulator` and the types); README.md in this folder
 * describes the model, the options, the control endpoints and where each concern lives.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { engineConfigOf } from './engine-config';
import { type Faults, mergeFaults, NO_FAULTS, nonNegative, Outage } from './faults';
import { Inference } from './inference';
import {
  DEFAULT_SIMULATOR_OPTIONS,
  type LiveSettings,
  type SimulatorOptions,
  validateOptions,
} from './options';
import { Responder } from './respond';
import { Router } from './routes';
import { type SimulatorStats, StatsBook } from './stats';

export { EMBEDDING_DIMENSION, embeddingFor } from './embeddings';
export type { Faults, OutageMode } from './faults';
export { DEFAULT_SIMULATOR_OPTIONS, type SimulatorOptions } from './options';
export type { SimulatorStats } from './stats';
export { contentText, countTokens, type ErrorFormat, type VllmError } from './vllm-request';

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

export async function createSimulator(opts: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  const sim = new Simulator(opts);
  await sim.listen();
  return sim;
}

/** Owns the server and the settings; each concern lives in its own module (see README.md). */
class Simulator implements RunningSimulator {
  url = '';
  port = 0;

  private readonly live: LiveSettings;
  private readonly book = new StatsBook();
  private readonly server = http.createServer();
  private readonly outage: Outage;
  private readonly inference: Inference;
  private closed = false;

  constructor(opts: Partial<SimulatorOptions>) {
    this.live = {
      opts: validateOptions({ ...DEFAULT_SIMULATOR_OPTIONS, ...opts }),
      faults: { ...NO_FAULTS },
    };
    this.outage = new Outage(this.server, () =>
      this.closed ? null : { port: this.port, host: this.live.opts.host },
    );
    const responder = new Responder(this.live, this.book);
    this.inference = new Inference(this.live, this.book, responder, this.outage);
    const router = new Router(this.live, this.book, responder, this.inference, this.outage, this);
    this.server.on('request', router.onRequest);
    // vLLM (uvicorn) keeps idle connections 5 s; Node's default is the same, stated for clarity.
    this.server.keepAliveTimeout = 5000;
    // An outage must start once the socket is open (listen() applies it); the rest applies now,
    // so that bad values fail before anything listens.
    const { outageMs, ...otherFaults } = this.live.opts.faults;
    nonNegative(outageMs, 'outageMs');
    this.setFaults(otherFaults);
  }

  listen(): Promise<void> {
    const { port, host, faults } = this.live.opts;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.onServerError(err));
        this.port = (this.server.address() as AddressInfo).port;
        this.url = `${baseUrl(host, this.port)}/v1`;
        if (faults.outageMs) this.setFaults({ outageMs: faults.outageMs }); // e.g. "refused while loading"
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.outage.clearTimer();
    this.inference.loop.close();
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
    setTimeout(() => this.outage.reopen(), 100).unref();
  }

  faults(): Faults {
    return { ...this.live.faults, outageMs: this.outage.remainingMs() };
  }

  options(): SimulatorOptions {
    const o = this.live.opts;
    return {
      ...o,
      models: [...o.models],
      unsupportedEndpoints: [...o.unsupportedEndpoints],
      faults: this.faults(),
    };
  }

  setFaults(f: Partial<Faults>): void {
    this.live.faults = mergeFaults(this.live.faults, f);
    if ('outageMs' in f) this.outage.start(nonNegative(f.outageMs, 'outageMs'), this.live.faults.outageMode);
  }

  setOptions(o: Partial<SimulatorOptions>): void {
    const { faults, port: _port, host: _host, ...rest } = o;
    const next = validateOptions({ ...this.live.opts, ...rest });
    this.inference.engine.setConfig(engineConfigOf(next)); // throws on bad values before anything changes
    this.inference.faultDraw.reseed(next.seed);
    this.live.opts = { ...next, faults: this.live.opts.faults };
    if (faults) this.setFaults(faults);
    this.inference.loop.kick();
  }

  stats(): SimulatorStats {
    return this.book.snapshot(this.inference.engine, this.inference.loop.now());
  }

  resetStats(): void {
    this.book.reset(this.inference.engine, this.inference.loop.now());
  }
}

/** http://host:port, with a wildcard listen address reached through the loopback. */
function baseUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
