import fc from 'fast-check';

/**
 * Text as users and models really produce it, for property tests: any code point of the whole
 * Unicode range (astral planes included), printable graphemes made of several code points (combining
 * marks, emoji with modifiers and joiners), and the characters that break naive line handling
 * (U+2028/U+2029, RTL marks, a BOM, CR/LF, quotes, backslashes). No NUL and no lone surrogates:
 * UTF-8 cannot carry a lone surrogate, and PostgreSQL text refuses NUL.
 */
const SPECIALS = [
  '\u2028',
  '\u2029',
  '\u200f',
  '\u202e',
  '\ufeff',
  '\r\n',
  '\n',
  '"',
  '\\',
  '\t',
  'e\u0301',
  '👩‍💻',
  '👍🏽',
  '🇫🇷',
  '𠜎',
  'مرحبا',
  '中文',
];

const unit = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }), weight: 4 },
  { arbitrary: fc.constantFrom(...SPECIALS), weight: 2 },
);

export function utf8Text(maxLength = 40): fc.Arbitrary<string> {
  return fc.string({ unit, maxLength }).map((s) => s.split('\u0000').join(''));
}
