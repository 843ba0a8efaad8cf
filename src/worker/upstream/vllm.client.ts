import { Agent, Dispatcher, errors as undiciErrors, request } from 'undici';

export interface UpstreamResponse {
  status: number;
  /** Body text exactly as vLLM sent it. */
  body: string;
  /** vLLM's `x-request-id` header when present. */
  requestId: string | null;
}

/** How a caller stops a request in flight (LineAbort). */
export interface RequestAbort {
  readonly aborted: boolean;
  /** `hook` runs if the caller aborts while it is set; null unsets it. */
  watch(hook: (() => void) | null): void;
}

export type UpstreamFailureKind = 'timeout' | 'connection_error' | 'aborted';

/** A request that produced no HTTP answer. */
export class UpstreamFailure extends Error {
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
  ) {
    super(message);
  }
}

export interface ServedModel {
  id: string;
  max_model_len?: number;
}

export interface VllmClientOptions {
  /** Base URL ending in /v1. */
  url: string;
  apiKey?: string;
  requestTimeoutMs: number;
  /** Keep-alive connections: above any in-flight limit this replica will get. */
  connections: number;
}

/**
 * The adapter for one vLLM replica's OpenAI-compatible server. One keep-alive connection pool,
 * sized above any in-flight limit the worker will use, so dispatch never waits for a socket.
 */
export class VllmClient {
  private readonly agent: Agent;
  private readonly baseUrl: string;
  private headers: Record<string, string> = {};
  /** The same headers as name, value pairs: a line's request appends its id to a copy. */
  private headerList: string[] = [];
  private readonly targets = new Map<string, { origin: string; path: string }>();

  constructor(private readonly options: VllmClientOptions) {
    this.baseUrl = options.url;
    this.agent = new Agent({ connections: options.connections, keepAliveTimeout: 30_000 });
    this.setApiKey(options.apiKey);
  }

  /** A reloaded configuration may rotate the key; requests from now on use the new one. */
  setApiKey(apiKey: string | undefined): void {
    this.headers = { 'content-type': 'application/json' };
    if (apiKey) this.headers.authorization = `Bearer ${apiKey}`;
    this.headerList = Object.entries(this.headers).flat();
  }

  /**
   * Destroys the pool rather than draining it: called once dispatch has stopped and in-flight
   * requests have finished or been aborted, so a health probe or a model list still waiting on a
   * hung vLLM must not hold the exit past the grace period.
   */
  async close(): Promise<void> {
    await this.agent.destroy().catch(() => undefined);
  }

  /** The endpoint path of a batch (`/v1/chat/completions`) resolved against the base URL (`…/v1`). */
  endpointUrl(endpoint: string): string {
    return this.baseUrl + endpoint.replace(/^\/v1/, '');
  }

  /**
   * Sends one request. `requestId` goes out as `X-Request-Id`, which vLLM adopts as its own request
   * id (its logs and response ids carry it), so a line of an error file can be traced in vLLM's logs.
   *
   * Every batch line comes through here, so it uses undici's dispatcher directly: `request()` would
   * add, per request, a response stream, an async resource and a parse of the URL, none of which a
   * body read whole needs.
   */
  post(endpoint: string, body: string, abort: RequestAbort, requestId: string): Promise<UpstreamResponse> {
    if (abort.aborted) return Promise.reject(new UpstreamFailure('aborted', 'request aborted'));
    const target = this.target(endpoint);
    const timeout = this.options.requestTimeoutMs;
    return new Promise<UpstreamResponse>((resolve, reject) => {
      this.agent.dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: 'POST',
          body,
          headers: this.headerList.concat('x-request-id', requestId),
          headersTimeout: timeout,
          bodyTimeout: timeout,
        },
        new PostHandler(abort, resolve, (err) => reject(classify(err, abort))),
      );
    });
  }

  /** Origin and path of an endpoint, worked out once per endpoint. */
  private target(endpoint: string): { origin: string; path: string } {
    let target = this.targets.get(endpoint);
    if (!target) {
      const url = new URL(this.endpointUrl(endpoint));
      target = { origin: url.origin, path: url.pathname + url.search };
      this.targets.set(endpoint, target);
    }
    return target;
  }

  /**
   * vLLM's liveness (`GET /health` beside `/v1`): true for any answer below 500. A 404 from a
   * gateway that does not route /health still proves the upstream is reachable; refused connections,
   * timeouts and 5xx (vLLM loading, a proxy with no backend) do not.
   */
  async healthy(): Promise<boolean> {
    try {
      const res = await request(`${this.baseUrl.replace(/\/v1$/, '')}/health`, {
        method: 'GET',
        headers: this.headers,
        dispatcher: this.agent,
        headersTimeout: 5_000,
        bodyTimeout: 5_000,
      });
      await res.body.dump();
      return res.statusCode < 500;
    } catch {
      return false;
    }
  }

  /** Models vLLM serves (`GET /v1/models`). */
  async listModels(signal?: AbortSignal): Promise<ServedModel[]> {
    try {
      const res = await request(`${this.baseUrl}/models`, {
        method: 'GET',
        headers: this.headers,
        dispatcher: this.agent,
        signal,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200)
        throw new UpstreamFailure('connection_error', `GET /v1/models answered ${res.statusCode}`);
      const parsed = JSON.parse(text) as { data?: ServedModel[] };
      return Array.isArray(parsed.data) ? parsed.data : [];
    } catch (err) {
      throw err instanceof UpstreamFailure ? err : classify(err, signal);
    }
  }
}

function classify(err: unknown, signal?: { readonly aborted: boolean }): UpstreamFailure {
  if (signal?.aborted) return new UpstreamFailure('aborted', 'request aborted');
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new UpstreamFailure('timeout', `vLLM did not answer within the request timeout`);
  }
  return new UpstreamFailure(
    'connection_error',
    `could not reach vLLM: ${(err as Error).message ?? String(err)}`,
  );
}

const X_REQUEST_ID = 'x-request-id';

/**
 * Collects one answer: status, `x-request-id`, and the body decoded as UTF-8 once it is whole (as
 * `body.text()` does, a leading BOM dropped). Uses undici's handler callbacks that its own
 * dispatchers call, so no adapter sits between them.
 */
class PostHandler implements Dispatcher.DispatchHandler {
  private status = 0;
  private requestId: string | null = null;
  private readonly chunks: Buffer[] = [];
  private bytes = 0;

  constructor(
    private readonly abort: RequestAbort,
    private readonly resolve: (res: UpstreamResponse) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abort.watch(() => abort(new undiciErrors.RequestAbortedError()));
  }

  onHeaders(statusCode: number, headers: Buffer[]): boolean {
    if (statusCode < 200) return true; // 1xx: the answer's own headers follow
    this.status = statusCode;
    let found = 0;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i];
      if (name.length === X_REQUEST_ID.length && name.toString('latin1').toLowerCase() === X_REQUEST_ID) {
        this.requestId = headers[i + 1].toString('latin1');
        found++;
      }
    }
    // A repeated header is not one id.
    if (found > 1) this.requestId = null;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    return true;
  }

  onComplete(): void {
    this.abort.watch(null);
    const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.bytes);
    const start = buf.length > 2 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
    this.resolve({ status: this.status, body: buf.toString('utf8', start), requestId: this.requestId });
  }

  onError(err: Error): void {
    this.abort.watch(null);
    this.reject(err);
  }
}
