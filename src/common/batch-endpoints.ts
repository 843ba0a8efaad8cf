/**
 * The endpoints a batch can target, with no dependencies, so the configuration (BATCH_ENDPOINTS),
 * the API and the domain rules (domain/batches/batch-endpoints.ts) read the same list.
 */

/**
 * Every endpoint this service can run a batch against: OpenAI's endpoints that vLLM serves, then
 * vLLM's scoring endpoints (our extension; `vllm run-batch` accepts them offline too).
 * `BATCH_ENDPOINTS` picks the ones a deployment offers.
 */
export const KNOWN_BATCH_ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/score',
  '/v1/rerank',
] as const;
export type BatchEndpoint = (typeof KNOWN_BATCH_ENDPOINTS)[number];

export const isKnownBatchEndpoint = (v: string): v is BatchEndpoint =>
  (KNOWN_BATCH_ENDPOINTS as readonly string[]).includes(v);
