import { Agent, errors as undiciErrors, request } from 'undici';

export interface UpstreamResponse {
  status: number;
  /** Body text exactly as vLLM sent it. */
  body: string;
  /** vLLM's `x-request-id` header when present. */
  requestId: string | null;
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

  constructor(private readonly options: VllmClientOptions) {
    this.baseUrl = options.url;
    this.agent = new Agent({ connections: options.connections, keepAliveTimeout: 30_000 });
    this.setApiKey(options.apiKey);
  }

  /** A reloaded configuration may rotate the key; requests from now on use the new one. */
  setApiKey(apiKey: string | undefined): void {
    this.headers = { 'content-type': 'application/json' };
    if (apiKey) this.headers.authorization = `Bearer ${apiKey}`;
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
   */
  async post(
    endpoint: string,
    body: string,
    signal: AbortSignal,
    requestId: string,
  ): Promise<UpstreamResponse> {
    const timeout = this.options.requestTimeoutMs;
    try {
      const res = await request(this.endpointUrl(endpoint), {
        method: 'POST',
        body,
        headers: { ...this.headers, 'x-request-id': requestId },
        dispatcher: this.agent,
        signal,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      const text = await res.body.text();
      const rid = res.headers['x-request-id'];
      return { status: res.statusCode, body: text, requestId: typeof rid === 'string' ? rid : null };
    } catch (err) {
      throw classify(err, signal);
    }
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

function classify(err: unknown, signal?: AbortSignal): UpstreamFailure {
  if (signal?.aborted) return new UpstreamFailure('aborted', 'request aborted');
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new UpstreamFailure('timeout', `vLLM did not answer within the request timeout`);
  }
  return new UpstreamFailure(
    'connection_error',
    `could not reach vLLM: ${(err as Error).message ?? String(err)}`,
  );
}
