import { ApiError } from '../../common/api-error';
import { isStorableText } from '../../common/pg-text';

/** OpenAI's limits on a batch's `metadata`: pairs, and characters per key and per value. */
export const MAX_METADATA_PAIRS = 16;
export const MAX_METADATA_KEY = 64;
export const MAX_METADATA_VALUE = 512;

/**
 * Characters as OpenAI counts them: Unicode code points. `String.length` counts UTF-16 units, so an
 * emoji (two units) would count twice and a 512-emoji value would be refused.
 */
const chars = (s: string): number => [...s].length;

/** The metadata as stored, or a 400 naming the first limit it breaks. */
export function validateMetadata(
  raw: Record<string, unknown> | null | undefined,
): Record<string, string> | null {
  if (raw === undefined || raw === null) return null;
  const entries = Object.entries(raw);
  if (entries.length > MAX_METADATA_PAIRS) {
    throw ApiError.badRequest(
      `'metadata' may hold at most ${MAX_METADATA_PAIRS} pairs.`,
      'metadata',
      'invalid_value',
    );
  }
  for (const [k, v] of entries) {
    if (chars(k) > MAX_METADATA_KEY) {
      throw ApiError.badRequest(
        `'metadata' keys may be at most ${MAX_METADATA_KEY} characters.`,
        'metadata',
        'invalid_value',
      );
    }
    if (typeof v !== 'string') {
      throw ApiError.badRequest(`'metadata' values must be strings.`, 'metadata', 'invalid_value');
    }
    if (chars(v) > MAX_METADATA_VALUE) {
      throw ApiError.badRequest(
        `'metadata' values may be at most ${MAX_METADATA_VALUE} characters.`,
        'metadata',
        'invalid_value',
      );
    }
    // jsonb refuses NUL and unpaired surrogates: without this check the INSERT failed with a 500.
    if (!isStorableText(k) || !isStorableText(v)) {
      throw ApiError.badRequest(
        `'metadata' keys and values must not contain NUL characters or unpaired surrogates.`,
        'metadata',
        'invalid_value',
      );
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}
