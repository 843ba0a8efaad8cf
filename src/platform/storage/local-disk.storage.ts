import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { createWriteStream, type WriteStream } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomId } from '../../common/ids';
import { ByteCounter } from './byte-counter';
import { StorageDriver, StorageNotFoundError, StoredObject, SWEEP_EVERY_MS } from './storage.types';

const SAFE_KEY = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/;

/**
 * Local-disk storage. Writes go to a temporary name in the same directory and are renamed into place
 * only when complete, so a reader never sees half a file and an aborted upload leaves no stray bytes.
 */
export class LocalDiskStorage implements StorageDriver, OnApplicationBootstrap {
  private readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
  }

  private pathFor(key: string): string {
    if (!SAFE_KEY.test(key) || key.includes('..')) throw new Error(`unsafe storage key: ${key}`);
    return join(this.root, key);
  }

  async put(key: string, body: Readable): Promise<{ bytes: number }> {
    const finalPath = this.pathFor(key);
    const tmpPath = `${finalPath}.${randomId(8)}.partial`;
    // The caller may destroy the source while the directory is being made (an upload refused
    // early): until pipeline() owns the stream, its error must not go unhandled and crash the
    // process. pipeline() still sees it, as the stream is then already errored.
    const early = (): void => undefined;
    body.on('error', early);
    const counter = new ByteCounter();
    let file: WriteStream | null = null;
    try {
      await mkdir(join(finalPath, '..'), { recursive: true });
      file = createWriteStream(tmpPath, { flags: 'wx' });
      await pipeline(body, counter, file);
      await rename(tmpPath, finalPath);
    } catch (err) {
      // Stop reading a source we will not store (pipeline has already done so unless mkdir failed).
      body.destroy();
      // A source that fails at once can beat the file's own open: the stream then still creates the
      // file (and closes it) after pipeline() has given up, so wait for that before removing it.
      if (file && !file.closed) await new Promise<void>((resolve) => file!.once('close', () => resolve()));
      await rm(tmpPath, { force: true });
      throw err;
    } finally {
      body.off('error', early);
    }
    return { bytes: counter.bytes };
  }

  async get(key: string): Promise<StoredObject> {
    const path = this.pathFor(key);
    let handle;
    try {
      // One descriptor for both the size and the bytes: a rename between a stat and an open could
      // otherwise pair one file's size with another's content.
      handle = await open(path, 'r');
    } catch {
      throw new StorageNotFoundError(key);
    }
    try {
      const { size } = await handle.stat();
      return { body: handle.createReadStream({ highWaterMark: 256 * 1024 }), bytes: size };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathFor(key), { force: true });
  }

  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root);
  }

  /**
   * A process killed mid-write (SIGKILL, OOM, power loss) cannot remove its `.partial` file. Those
   * are swept at start and hourly once idle for PARTIAL_MAX_IDLE_MS: no live write stays idle that
   * long (Node ends an HTTP request after 5 minutes), so another replica's upload is never touched.
   */
  onApplicationBootstrap(): void {
    this.sweep();
  }

  @Interval(SWEEP_EVERY_MS)
  sweep(): void {
    this.sweepPartials().catch((err) =>
      new Logger('Storage').warn(`sweeping partial files failed: ${(err as Error).message}`),
    );
  }

  /** Removes `.partial` files not written to for `maxIdleMs`; returns how many. */
  async sweepPartials(maxIdleMs = PARTIAL_MAX_IDLE_MS, now = Date.now()): Promise<number> {
    let removed = 0;
    // A folder removed mid-listing fails the whole listing: the next sweep tries again.
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isFile() || !e.name.endsWith('.partial')) continue;
      const path = join(e.parentPath, e.name);
      const info = await stat(path).catch(() => null);
      if (info && now - info.mtimeMs > maxIdleMs) {
        await rm(path, { force: true });
        removed++;
      }
    }
    if (removed > 0)
      new Logger('Storage').log(`removed ${removed} partial file(s) left by an interrupted write`);
    return removed;
  }
}

/** How long a `.partial` file must be idle before the sweep treats it as a crashed write's leftover. */
export const PARTIAL_MAX_IDLE_MS = 15 * 60_000;
