/** A line's token usage in the batch's recorded columns, whatever the endpoint. */
export interface LineUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const toInt = (v: unknown): number =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0;

const field = (obj: unknown, key: string): unknown => (isObject(obj) ? obj[key] : undefined);

/**
 * Reads the `usage` of an upstream answer into one shape. Chat, completions, embeddings and score
 * answer `prompt_tokens` / `completion_tokens` (details: `prompt_tokens_details.cached_tokens`,
 * `completion_tokens_details.reasoning_tokens`); Responses answers `input_tokens` / `output_tokens`
 * (details: `input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`); some
 * vLLM releases' rerank answers only `total_tokens`, which is then all prompt (a pooling model
 * generates nothing). Anything missing or malformed counts as 0.
 */
export function normaliseUsage(usage: unknown): LineUsage {
  if (!isObject(usage)) return { promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 };
  const responsesShape = usage.input_tokens !== undefined || usage.output_tokens !== undefined;
  if (responsesShape) {
    return {
      promptTokens: toInt(usage.input_tokens),
      completionTokens: toInt(usage.output_tokens),
      cachedTokens: toInt(field(usage.input_tokens_details, 'cached_tokens')),
      reasoningTokens: toInt(field(usage.output_tokens_details, 'reasoning_tokens')),
    };
  }
  const completionTokens = toInt(usage.completion_tokens);
  const promptTokens =
    usage.prompt_tokens !== undefined
      ? toInt(usage.prompt_tokens)
      : Math.max(0, toInt(usage.total_tokens) - completionTokens);
  return {
    promptTokens,
    completionTokens,
    cachedTokens: toInt(field(usage.prompt_tokens_details, 'cached_tokens')),
    reasoningTokens: toInt(field(usage.completion_tokens_details, 'reasoning_tokens')),
  };
}
