import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random bytes drawn in blocks: one call to the CSPRNG per ~170 ids instead of one per id. */
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** Random, URL-safe id body (24 chars ≈ 142 bits): never derived from user input. */
export function randomId(length = 24): string {
  if (poolOffset + length > pool.length) {
    pool = randomBytes(Math.max(POOL_SIZE, length));
    poolOffset = 0;
  }
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[pool[poolOffset + i] % ALPHABET.length];
  poolOffset += length;
  return out;
}

export const newFileId = (): string => `file-${randomId()}`;
export const newBatchId = (): string => `batch_${randomId()}`;
export const newBatchRequestId = (): string => `batch_req_${randomId()}`;
/** A webhook event's id, shaped like OpenAI's; also its `webhook-id` header, stable across retries. */
export const newWebhookEventId = (): string => `evt_${randomId()}`;
/** The id sent upstream with each attempt of a line (`X-Request-Id`), shaped like OpenAI's. */
export const newUpstreamRequestId = (): string => `req_${randomId()}`;

/** Ids we hand out are short and alphanumeric; anything else (paths, huge strings) is simply unknown. */
export function isWellFormedId(id: string, prefix: string): boolean {
  return id.length <= 64 && id.startsWith(prefix) && /^[A-Za-z0-9_-]+$/.test(id);
}
/** An admin-made API key's id (the key itself is a separate secret). */
export const newApiKeyId = (): string => `key_${randomId()}`;
