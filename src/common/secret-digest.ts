import { createHash, timingSafeEqual } from 'node:crypto';

/** The SHA-256 digest of a secret: fixed length, so two digests compare in constant time. */
export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/**
 * Whether `given` is the secret whose digest is `expected`. Comparing digests with timingSafeEqual
 * makes the time taken say nothing about how much of a guess was right, nor about its length.
 */
export function matchesDigest(given: string, expected: Buffer): boolean {
  return timingSafeEqual(secretDigest(given), expected);
}

/** Reads `Authorization: Bearer <token>` from a request's headers. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}
