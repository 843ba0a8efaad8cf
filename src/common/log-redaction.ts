/**
 * Query parameters whose values never reach the log. Keys belong in the Authorization header (which
 * is redacted), but clients do put them in URLs (`?api_key=...`), and the request log printed the
 * URL and the parsed query in full.
 */
const SECRET_PARAM = /^(api[-_]?key|key|token|access[-_]?token|auth|authorization|password|secret)$/i;
const CENSOR = '[redacted]';

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/** The URL with the values of secret-looking query parameters replaced by [redacted]. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=');
      const name = eq === -1 ? p : p.slice(0, eq);
      return SECRET_PARAM.test(decodeName(name)) ? `${name}=${CENSOR}` : p;
    });
  return `${url.slice(0, q + 1)}${params.join('&')}`;
}

export function redactQuery(query: unknown): unknown {
  if (query === null || typeof query !== 'object') return query;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(query)) out[k] = SECRET_PARAM.test(k) ? CENSOR : v;
  return out;
}

/** pino-http request serializer (receives pino's standard serialization of the request). */
export function redactRequestLog(req: { url?: string; query?: unknown }): unknown {
  return {
    ...req,
    url: typeof req.url === 'string' ? redactUrl(req.url) : req.url,
    query: redactQuery(req.query),
  };
}
