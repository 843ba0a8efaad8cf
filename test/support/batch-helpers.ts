import OpenAI, { toFile } from 'openai';

/** Arbitrary JSON read from a response in tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export type { BatchEndpoint as Endpoint } from '../../src/common/batch-endpoints';

export interface LineSpec {
  custom_id: string;
  method?: string;
  url?: string;
  body?: Record<string, unknown>;
}

export function chatLine(customId: string, content: string, extra: Record<string, unknown> = {}): LineSpec {
  return {
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'sim-model', messages: [{ role: 'user', content }], max_tokens: 8, ...extra },
  };
}

export function toJsonl(lines: Array<LineSpec | string>): string {
  return lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
}

export async function uploadBatchFile(client: OpenAI, text: string, name = 'input.jsonl'): Promise<string> {
  const file = await client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' });
  return file.id;
}

// Polling is the harness's, shared with the benchmarks.
export { waitForBatch, waitUntil } from './harness';

export interface OutputLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string | null; body: Record<string, any> } | null; // eslint-disable-line @typescript-eslint/no-explicit-any -- arbitrary upstream JSON
  error: { code: string; message: string } | null;
}

/**
 * Downloads a file as a user would and checks what a short or corrupted download would break: the
 * File object's `bytes`, the Content-Length and the bytes received agree.
 */
export async function downloadFile(client: OpenAI, fileId: string): Promise<Buffer> {
  const [file, res] = await Promise.all([client.files.retrieve(fileId), client.files.content(fileId)]);
  const body = Buffer.from(await res.arrayBuffer());
  expect({ fileId, bytes: file.bytes, contentLength: Number(res.headers.get('content-length')) }).toEqual({
    fileId,
    bytes: body.length,
    contentLength: body.length,
  });
  return body;
}

/** An output or error file's lines; each must be one complete JSON object, the last ending in \n. */
export async function readJsonlFile(
  client: OpenAI,
  fileId: string | null | undefined,
): Promise<OutputLine[]> {
  if (!fileId) return [];
  const text = (await downloadFile(client, fileId)).toString('utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as OutputLine);
}
