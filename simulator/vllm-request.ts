/**
 * vLLM's error bodies and the request-parsing helpers every simulated endpoint shares. Pure: the
 * endpoint modules (responses.ts, scoring.ts) and the server (simulator.ts) import them.
 */

export type Json = Record<string, unknown>;

/** vLLM's error body (the flat shape of vLLM's ErrorResponse). */
export interface VllmError {
  object: 'error';
  message: string;
  type: string;
  param: string | null;
  code: number;
}

/**
 * vLLM's error bodies changed shape across releases: older servers answer the flat `VllmError`,
 * newer ones OpenAI's nested `{"error": {message, type, param, code}}`.
 */
export type ErrorFormat = 'flat' | 'nested';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
  ) {
    super(message);
  }

  body(format: ErrorFormat): string {
    if (format === 'nested')
      return JSON.stringify({
        error: { message: this.message, type: this.type, param: null, code: this.status },
      });
    const err: VllmError = {
      object: 'error',
      message: this.message,
      type: this.type,
      param: null,
      code: this.status,
    };
    return JSON.stringify(err);
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, message, 'BadRequestError');

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Simulated tokenizer: one token per 4 UTF-8 bytes, at least 1. */
export function countTokens(text: string): number {
  return Math.max(1, Math.ceil(Buffer.byteLength(text, 'utf8') / 4));
}

/** Text of an OpenAI message content: a string, or the text parts of an array joined by "\n". */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    const parts: string[] = [];
    for (const part of content) {
      if (isObject(part) && typeof part.text === 'string') parts.push(part.text);
    }
    return parts.join('\n');
  }
  return '';
}

/** Optional positive integer field; null/undefined → undefined. */
export function optionalPositiveInt(body: Json, field: string): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw badRequest(`${field} must be an integer, got ${JSON.stringify(v)}.`);
  if (v < 1) throw badRequest(`${field} must be at least 1, got ${v}.`);
  return v;
}

/** FNV-1a over UTF-16 code units: cheap, stable across runs and processes. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Text and token count of a completions/embeddings prompt item: a string or token ids. */
export function promptItem(item: unknown, field: string): { text: string; tokens: number } {
  if (typeof item === 'string') return { text: item, tokens: countTokens(item) };
  if (Array.isArray(item) && item.length > 0 && item.every((t) => typeof t === 'number')) {
    return { text: item.join(' '), tokens: item.length };
  }
  throw badRequest(`${field} must be a string, an array of strings, or token ids.`);
}

/** vLLM's context-length error for a pooling input (embedding, score, rerank). */
export function inputTooLong(maxModelLen: number, tokens: number, purpose: string): HttpError {
  return badRequest(
    `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${tokens} tokens in the input for ${purpose}. Please reduce the length of the input.`,
  );
}
