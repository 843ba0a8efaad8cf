/**
 * Estimates the tokens a batch line enqueues, without a tokenizer: the model's tokenizer is not
 * available to the service, and the enqueued-token limit needs only a stable, cheap upper-ish bound.
 * Text counts as ceil(UTF-8 bytes ÷ 4) (about 4 bytes per token for English, fewer tokens per byte
 * for multi-byte scripts, so counting bytes never under-counts them); token-id prompts count one
 * token per id; generating endpoints add the line's output limit.
 */

/** Endpoints that generate text, so a line also enqueues its output budget. */
const GENERATING = new Set(['/v1/chat/completions', '/v1/completions', '/v1/responses']);

const OUTPUT_LIMIT_FIELDS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'] as const;

/** No model has a longer context; caps absurd limits (1e300) so sums stay exact integers. */
const MAX_LINE_OUTPUT = 2 ** 31 - 1;

interface Tally {
  bytes: number;
  ids: number;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A string, a list of strings, token ids, or lists of token ids (completions' prompt, embeddings' input). */
function addPromptLike(t: Tally, v: unknown): void {
  if (typeof v === 'string') t.bytes += Buffer.byteLength(v, 'utf8');
  else if (typeof v === 'number') t.ids += 1;
  else if (Array.isArray(v)) for (const item of v) addPromptLike(t, item);
}

/** Message content: a string, or parts of which the text ones count (images and audio do not). */
function addContent(t: Tally, v: unknown): void {
  if (typeof v === 'string') t.bytes += Buffer.byteLength(v, 'utf8');
  else if (Array.isArray(v)) for (const part of v) addContent(t, part);
  else if (isObject(v)) {
    if (typeof v.text === 'string') t.bytes += Buffer.byteLength(v.text, 'utf8');
    if (v.content !== undefined) addContent(t, v.content);
    // Responses input items: tool outputs carry their text in `output`.
    if (typeof v.output === 'string') t.bytes += Buffer.byteLength(v.output, 'utf8');
  }
}

/** Chat messages: each message's content. */
function addMessages(t: Tally, v: unknown): void {
  if (Array.isArray(v)) for (const m of v) if (isObject(m)) addContent(t, m.content);
}

/** Where each endpoint's input text stands in the body, and how it counts. */
const INPUT_FIELDS = new Map<string, Array<[field: string, add: (t: Tally, v: unknown) => void]>>([
  ['/v1/chat/completions', [['messages', addMessages]]],
  ['/v1/completions', [['prompt', addPromptLike]]],
  ['/v1/embeddings', [['input', addPromptLike]]],
  [
    '/v1/responses',
    [
      ['instructions', addContent],
      ['input', addContent],
    ],
  ],
  [
    '/v1/score',
    [
      ['text_1', addContent],
      ['text_2', addContent],
    ],
  ],
  [
    '/v1/rerank',
    [
      ['query', addContent],
      ['documents', addContent],
    ],
  ],
]);

function inputText(endpoint: string, body: Record<string, unknown>): Tally {
  const t: Tally = { bytes: 0, ids: 0 };
  for (const [field, add] of INPUT_FIELDS.get(endpoint) ?? []) add(t, body[field]);
  return t;
}

/** The line's own output limit, or `defaultMax` when it sets none (vLLM would otherwise fill the context). */
function outputLimit(body: Record<string, unknown>, defaultMax: number): number {
  for (const field of OUTPUT_LIMIT_FIELDS) {
    const v = body[field];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.min(Math.ceil(v), MAX_LINE_OUTPUT);
  }
  return defaultMax;
}

/**
 * Tokens one validated line enqueues: ceil(input text bytes ÷ 4) + token ids + (for generating
 * endpoints) its max_tokens / max_completion_tokens / max_output_tokens or `defaultMax`. Pooling
 * endpoints (embeddings, score, rerank) generate nothing, so they count input only. Pure.
 */
export function estimateLineTokens(
  endpoint: string,
  body: Record<string, unknown>,
  defaultMax: number,
): number {
  const { bytes, ids } = inputText(endpoint, body);
  const output = GENERATING.has(endpoint) ? outputLimit(body, defaultMax) : 0;
  return Math.ceil(bytes / 4) + ids + output;
}
