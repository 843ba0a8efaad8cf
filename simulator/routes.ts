/**
 * Routing: every request that reaches the socket. Control endpoints go to control.ts, inference
 * endpoints to inference.ts; /health, /version, /v1/models and /metrics are answered here, and
 * FastAPI's 404/405 bodies for anything else.
 */
import type * as http from 'node:http';
import { type Controls, handleControl } from './control';
import { OUTAGE_503, type Outage } from './faults';
import type { Call, Inference } from './inference';
import { INFERENCE_PATHS, inferenceKind, type Kind } from './jobs';
import { metricsText } from './metrics-text';
import type { LiveSettings } from './options';
import { METHOD_NOT_ALLOWED, NOT_FOUND, PROM_TYPE, readBody, type Responder } from './respond';
import type { StatsBook } from './stats';

const KNOWN_PATHS = new Set([
  '/health',
  '/version',
  '/metrics',
  '/v1/models',
  ...Object.keys(INFERENCE_PATHS),
]);

export class Router {
  constructor(
    private readonly live: LiveSettings,
    private readonly stats: StatsBook,
    private readonly responder: Responder,
    private readonly inference: Inference,
    private readonly outage: Outage,
    private readonly controls: Controls,
  ) {}

  readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    if (path.startsWith('/sim/')) {
      handleControl(this.controls, req, res, path);
      return;
    }
    const kind = this.count(req, path);
    let call: Call | null = null;
    res.once('close', () => {
      this.stats.requestClosed();
      if (call !== null && !res.writableEnded) this.inference.clientGone(call);
    });

    if (this.outage.answers503()) {
      this.stats.counts.outageRejected++;
      this.responder.sendError(res, OUTAGE_503);
    } else if (kind === null) {
      this.serve(req, res, path);
    } else if (req.method !== 'POST') {
      this.responder.send(res, 405, METHOD_NOT_ALLOWED);
    } else {
      const theCall = this.inference.open(res, path, kind);
      call = theCall;
      readBody(req, (body) => this.inference.handle(theCall, body));
    }
  };

  /** Counts the request in the stats; its inference kind, or null for the other endpoints. */
  private count(req: http.IncomingMessage, path: string): Kind | null {
    this.stats.requestOpened(KNOWN_PATHS.has(path) ? path : 'other');
    const kind = inferenceKind(path);
    if (kind !== null && req.method === 'POST') this.stats.inferenceReceived();
    return kind;
  }

  /** The endpoints that are not inference: GET (or HEAD) only. */
  private serve(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (KNOWN_PATHS.has(path)) this.responder.send(res, 405, METHOD_NOT_ALLOWED);
      else this.responder.send(res, 404, NOT_FOUND);
      return;
    }
    const o = this.live.opts;
    if (path === '/health') this.responder.send(res, 200, '', null);
    else if (path === '/version') this.responder.send(res, 200, '{"version":"0.0.0-simulator"}');
    else if (path === '/v1/models') this.responder.send(res, 200, this.modelsBody());
    else if (path === '/metrics' && o.metrics) this.responder.send(res, 200, this.metricsBody(), PROM_TYPE);
    else this.responder.send(res, 404, NOT_FOUND);
  }

  private modelsBody(): string {
    const created = Math.floor(Date.now() / 1000);
    const maxModelLen = this.live.opts.maxModelLen;
    return JSON.stringify({
      object: 'list',
      data: this.live.opts.models.map((id) => ({
        id,
        object: 'model',
        created,
        owned_by: 'vllm',
        root: id,
        parent: null,
        max_model_len: maxModelLen,
      })),
    });
  }

  private metricsBody(): string {
    return metricsText({
      engine: this.inference.engine,
      model: this.live.opts.models[0],
      legacyMetricNames: this.live.opts.legacyMetricNames,
      successTotals: this.stats.successTotals,
      abortedTotal: this.stats.abortedTotal,
    });
  }
}
