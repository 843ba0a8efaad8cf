/**
 * The admin API (`/admin/api` on the admin port, HTTP Basic auth) as typed calls over Node's fetch.
 * The shapes are the API's own (snake_case, unix seconds); the CLI is a client of the service over
 * HTTP only, so they are declared here rather than imported from src/api.
 */
import { apiFailure, CliError, unreachable } from './errors';

export interface TenantLimits {
  /** null: the environment's default applies. */
  rate_limit_multiplier: number | null;
  /** 0: unlimited; null: the environment's default. */
  enqueued_token_limit: number | null;
  /** 0: unlimited; null: the environment's default. */
  max_active_batches: number | null;
}

export interface Tenant {
  object: 'tenant';
  id: string;
  tier: string;
  limits: TenantLimits;
  disabled: boolean;
  source: 'database' | 'environment';
  created_at: number | null;
  updated_at: number | null;
  webhook: {
    url: string;
    secret_rotated_at: number | null;
    previous_secret_expires_at: number | null;
  } | null;
}

export interface ApiKey {
  object: 'api_key';
  id: string;
  tenant: string;
  name: string | null;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  expires_at: number | null;
  revoked_at: number | null;
  /** Only in the answer that created it. */
  key?: string;
}

export interface WebhookEndpoint {
  object: 'webhook_endpoint';
  tenant: string;
  url: string;
  /** Only in the answer that set it. */
  secret: string;
  previous_secret_expires_at: number | null;
}

export interface WebhookDeleted {
  object: 'webhook_endpoint.deleted';
  tenant: string;
  deleted: boolean;
}

export interface UsageRow {
  object: 'usage';
  tenant: string;
  day?: string;
  model?: string;
  batches: number;
  requests_completed: number;
  requests_failed: number;
  input_tokens: number;
  cached_tokens: number;
  output_tokens: number;
}

export interface AuditEntry {
  object: 'audit_entry';
  id: string;
  at: number;
  actor: string;
  action: string;
  target: string;
  tenant: string | null;
  address: string | null;
  details: Record<string, unknown> | null;
}

export interface List<T> {
  object: 'list';
  data: T[];
}

/** A tenant's settings as the API takes them: a field left out is left as it is. */
export interface TenantSettings {
  tier?: string;
  limits?: Partial<TenantLimits>;
}

export interface UsageQuery {
  tenant?: string;
  since?: number;
  until?: number;
  /** `day`, `model` or `day,model`. */
  group_by?: string;
}

/** An admin call that hangs this long is reported as such instead of waiting forever. */
const REQUEST_TIMEOUT_MS = 60_000;

type Query = Record<string, string | number | undefined>;

export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly credentials: { user: string; password: string },
  ) {}

  listTenants = () => this.call<List<Tenant>>('GET', '/tenants');
  getTenant = (id: string) => this.call<Tenant>('GET', `/tenants/${enc(id)}`);
  createTenant = (id: string, settings: TenantSettings) =>
    this.call<Tenant>('POST', '/tenants', { body: { id, ...settings } });
  updateTenant = (id: string, settings: TenantSettings) =>
    this.call<Tenant>('PATCH', `/tenants/${enc(id)}`, { body: settings });
  disableTenant = (id: string) => this.call<Tenant>('DELETE', `/tenants/${enc(id)}`);
  enableTenant = (id: string) => this.call<Tenant>('POST', `/tenants/${enc(id)}/enable`);

  setWebhook = (tenant: string, url: string) =>
    this.call<WebhookEndpoint>('PUT', `/tenants/${enc(tenant)}/webhook`, { body: { url } });
  deleteWebhook = (tenant: string) => this.call<WebhookDeleted>('DELETE', `/tenants/${enc(tenant)}/webhook`);

  createKey = (body: { tenant: string; name?: string; expires_at?: number }) =>
    this.call<ApiKey>('POST', '/keys', { body });
  listKeys = (tenant?: string) => this.call<List<ApiKey>>('GET', '/keys', { query: { tenant } });
  revokeKey = (id: string) => this.call<ApiKey>('DELETE', `/keys/${enc(id)}`);

  usage = (query: UsageQuery) => this.call<List<UsageRow>>('GET', '/usage', { query: { ...query } });
  audit = (query: { tenant?: string; limit?: number }) =>
    this.call<List<AuditEntry>>('GET', '/audit', { query });

  private async call<T>(
    method: string,
    path: string,
    opts: { body?: unknown; query?: Query } = {},
  ): Promise<T> {
    const url = new URL(`${this.baseUrl}/admin/api${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const { user, password } = this.credentials;
    const headers: Record<string, string> = {
      authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`,
      accept: 'application/json',
    };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      if ((err as Error).name === 'TimeoutError')
        throw new CliError(`${this.baseUrl} did not answer in time.`);
      throw unreachable(
        err as Error,
        `the admin API at ${this.baseUrl}`,
        'It is served on the admin port (ADMIN_PORT) when the service has ADMIN_USER set. Set --admin-url or VLLM_BATCH_ADMIN_URL.',
      );
    }
    const text = await res.text();
    const body = parseJson(text);
    if (res.ok && body !== undefined) return body as T;
    throw this.failure(res, body, text);
  }

  private failure(res: Response, body: unknown, text: string): CliError {
    const error = (body as { error?: Record<string, unknown> } | undefined)?.error;
    if (error && typeof error.message === 'string') {
      const str = (v: unknown) => (typeof v === 'string' ? v : null);
      const hint =
        res.status === 401
          ? 'Check ADMIN_USER and ADMIN_PASSWORD (or --admin-user and --admin-password).'
          : '';
      return apiFailure(
        {
          status: res.status,
          message: error.message,
          type: str(error.type),
          code: str(error.code),
          param: str(error.param),
        },
        hint,
      );
    }
    // Not the API's envelope: a proxy, or something else listening on that port.
    const excerpt = text.trim().slice(0, 200);
    return apiFailure({
      status: res.status,
      message: `unexpected answer from ${res.url}${excerpt ? `: ${excerpt}` : ''}`,
    });
  }
}

const enc = encodeURIComponent;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
