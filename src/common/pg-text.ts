/**
 * PostgreSQL cannot store every JavaScript string: `text` rejects NUL (U+0000), `jsonb` rejects the
 * `\u0000` escape and unpaired UTF-16 surrogates, and a lone surrogate sent as text silently becomes
 * U+FFFD (so it would not come back as sent). Both arrive easily from hostile input ("\u0000" in a
 * JSON string, an emoji cut in half by a `slice`), and one such value in a batched INSERT fails the
 * whole statement again and again: a batch stuck forever. User values are checked with
 * `isStorableText` (and refused with a 400 or a validation error); text we compose ourselves or
 * receive from upstream is made safe with `storableText`.
 */

/** ES2024's native checks, in Node 20 (this project's TypeScript lib stops at ES2022). */
interface WellFormed {
  isWellFormed(): boolean;
  toWellFormed(): string;
}
const wellFormed = (s: string): WellFormed => s as unknown as WellFormed;

export function isStorableText(s: string): boolean {
  return !s.includes('\u0000') && wellFormed(s).isWellFormed();
}

/** NUL and unpaired surrogates replaced by U+FFFD (the string itself when it has neither: no copy). */
export function storableText(s: string): string;
export function storableText(s: string | null): string | null;
export function storableText(s: string | null): string | null {
  if (s === null || isStorableText(s)) return s;
  return wellFormed(s.replaceAll('\u0000', '\uFFFD')).toWellFormed();
}
