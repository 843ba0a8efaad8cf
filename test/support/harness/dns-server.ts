/**
 * A DNS server of a test's own (UDP, node:dgram), standing in for a cluster DNS in front of a
 * Kubernetes headless Service: it answers A queries for one name with a list of IPv4 addresses the
 * test changes at will (an empty list answers "no data", as Kubernetes does with no ready pod),
 * and NXDOMAIN for any other name. Point VLLM_DISCOVERY_NAMESERVER at `address`. Only what a
 * resolver's plain query needs: one question, no compression in queries, no TCP.
 */
import { createSocket, RemoteInfo, Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';

const TYPE_A = 1;
const CLASS_IN = 1;
const RCODE_FORMERR = 1;
const RCODE_NXDOMAIN = 3;

export interface TestDnsServer {
  /** `127.0.0.1:<port>`, for VLLM_DISCOVERY_NAMESERVER. */
  readonly address: string;
  /** The name answered (lower case, no trailing dot). */
  readonly name: string;
  /** The A records answered from now on. */
  setAddresses(addresses: string[]): void;
  /** A queries received for the name so far. */
  readonly queries: number;
  close(): Promise<void>;
}

interface Question {
  name: string;
  type: number;
  /** The question section as received (answers repeat it byte for byte). */
  raw: Buffer;
}

/** The first question of a query, or null when the packet is not one we can read. */
function readQuestion(msg: Buffer): Question | null {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return null;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    if (at >= msg.length) return null;
    const len = msg[at];
    if (len === 0) break;
    if (len > 63 || at + 1 + len > msg.length) return null;
    labels.push(msg.toString('latin1', at + 1, at + 1 + len));
    at += 1 + len;
  }
  at += 1;
  if (at + 4 > msg.length) return null;
  return {
    name: labels.join('.').toLowerCase(),
    type: msg.readUInt16BE(at),
    raw: msg.subarray(12, at + 4),
  };
}

function header(query: Buffer, rcode: number, questions: number, answers: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(query.readUInt16BE(0), 0); // id
  const opcodeAndRd = query.readUInt16BE(2) & 0x7900; // opcode, RD
  h.writeUInt16BE(0x8000 | 0x0400 | 0x0080 | opcodeAndRd | rcode, 2); // QR, AA, RA
  h.writeUInt16BE(questions, 4);
  h.writeUInt16BE(answers, 6);
  return h;
}

function answerA(address: string): Buffer {
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  rr.writeUInt16BE(TYPE_A, 2);
  rr.writeUInt16BE(CLASS_IN, 4);
  rr.writeUInt32BE(0, 6); // TTL 0: never cached
  rr.writeUInt16BE(4, 10);
  address.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
  return rr;
}

export async function startDnsServer(name: string, addresses: string[] = []): Promise<TestDnsServer> {
  const wanted = name.toLowerCase().replace(/\.$/, '');
  let current: string[] = [];
  let queries = 0;
  const set = (list: string[]): void => {
    for (const a of list) if (!isIPv4(a)) throw new Error(`not an IPv4 address: ${a}`);
    current = [...list];
  };
  set(addresses);

  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    const q = readQuestion(msg);
    let reply: Buffer;
    if (q === null) {
      if (msg.length < 12) return;
      reply = header(msg, RCODE_FORMERR, 0, 0);
    } else if (q.name !== wanted) {
      reply = Buffer.concat([header(msg, RCODE_NXDOMAIN, 1, 0), q.raw]);
    } else {
      const records = q.type === TYPE_A ? current : [];
      if (q.type === TYPE_A) queries++;
      reply = Buffer.concat([header(msg, 0, 1, records.length), q.raw, ...records.map(answerA)]);
    }
    socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const { port } = socket.address();
  return {
    address: `127.0.0.1:${port}`,
    name: wanted,
    setAddresses: set,
    get queries() {
      return queries;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
