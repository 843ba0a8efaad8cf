import { Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { rateLimitedWarning } from '../../../common/rate-limited-warning';
import { parseUpstreamsFile, UpstreamsFileDefaults, UpstreamsFileError } from './upstreams-file';
import { endpointCount, sameUpstreamList, UpstreamSource, UpstreamSpec } from './upstream-spec';

export interface FileUpstreamSourceOptions {
  path: string;
  defaults: UpstreamsFileDefaults;
  logger: Logger;
  /** How often the file's content is compared, in case no change event arrives (ms). */
  pollIntervalMs?: number;
  /** Quiet time after the last change event before reading (a ConfigMap update is several events). */
  debounceMs?: number;
  /** Where SIGHUP comes from (the process; a plain emitter in tests). */
  signals?: NodeJS.EventEmitter;
}

const DEFAULT_POLL_MS = 3000;
const DEFAULT_DEBOUNCE_MS = 200;
const READ_WARNING_INTERVAL_MS = 60_000;

function describeChange(before: UpstreamSpec[], after: UpstreamSpec[]): string {
  const old = new Map(before.map((s) => [s.url, s]));
  const now = new Map(after.map((s) => [s.url, s]));
  const added = after.filter((s) => !old.has(s.url)).map((s) => s.url);
  const removed = before.filter((s) => !now.has(s.url)).map((s) => s.url);
  const changed = after
    .filter((s) => old.has(s.url) && !sameUpstreamList([s], [old.get(s.url)!]))
    .map((s) => s.url);
  const parts = [
    added.length > 0 ? `added ${added.join(', ')}` : '',
    removed.length > 0 ? `removed ${removed.join(', ')}` : '',
    changed.length > 0 ? `changed ${changed.join(', ')}` : '',
  ].filter(Boolean);
  return parts.join('; ');
}

/**
 * UPSTREAMS_FILE: read and checked at start (an invalid file stops the start), then reloaded on
 * SIGHUP and whenever the file changes, without a restart. Kubernetes updates a ConfigMap volume by
 * swapping the `..data` symlink in the mounted directory, so a watch on the file itself would stay
 * on the old target and miss the update: the directory is watched instead, and the content is also
 * compared every few seconds because watch events are not guaranteed (network filesystems, inotify
 * limits, a symlink to a file elsewhere). A reload that fails its check keeps the list in use and
 * says why: a typo must never take a running worker's replicas away.
 */
export class FileUpstreamSource implements UpstreamSource {
  readonly kind = 'file' as const;
  private readonly path: string;
  private current: UpstreamSpec[] = [];
  /** Hash of the last content read, valid or not: a bad file is reported once, not every poll. */
  private lastHash: string | null = null;
  private onChange: ((specs: UpstreamSpec[]) => void) | null = null;
  private watcher: FSWatcher | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private queued = false;
  private stopped = false;
  private readonly warnRead: (message: string) => void;
  private readonly onSighup = (): void => {
    this.logger.log(`SIGHUP: reloading UPSTREAMS_FILE ${this.path}`);
    void this.reload(true);
  };

  constructor(private readonly options: FileUpstreamSourceOptions) {
    this.path = resolve(options.path);
    this.warnRead = rateLimitedWarning(options.logger, READ_WARNING_INTERVAL_MS);
  }

  private get logger(): Logger {
    return this.options.logger;
  }

  async start(onChange: (specs: UpstreamSpec[]) => void): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      throw new UpstreamsFileError(`UPSTREAMS_FILE ${this.path}: cannot read it (${(err as Error).message})`);
    }
    this.current = parseUpstreamsFile(text, this.options.defaults);
    this.lastHash = hash(text);
    this.onChange = onChange;
    this.stopped = false;
    onChange(this.current.map((s) => ({ ...s })));

    (this.options.signals ?? process).on('SIGHUP', this.onSighup);
    this.watchDirectory();
    this.pollTimer = setInterval(
      () => void this.reload(false),
      this.options.pollIntervalMs ?? DEFAULT_POLL_MS,
    );
    this.pollTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    (this.options.signals ?? process).off('SIGHUP', this.onSighup);
    this.watcher?.close();
    this.watcher = null;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.pollTimer = this.debounceTimer = null;
    await this.chain;
  }

  describe(): string {
    return `UPSTREAMS_FILE ${this.path} (${endpointCount(this.current.length)})`;
  }

  /**
   * Reads the file again and applies it if it is valid and different. `force` re-reads content
   * already seen (SIGHUP: the operator asked, so a still-invalid file is reported again).
   * Reloads run one at a time; one more is queued at most.
   */
  reload(force = false): Promise<void> {
    if (this.queued && !force) return this.chain;
    this.queued = true;
    this.chain = this.chain.then(async () => {
      this.queued = false;
      if (this.stopped) return;
      try {
        await this.reloadNow(force);
      } catch (err) {
        // Never let a reload take the worker down; the list in use stays.
        this.logger.warn(`UPSTREAMS_FILE ${this.path}: reload failed (${(err as Error).message})`);
      }
    });
    return this.chain;
  }

  private async reloadNow(force: boolean): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      this.warnRead(
        `UPSTREAMS_FILE ${this.path}: cannot read it (${(err as Error).message}); ` +
          `keeping the ${endpointCount(this.current.length)} in use`,
      );
      return;
    }
    const digest = hash(text);
    if (!force && digest === this.lastHash) return;
    this.lastHash = digest;
    let specs: UpstreamSpec[];
    try {
      specs = parseUpstreamsFile(text, this.options.defaults);
    } catch (err) {
      if (!(err instanceof UpstreamsFileError)) throw err;
      this.logger.warn(
        `${err.message} — reload refused, keeping the ${endpointCount(this.current.length)} in use`,
      );
      return;
    }
    if (this.stopped || sameUpstreamList(specs, this.current)) return;
    const change = describeChange(this.current, specs);
    this.current = specs;
    this.logger.log(`UPSTREAMS_FILE ${this.path} reloaded (${endpointCount(specs.length)}): ${change}`);
    this.onChange?.(specs.map((s) => ({ ...s })));
  }

  private watchDirectory(): void {
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, () => this.scheduleReload());
      this.watcher.on('error', (err) => {
        this.logger.warn(
          `UPSTREAMS_FILE: watching ${dirname(this.path)} failed (${err.message}); ` +
            'changes are still picked up by comparing the file every few seconds',
        );
        this.watcher?.close();
        this.watcher = null;
      });
    } catch (err) {
      this.logger.warn(
        `UPSTREAMS_FILE: cannot watch ${dirname(this.path)} (${(err as Error).message}); ` +
          'changes are picked up by comparing the file every few seconds',
      );
    }
  }

  private scheduleReload(): void {
    if (this.stopped) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      void this.reload(false);
    }, this.options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.debounceTimer.unref();
  }
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
