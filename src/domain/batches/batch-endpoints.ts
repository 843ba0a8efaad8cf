/** Which endpoints a batch may target: the domain's rules over the catalogue in common/. */
import { BatchEndpoint, isKnownBatchEndpoint } from '../../common/batch-endpoints';

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
