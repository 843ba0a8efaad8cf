import { WorkerHost } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { Queue } from 'bullmq';
import { withTimeout } from '../../common/with-timeout';

/** Longest wait for a connection still being made when the process stops. */
const SETTLE_TIMEOUT_MS = 3000;

/**
 * Waits (bounded, never failing) until a queue's or worker's Redis connections are made, so that
 * closing it next does not hit BullMQ's close-while-connecting error described below.
 */
export function settled(connectable: { waitUntilReady(): Promise<unknown> }): Promise<void> {
  return withTimeout(connectable.waitUntilReady(), SETTLE_TIMEOUT_MS, 'connecting').then(
    () => undefined,
    () => undefined,
  );
}

/**
 * A BullMQ connection closed while it is still connecting (a process stopped right after it
 * started) rejects its own start-up after its error listeners are gone, which surfaces as an
 * unhandled "Connection is closed" error and can fail the exit. So before Nest closes queues and
 * workers (in onApplicationShutdown), let every connection finish connecting, for a bounded time.
 * A processor that closes its worker earlier itself (the batch worker's hand-back) calls `settled`
 * first.
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
          ? settled(instance)
          : instance instanceof WorkerHost && instance.worker
            ? settled(instance.worker)
            : null,
      );
    await Promise.all(pending);
  }
}
