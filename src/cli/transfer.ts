/**
 * Moving file bytes: the upload streams the input file into the SDK's multipart body (never the whole
 * file in memory) and counts what the request has taken; downloads stream each file to disk.
 */
import { SingleBar } from 'cli-progress';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import OpenAI, { toStreamingFile } from 'openai';
import { CliContext } from './context';
import { formatBytes } from './format';

/** Below this, an upload ends before a bar could say anything useful. */
const BAR_FROM_BYTES = 1024 * 1024;

export async function uploadFile(
  ctx: CliContext,
  file: string,
  size: number,
  signal: AbortSignal,
): Promise<OpenAI.Files.FileObject> {
  const bar =
    ctx.interactive && size >= BAR_FROM_BYTES
      ? new SingleBar({
          stream: ctx.io.stderr as NodeJS.WritableStream,
          format: 'uploading  {bar} {percentage}% | {sent} / {size}',
          hideCursor: true,
          clearOnComplete: true,
        })
      : null;
  bar?.start(size, 0, { sent: formatBytes(0), size: formatBytes(size) });
  let sent = 0;
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      // Yielded when the request body asks for more: the count follows what the socket takes.
      sent += chunk.length;
      bar?.update(sent, { sent: formatBytes(sent) });
      yield chunk;
    }
  }
  try {
    return await ctx.client.files.create(
      { file: toStreamingFile(counted(), basename(file), { type: 'application/jsonl' }), purpose: 'batch' },
      // A streamed body cannot be sent twice: a retry would upload nothing.
      { maxRetries: 0, signal },
    );
  } finally {
    bar?.stop();
  }
}

/**
 * Streams one file's content to `path`, through `<path>.part` so that an interrupted download never
 * leaves a file that looks complete.
 */
export async function downloadTo(
  ctx: CliContext,
  fileId: string,
  path: string,
  signal: AbortSignal,
): Promise<number> {
  const res = await ctx.client.files.content(fileId, { signal });
  if (!res.body) throw new Error(`the content of ${fileId} came without a body`);
  const partial = `${path}.part`;
  let bytes = 0;
  const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => (bytes += chunk.length));
  try {
    await pipeline(body, createWriteStream(partial), { signal });
    await rename(partial, path);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return bytes;
}
