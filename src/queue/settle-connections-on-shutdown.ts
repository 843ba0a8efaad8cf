import { WorkerHost } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { Queue } from 'bullmq';
import { withTimeout } from '../common/with-timeout';

/** Longest wait for a connection still being made when the process stops. */
const SETTLE_TIMEOUT_MS = 3000;

/**
 * A BullMQ connection closed while it is still connecting (a process stopped right after it
 * started) rejects its own start-up after its error listeners are gone, which surfaces as an
 * unhandled "Connection is closed" error and can fail the exit. So before Nest closes queues and
 * workers (in onApplicationShutdown), let every connection finish connecting, for a bounded time.
 */
@Injectable()
export class SettleConnectionsOnShutdown implements BeforeApplicationShutdown {
  constructor(private readonly discovery: DiscoveryService) {}

  async beforeApplicationShutdown(): Promise<void> {
    const pending = this.discovery
      .getProviders()
      .map((wrapper) => wrapper.instance as unknown)
      .map((instance) =>
        instance instanceof Queue
          ? instance.waitUntilReady()
          : instance instanceof WorkerHost && instance.worker
            ? instance.worker.waitUntilReady()
            : null,
      )
      .filter((p): p is Promise<never> => p !== null)
      .map((p) => withTimeout(p, SETTLE_TIMEOUT_MS, 'connecting').catch(() => undefined));
    await Promise.all(pending);
  }
}
