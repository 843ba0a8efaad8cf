/**
 * Which endpoints a batch may target. Pure constants and checks, with no dependencies, so the
 * configuration, the API and the worker read the same list.
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

/** Endpoints beyond OpenAI's Batch API. */
export const EXTENSION_BATCH_ENDPOINTS: readonly BatchEndpoint[] = ['/v1/score', '/v1/rerank'];

/**
 * OpenAI Batch endpoints with no vLLM counterpart. Code written for OpenAI may send them, so the
 * refusal says why instead of calling them invalid.
 */
export const UNSERVED_OPENAI_ENDPOINTS: readonly string[] = [
  '/v1/moderations',
  '/v1/images/generations',
  '/v1/images/edits',
  '/v1/videos',
];

export const isKnownBatchEndpoint = (v: string): v is BatchEndpoint =>
  (KNOWN_BATCH_ENDPOINTS as readonly string[]).includes(v);

/**
 * Why a batch may not target `endpoint` in a deployment that offers `allowed`, or null when it
 * may. The caller turns the reason into a 400 `invalid_value` on `endpoint`.
 */
export function endpointRefusal(endpoint: string, allowed: readonly BatchEndpoint[]): string | null {
  if ((allowed as readonly string[]).includes(endpoint)) return null;
  const supported = `Supported: ${allowed.join(', ')}.`;
  if (UNSERVED_OPENAI_ENDPOINTS.includes(endpoint)) {
    return `The endpoint '${endpoint}' is not available here: this deployment runs on vLLM, which does not serve it. ${supported}`;
  }
  if (isKnownBatchEndpoint(endpoint)) {
    return `The endpoint '${endpoint}' is not enabled on this deployment (BATCH_ENDPOINTS). ${supported}`;
  }
  return `Invalid 'endpoint': '${endpoint.slice(0, 100)}'. ${supported}`;
}
