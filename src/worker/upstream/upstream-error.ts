import type { ErrorEnvelope } from '../../common/api-error';

/** Longest upstream text kept as a message: a proxy's HTML error page is not worth more. */
const MAX_MESSAGE_CHARS = 4000;

type ErrorFields = ErrorEnvelope['error'];

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** OpenAI's error type for an HTTP status, used when the upstream gave none in OpenAI's own words. */
function typeForStatus(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** OpenAI's types are snake_case (`invalid_request_error`); vLLM's are class names (`BadRequestError`). */
const isOpenAiType = (t: unknown): t is string => typeof t === 'string' && /^[a-z]+(_[a-z]+)*$/.test(t);

/** OpenAI's `code` is a string or null; vLLM puts the HTTP status there as a number. */
const codeOf = (c: unknown): string | null => (typeof c === 'string' && c !== '' ? c : null);
const paramOf = (p: unknown): string | null => (typeof p === 'string' && p !== '' ? p : null);

function clip(text: string): string {
  const chars = [...text];
  return chars.length > MAX_MESSAGE_CHARS ? `${chars.slice(0, MAX_MESSAGE_CHARS).join('')}…` : text;
}

function fields(status: number, message: string, raw: Record<string, unknown>): ErrorFields {
  return {
    message: clip(message),
    type: isOpenAiType(raw.type) ? raw.type : typeForStatus(status),
    param: paramOf(raw.param),
    code: codeOf(raw.code),
  };
}

/** FastAPI's validation errors: `{"detail": "…"}` or `{"detail": [{"loc": [...], "msg": "…"}, …]}`. */
function detailMessage(detail: unknown): string | null {
  if (typeof detail === 'string') return detail;
  if (!Array.isArray(detail)) return null;
  const parts = detail.map((d) =>
    isRecord(d) && typeof d.msg === 'string'
      ? Array.isArray(d.loc)
        ? `${d.loc.join('.')}: ${d.msg}`
        : d.msg
      : JSON.stringify(d),
  );
  return parts.length ? parts.join('; ') : null;
}

/**
 * The body of a failed line in OpenAI's envelope, `{"error": {message, type, param, code}}`, whatever
 * the upstream sent: vLLM's older flat error object, its newer nested one, FastAPI's `detail`, a
 * proxy's plain-text or HTML page, or nothing at all. Code written for OpenAI reads
 * `response.body.error.message`; the upstream's own message is kept there.
 */
export function toOpenAiErrorBody(status: number, text: string | null): ErrorEnvelope {
  const raw = (text ?? '').trim();
  let parsed: unknown;
  try {
    parsed = raw === '' ? undefined : JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (isRecord(parsed)) {
    const nested = parsed.error;
    if (isRecord(nested) && typeof nested.message === 'string')
      return { error: fields(status, nested.message, nested) };
    if (typeof nested === 'string') return { error: fields(status, nested, parsed) };
    if (typeof parsed.message === 'string') return { error: fields(status, parsed.message, parsed) };
    const detail = detailMessage(parsed.detail);
    if (detail !== null) return { error: fields(status, detail, {}) };
  }
  const message =
    raw === ''
      ? `The upstream server answered HTTP ${status} with an empty body.`
      : parsed === undefined
        ? raw
        : `The upstream server answered HTTP ${status}: ${raw}`;
  return { error: fields(status, message, {}) };
}
