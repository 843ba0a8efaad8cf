/**
 * The life of an inference request after routing: the injected fault, validation, the engine
 * (or the instant answer), and the answer, a rejection, or the client leaving.
 */
import type * as http from 'node:http';
import { Engine, EngineLoop, type Sequence } from './engine';
import { engineConfigOf } from './engine-config';
import { FaultDraw, INJECTED_429, INJECTED_500, type InjectedFault, type Outage } from './faults';
import { answerBody, IdSource, type Job, type Kind } from './jobs';
import { isInstant, type LiveSettings } from './options';
import { JSON_TYPE, type Responder } from './respond';
import type { StatsBook } from './stats';
import { parseJob } from './validation';
import { badRequest, HttpError } from './vllm-request';

/** One inference request in flight. */
export interface Call {
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

export class Inference {
  readonly engine: Engine<Call>;
  readonly loop: EngineLoop<Call>;
  readonly faultDraw: FaultDraw;
  private readonly ids = new IdSource();

  constructor(
    private readonly live: LiveSettings,
    private readonly stats: StatsBook,
    private readonly responder: Responder,
    private readonly outage: Outage,
  ) {
    this.faultDraw = new FaultDraw(live.opts.seed);
    this.engine = new Engine<Call>(engineConfigOf(live.opts), performance.now());
    this.loop = new EngineLoop<Call>(this.engine, {
      onFinished: (seq) => this.onSeqFinished(seq),
      onFailed: (seq) => this.onSeqFailed(seq),
    });
  }

  open(res: http.ServerResponse, path: string, kind: Kind): Call {
    return { res, path, kind, job: null, seqs: [], remaining: 0, settled: false };
  }

  handle(call: Call, rawBody: string): void {
    if (call.settled) return;
    const fault = this.faultDraw.draw(this.live.faults);
    if (fault !== null) {
      this.inject(call, fault);
      return;
    }
    let job: Job;
    try {
      job = parseJob(call.path, call.kind, rawBody, this.live.opts);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      this.reject(call, e);
      return;
    }
    call.job = job;
    if (isInstant(this.live.opts)) {
      const c = this.engine.counters;
      for (const p of job.promptTokens) c.promptTokens += p;
      c.generationTokens += job.outputTokens * job.promptTokens.length;
      this.answer(call);
      return;
    }
    this.submit(call, job);
  }

  /** The client left before its answer (or a 'refuse' outage cut it off). */
  clientGone(call: Call): void {
    this.stats.clientGone(this.outage.refusing);
    if (call.settled) return;
    call.settled = true;
    for (const seq of call.seqs) this.loop.abort(seq);
  }

  private inject(call: Call, fault: InjectedFault): void {
    const counts = this.stats.counts;
    if (fault === 'hang') {
      counts.injectedHangs++;
      return; // never answered; clientGone cleans up when the client gives up
    }
    call.settled = true;
    if (fault === '429') {
      counts.injected429++;
      this.responder.sendError(call.res, INJECTED_429, { 'retry-after': '1' });
    } else {
      counts.failedInjected++;
      this.responder.sendError(call.res, INJECTED_500);
    }
  }

  /** One engine sequence per prompt; all or none. */
  private submit(call: Call, job: Job): void {
    if (!this.engine.canAccept(job.promptTokens.length)) {
      const message = `The waiting queue is full (maxWaiting=${String(this.live.opts.maxWaiting)}).`;
      this.reject(call, new HttpError(503, message, 'ServiceUnavailableError'));
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
    this.stats.counts.rejected++;
    this.responder.sendError(call.res, err);
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

  private answer(call: Call): void {
    call.settled = true;
    const job = call.job;
    if (job === null) return;
    const body = answerBody(job, this.ids, this.live.opts.asciiOnly);
    this.responder.send(call.res, 200, body, JSON_TYPE, undefined, job.finishReason);
  }
}
