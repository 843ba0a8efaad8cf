import { ApiError } from '../../common/api-error';

/** OpenAI's bounds for `expires_after[seconds]` / `output_expires_after.seconds`: 1 hour to 30 days. */
export const MIN_EXPIRY_SECONDS = 3600;
export const MAX_EXPIRY_SECONDS = 30 * 24 * 3600;

/**
 * When a new file created at `createdAt` expires: `seconds` later when the client asked
 * (`expires_after`, a batch's `output_expires_after`), else after `defaultDays`
 * (FILE_DEFAULT_EXPIRY_DAYS, OpenAI's 30 days for batch files); a default of 0 days means never.
 * Only new files get this: existing rows keep the expiry they were written with.
 */
export function expiryAt(
  createdAt: Date,
  seconds: number | null | undefined,
  defaultDays: number,
): Date | null {
  const after = seconds ?? defaultDays * 86_400;
  return after > 0 ? new Date(createdAt.getTime() + after * 1000) : null;
}

/** The upload's `expires_after[anchor]` / `expires_after[seconds]` fields: seconds, or null when absent. */
export function parseExpiresAfter(anchor: string | undefined, seconds: string | undefined): number | null {
  if (anchor === undefined && seconds === undefined) return null;
  if (anchor !== 'created_at') {
    throw ApiError.badRequest(
      "Invalid 'expires_after[anchor]': expected 'created_at'.",
      'expires_after[anchor]',
      'invalid_value',
    );
  }
  const n = Number(seconds);
  if (seconds === undefined || !Number.isInteger(n) || n < MIN_EXPIRY_SECONDS || n > MAX_EXPIRY_SECONDS) {
    throw ApiError.badRequest(
      `Invalid 'expires_after[seconds]': expected an integer between ${MIN_EXPIRY_SECONDS} and ${MAX_EXPIRY_SECONDS}.`,
      'expires_after[seconds]',
      'invalid_value',
    );
  }
  return n;
}
