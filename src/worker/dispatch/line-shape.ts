/**
 * What the worker can tell about a batch line before sending it: its size in KV-cache tokens
 * (for the concurrency estimate) and the prefix it shares with other lines (for dispatch order).
 */
export interface LineShape {
  /** Prompt tokens, estimated as UTF-8 bytes / 4 (what vLLM's tokenizers give for English text). */
  promptTokens: number;
  /** The generation limit: max_tokens, max_completion_tokens or max_output_tokens, else DEFAULT_MAX_TOKENS (0 for pooling: embeddings, score, rerank). */
  maxTokens: number;
  /** Lines with equal keys start with the same text (system prompt, few-shot examples...). */
  prefixKey: string;
}

/** Assumed generation limit when a line sets none (vLLM's own default is the rest of the context). */
export const DEFAULT_MAX_TOKENS = 256;
/** Characters of the leading text that make the prefix key. */
export const PREFIX_KEY_CHARS = 256;

type Body = Record<string, unknown>;

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    let text = '';
    for (const part of content)
      if (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string')
        text += (text ? '\n' : '') + (part as { text: string }).text;
    return text;
  }
  return '';
}

function limitOf(body: Body): number {
  for (const k of ['max_tokens', 'max_completion_tokens', 'max_output_tokens']) {
    const v = body[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.floor(v);
  }
  return DEFAULT_MAX_TOKENS;
}

const strings = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string') : [];

/** A Responses line's prompt: instructions, then the input string or its items' texts. */
function responsesShape(body: Body): LineShape {
  const input = body.input;
  const items = Array.isArray(input) ? input : [input];
  const texts = strings(body.instructions).concat(
    items.map((item) =>
      typeof item === 'string'
        ? item
        : item && typeof item === 'object'
          ? contentText((item as Body).content)
          : '',
    ),
  );
  const text = texts.join('\n');
  return {
    promptTokens: Math.max(1, Math.ceil(bytes(text) / 4)),
    maxTokens: limitOf(body),
    prefixKey: text.slice(0, PREFIX_KEY_CHARS),
  };
}

/** A score or rerank line: one prefill per pair, keyed by the query (shared by all its pairs). */
function scoringShape(body: Body, endpoint: string): LineShape {
  const left = strings(endpoint === '/v1/rerank' ? body.query : body.text_1);
  const right = strings(endpoint === '/v1/rerank' ? body.documents : body.text_2);
  const leftBytes = left.reduce((n, t) => n + bytes(t), 0);
  // 1:N pairs the one left text with each right one; N:N pairs them one to one.
  const size = right.reduce((n, t) => n + bytes(t), 0) + leftBytes * (left.length === 1 ? right.length : 1);
  return {
    promptTokens: Math.max(1, Math.ceil(size / 4)),
    maxTokens: 0,
    prefixKey: (left[0] ?? '').slice(0, PREFIX_KEY_CHARS),
  };
}

export function lineShape(body: Body, endpoint = ''): LineShape {
  if (endpoint === '/v1/responses') return responsesShape(body);
  if (endpoint === '/v1/score' || endpoint === '/v1/rerank') return scoringShape(body, endpoint);
  const messages = body.messages;
  if (Array.isArray(messages)) {
    let size = -1; // contents joined by newlines
    let prefix = '';
    for (const m of messages) {
      if (!m || typeof m !== 'object') continue;
      const msg = m as { role?: unknown; content?: unknown };
      const text = contentText(msg.content);
      size += bytes(text) + 1;
      if (prefix.length < PREFIX_KEY_CHARS) prefix += `${String(msg.role)}:${text}\n`;
    }
    return {
      promptTokens: Math.max(1, Math.ceil(size / 4)),
      maxTokens: limitOf(body),
      prefixKey: prefix.slice(0, PREFIX_KEY_CHARS),
    };
  }
  const prompt = body.prompt;
  if (prompt !== undefined) {
    const first = Array.isArray(prompt) ? prompt[0] : prompt;
    const text = typeof first === 'string' ? first : Array.isArray(first) ? '' : String(first ?? '');
    const tokens = Array.isArray(first) ? first.length : Math.ceil(bytes(text) / 4);
    return {
      promptTokens: Math.max(1, tokens),
      maxTokens: limitOf(body),
      prefixKey: text.slice(0, PREFIX_KEY_CHARS),
    };
  }
  const input = body.input;
  const texts = Array.isArray(input) ? input : [input];
  let size = 0;
  for (const t of texts) size += typeof t === 'string' ? bytes(t) : Array.isArray(t) ? t.length * 4 : 0;
  return { promptTokens: Math.max(1, Math.ceil(size / 4)), maxTokens: 0, prefixKey: '' };
}
