/**
 * Secrets never reach the log, by rule rather than by list: clients send keys in headers we never
 * heard of (`api-key` from Azure-style clients, `X-Auth-Token`, `Proxy-Authorization`) and in query
 * strings (`?api_key=`, `?sk=`), and operators put passwords in connection URLs
 * (`postgres://user:pass@db`). A header or query parameter is hidden when its name, split into
 * words on `-` and `_` (and camelCase), holds one of SECRET_WORDS, or is exactly one of
 * SECRET_NAMES; credentials inside any URL in a message are hidden too.
 */
export const CENSOR = '[redacted]';

const SECRET_WORDS = new Set([
  'auth',
  'authorization',
  'key',
  'apikey',
  'token',
  'secret',
  'password',
  'passwd',
  'session',
  'cookie',
  'signature',
]);
const SECRET_NAMES = new Set(['sk', 'code']);

/** True for names such as `api-key`, `x-auth-token`, `Proxy-Authorization`, `sk`, `accessToken`; false for `task`, `disk`. */
export function isSecretName(name: string): boolean {
  const lower = name.toLowerCase();
  if (SECRET_NAMES.has(lower)) return true;
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .split(/[-_]/)
    .some((word) => SECRET_WORDS.has(word));
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/** `scheme://userinfo@`: the user and password of a connection URL (up to the last `@` of the authority). */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]+@/gi;
/** `?name=value` / `&name=value` inside a URL. */
const QUERY_PARAM = /([?&])([^=&\s#?]+)=([^&\s#]*)/g;

/**
 * Any text (a URL, a log message, an error's message or stack) with URL credentials and the values
 * of secret query parameters replaced by [redacted].
 */
export function redactText(text: string): string {
  return text
    .replace(URL_CREDENTIALS, `$1${CENSOR}@`)
    .replace(QUERY_PARAM, (whole, sep: string, name: string) =>
      isSecretName(decodeName(name)) ? `${sep}${name}=${CENSOR}` : whole,
    );
}

/** A copy of a headers or query object with the values of secret names replaced. */
export function redactFields(fields: unknown): unknown {
  if (fields === null || typeof fields !== 'object') return fields;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    out[name] = isSecretName(name) ? CENSOR : typeof value === 'string' ? redactText(value) : value;
  }
  return out;
}

/** pino-http request serializer (receives pino's standard serialization of the request). */
export function redactRequestLog(req: { url?: string; query?: unknown; headers?: unknown }): unknown {
  return {
    ...req,
    url: typeof req.url === 'string' ? redactText(req.url) : req.url,
    query: redactFields(req.query),
    headers: redactFields(req.headers),
  };
}

/** pino-http response serializer: `set-cookie` and any other secret-named header. */
export function redactResponseLog(res: { headers?: unknown }): unknown {
  return { ...res, headers: redactFields(res.headers) };
}

/** pino error serializer: messages and stacks of drivers (pg, ioredis, fetch) may quote a URL. */
export function redactErrorLog(err: { message?: unknown; stack?: unknown }): unknown {
  return {
    ...err,
    message: typeof err.message === 'string' ? redactText(err.message) : err.message,
    stack: typeof err.stack === 'string' ? redactText(err.stack) : err.stack,
  };
}

/**
 * pino's logMethod hook: the message and its printf arguments, and the top-level strings of the
 * object logged with them (e.g. `{ url }`), pass through redactText.
 */
export function redactLogArguments(args: unknown[]): unknown[] {
  return args.map((arg) => {
    if (typeof arg === 'string') return redactText(arg);
    if (arg === null || typeof arg !== 'object' || arg instanceof Error) return arg;
    const out: Record<string, unknown> = { ...(arg as Record<string, unknown>) };
    for (const [k, v] of Object.entries(out)) if (typeof v === 'string') out[k] = redactText(v);
    return out;
  });
}
