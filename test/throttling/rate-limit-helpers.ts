import { authHeader } from '../support/harness';

/** A tenant on the `pro` tier; tests that use it add it to API_KEYS themselves. */
export const PRO_TENANT = { tenant: 'tenant-pro', key: 'sk-test-tenant-pro-0003', tier: 'pro' };

export const BATCH_LINE =
  JSON.stringify({
    custom_id: 'r1',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'sim-model', messages: [{ role: 'user', content: 'hi' }] },
  }) + '\n';

/** POST /v1/files with a one-line batch file; `key` null sends no Authorization header. */
export function uploadFile(
  baseUrl: string,
  key: string | null,
  headers: Record<string, string> = {},
): Promise<Response> {
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([BATCH_LINE]), 'input.jsonl');
  return fetch(`${baseUrl}/v1/files`, {
    method: 'POST',
    body: form,
    headers: { ...(key ? authHeader(key) : {}), ...headers },
  });
}

export function createBatch(baseUrl: string, key: string, inputFileId: string): Promise<Response> {
  return fetch(`${baseUrl}/v1/batches`, {
    method: 'POST',
    headers: { ...authHeader(key), 'Content-Type': 'application/json' },
    body: JSON.stringify({
      input_file_id: inputFileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    }),
  });
}

export function listFiles(
  baseUrl: string,
  key: string | null,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${baseUrl}/v1/files`, { headers: { ...(key ? authHeader(key) : {}), ...headers } });
}
