import { createHash, randomBytes } from 'node:crypto';

/** Random bytes in a key: far beyond guessing, which is why a plain SHA-256 is enough to store it. */
const KEY_BYTES = 32;
/** "sk-" and 4 characters of the random part: tells keys apart, gives away 24 of 256 bits. */
const PREFIX_LENGTH = 7;

/** The hex SHA-256 stored for a key (and looked up when one is presented). */
export function apiKeyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new key (shown once), its hash (stored) and its prefix (shown to operators). */
export function newApiKey(): { key: string; hash: string; prefix: string } {
  const key = `sk-${randomBytes(KEY_BYTES).toString('base64url')}`;
  return { key, hash: apiKeyHash(key), prefix: key.slice(0, PREFIX_LENGTH) };
}
