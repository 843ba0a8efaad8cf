/**
 * A real local webhook receiver (node:http on a free port) for the webhook tests: it records every
 * request (path, headers, raw body) and answers each path with a programmable status.
 */
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
}

export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  /** Statuses to answer next, per path (then 200). */
  private readonly scripted = new Map<string, number[]>();
  private readonly always = new Map<string, number>();

  private constructor(private readonly server: Server) {}

  static async start(port = 0): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const status = receiver.scripted.get(path)?.shift() ?? receiver.always.get(path) ?? 200;
        receiver.received.push({
          path,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          status,
        });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The next `statuses.length` requests to `path` are answered with these statuses. */
  answerNext(path: string, ...statuses: number[]): void {
    this.scripted.set(path, [...(this.scripted.get(path) ?? []), ...statuses]);
  }

  /** Every request to `path` gets `status` (null: back to 200). */
  answerAlways(path: string, status: number | null): void {
    if (status === null) this.always.delete(path);
    else this.always.set(path, status);
  }

  /** Requests whose body is about batch `batchId`. */
  about(batchId: string): ReceivedWebhook[] {
    return this.received.filter((r) => {
      try {
        return (JSON.parse(r.body) as { data?: { id?: string } }).data?.id === batchId;
      } catch {
        return false;
      }
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A Standard Webhooks secret for tests: `whsec_` + base64 of 32 random-looking bytes. */
export const testWebhookSecret = (seed: string): string =>
  `whsec_${Buffer.from(seed.padEnd(32, '#').slice(0, 32)).toString('base64')}`;
