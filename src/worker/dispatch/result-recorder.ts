import { Logger } from '@nestjs/common';
import { BatchResult } from '../../domain/batches/batch-result';
import { BatchResultRepository } from '../../domain/batches/batch-result.repository';

const FLUSH_ROWS = 500;
const FLUSH_INTERVAL_MS = 250;
/** Above this many unwritten results (PostgreSQL down or slow), dispatch waits for the database. */
const MAX_BUFFERED = 5000;

/**
 * Writes finished lines of one batch to PostgreSQL in groups, at most FLUSH_INTERVAL_MS after they
 * finish, each group in the one exactly-once statement of BatchResultRepository.insert. A failed
 * write keeps the rows and retries.
 */
export class ResultRecorder {
  private buffer: BatchResult[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private roomWaiters: Array<() => void> = [];
  private readonly logger = new Logger('ResultRecorder');

  constructor(
    private readonly results: BatchResultRepository,
    private readonly batchId: string,
  ) {}

  add(result: BatchResult): void {
    this.buffer.push(result);
    if (this.buffer.length >= FLUSH_ROWS) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
  }

  /** Resolves when the buffer has room; dispatch awaits this so memory stays bounded. */
  waitForRoom(): Promise<void> {
    if (this.buffer.length < MAX_BUFFERED) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Writes everything buffered; resolves once it is in PostgreSQL (retrying while it is unreachable). */
  async drain(): Promise<void> {
    while (this.buffer.length > 0 || this.flushing) {
      await this.flush();
    }
  }

  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.flushing) return this.flushing;
    if (this.buffer.length === 0) return Promise.resolve();
    const rows = this.buffer;
    this.buffer = [];
    this.flushing = this.results
      .insert(this.batchId, rows)
      .catch(async (err) => {
        this.logger.warn(
          `could not record ${rows.length} result(s) of ${this.batchId}, will retry: ${(err as Error).message}`,
        );
        this.buffer = rows.concat(this.buffer);
        await new Promise((r) => setTimeout(r, 1000));
      })
      .finally(() => {
        this.flushing = null;
        if (this.buffer.length < MAX_BUFFERED) {
          const waiters = this.roomWaiters;
          this.roomWaiters = [];
          waiters.forEach((w) => w());
        }
        if (this.buffer.length > 0 && !this.timer)
          this.timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
      });
    return this.flushing;
  }
}
