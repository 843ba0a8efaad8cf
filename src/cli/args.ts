/**
 * Option values as commander parses them: each turns the typed text into the value the command
 * needs, or refuses it with a message that names what was expected.
 */
import { InvalidArgumentError } from 'commander';
import { parseDuration, parseTime } from './format';

export const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
};

export const duration = (v: string): number => {
  try {
    const ms = parseDuration(v);
    if (ms < 1) throw new Error('must be positive');
    return ms;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

/** How long something lasts, with its unit spelt out (`30d`, `12h`; a bare number is refused). */
export const lifetime = (v: string): number => {
  if (!/^\s*\d+(?:\.\d+)?(s|m|h|d)\s*$/.test(v)) {
    throw new InvalidArgumentError(`expected a duration such as 30d or 12h, got "${v}"`);
  }
  return parseDuration(v);
};

/** A point in time (see parseTime) → unix seconds. */
export const time = (v: string): number => {
  try {
    return parseTime(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

export const keyValue = (v: string, previous: Record<string, string>): Record<string, string> => {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${v}"`);
  return { ...previous, [v.slice(0, eq)]: v.slice(eq + 1) };
};

/**
 * A tenant limit: a number `valid` accepts, or `default` (the environment's value; the API's null).
 * The word is kept as is: commander replaces a parsed null with an empty string.
 */
export const limit =
  (valid: (n: number) => boolean, expected: string) =>
  (v: string): number | 'default' => {
    if (v === 'default') return v;
    const n = Number(v);
    if (v.trim() === '' || !valid(n)) throw new InvalidArgumentError(`expected ${expected}, or "default"`);
    return n;
  };

export type UsageGrouping = 'day' | 'model';

/** `day`, `model` or both (`day,model`): the columns usage is broken down by, besides the tenant. */
export const grouping = (v: string): UsageGrouping[] => {
  const parts = v.split(',').map((p) => p.trim());
  if (parts.some((p) => p !== 'day' && p !== 'model') || new Set(parts).size !== parts.length) {
    throw new InvalidArgumentError(`expected day, model or day,model, got "${v}"`);
  }
  return parts as UsageGrouping[];
};
