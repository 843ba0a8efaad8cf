import { KNOWN_BATCH_ENDPOINTS } from '../../common/batch-endpoints';
import { endpointRefusal } from './batch-endpoints';

describe('endpointRefusal', () => {
  const all = [...KNOWN_BATCH_ENDPOINTS];

  it('accepts every endpoint the deployment offers', () => {
    for (const e of all) expect(endpointRefusal(e, all)).toBeNull();
  });

  it("says why OpenAI's endpoints without a vLLM counterpart are refused", () => {
    for (const e of ['/v1/moderations', '/v1/images/generations', '/v1/images/edits', '/v1/videos']) {
      expect(endpointRefusal(e, all)).toMatch(
        new RegExp(`'${e}' is not available here.*vLLM, which does not serve it`),
      );
    }
  });

  it('names the allowed endpoints when one is switched off by BATCH_ENDPOINTS, or unknown', () => {
    const some = ['/v1/chat/completions', '/v1/embeddings'] as const;
    expect(endpointRefusal('/v1/responses', [...some])).toBe(
      "The endpoint '/v1/responses' is not enabled on this deployment (BATCH_ENDPOINTS). Supported: /v1/chat/completions, /v1/embeddings.",
    );
    expect(endpointRefusal('/v1/nope', [...some])).toBe(
      "Invalid 'endpoint': '/v1/nope'. Supported: /v1/chat/completions, /v1/embeddings.",
    );
  });
});
