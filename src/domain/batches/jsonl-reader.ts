import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export interface JsonlLine {
  /** 1-based physical line number, as users count lines in their editor. */
  lineNo: number;
  text: string;
}

/** A line longer than the reader's bound, reported instead of being buffered. */
export interface TooLongLine {
  lineNo: number;
  tooLong: true;
}

/**
 * Splits a byte stream into lines without holding more than one line (plus one chunk) in memory.
 * Handles LF and CRLF, a UTF-8 BOM, and a last line without a newline. Blank lines are skipped (but
 * counted, so later line numbers stay true). A line longer than `maxLineBytes` is reported as such
 * instead of being buffered without bound.
 */
export async function* readJsonlLines(
  stream: Readable,
  maxLineBytes = 32 * 1024 * 1024,
): AsyncGenerator<JsonlLine | TooLongLine> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let lineNo = 0;
  let first = true;
  let skippingLongLine = false;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let text = decoder.write(chunk);
    // Only once a character has arrived: a first chunk shorter than the 3-byte BOM decodes to ''.
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    let start = 0;
    let nl = text.indexOf('\n', start);
    while (nl !== -1) {
      const piece = text.slice(start, nl);
      lineNo++;
      if (skippingLongLine) {
        skippingLongLine = false;
        pending = '';
      } else {
        const line = pending + piece;
        pending = '';
        const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
        // Checked here too, not only on the carried-over part: otherwise a long line that happens to
        // sit inside one chunk passed while the same line across two chunks was refused.
        if (line.length > maxLineBytes) yield { lineNo, tooLong: true };
        else if (trimmed.trim() !== '') yield { lineNo, text: trimmed };
      }
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    if (!skippingLongLine) {
      pending += text.slice(start);
      if (pending.length > maxLineBytes) {
        // Report once, then discard the rest of this line as it streams by.
        yield { lineNo: lineNo + 1, tooLong: true };
        skippingLongLine = true;
        pending = '';
      }
    }
  }
  const rest = pending + decoder.end();
  if (!skippingLongLine && rest.trim() !== '') {
    lineNo++;
    if (rest.length > maxLineBytes) yield { lineNo, tooLong: true };
    else yield { lineNo, text: rest.endsWith('\r') ? rest.slice(0, -1) : rest };
  }
}
