import { Transform, TransformCallback } from 'node:stream';

/**
 * A pass-through that hands on Buffers only and counts their bytes. A producer may write strings
 * (an async generator of JSONL text, `Readable.from(strings)`): counting those by `.length` counts
 * UTF-16 units, not bytes, and every non-ASCII character made a file's recorded size too small.
 * Converting here, in front of every driver, makes the count the bytes that reach storage.
 */
export class ByteCounter extends Transform {
  bytes = 0;

  constructor() {
    // Strings stay strings on the writable side (no decoding by the stream), so each is encoded
    // exactly once, below.
    super({ decodeStrings: false });
  }

  override _transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.bytes += buf.length;
    cb(null, buf);
  }
}
