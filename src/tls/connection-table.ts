/**
 * The TLS proxy's connection table with the counters of IOS `show sip-ua connections tcp tls`
 * (IOS SIP-over-TLS guide, docs/references.md): active connections, send failures, remote closures, connection failures,
 * inactive age-outs, the maximum send queue and where it was seen, TLS client and server
 * handshake failures. Pure bookkeeping: the proxy reports events, views read it.
 */
import type { ViewResult } from '../contracts/service';

export type ConnectionState = 'connecting' | 'established' | 'closing';

export interface ConnectionEntry {
  id: number;
  phone: string;
  remote: string;
  upstream: string;
  transport: string;
  state: ConnectionState;
  since: Date;
  lastActivity: number;
  /** Bytes waiting to be sent, both legs. */
  sendQueue: number;
  close(reason: string): void;
}

export const COUNTER_NAMES = [
  'send-failures',
  'remote-closures',
  'connection-failures',
  'inactive-ageouts',
  'queue-overflows',
  'tls-client-handshake-failures',
  'tls-server-handshake-failures',
  // Admission (issue 12): each is also a tls-server-handshake-failure when it ends a handshake.
  'handshake-timeouts',
  'refused-no-certificate',
  'refused-bad-certificate',
  'refused-global-limit',
  'refused-source-limit',
  'refused-pending-limit',
  'refused-device-limit',
  'message-timeouts',
  'listener-errors',
  'warnings-suppressed',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export class ConnectionTable {
  private readonly entries = new Map<number, ConnectionEntry>();
  private nextId = 1;
  readonly counters: Record<CounterName, number> = Object.fromEntries(COUNTER_NAMES.map((c) => [c, 0])) as Record<
    CounterName,
    number
  >;
  maxSendQueue = { size: 0, where: '0.0.0.0:0' };
  /** Phone connections still in the TLS handshake (the proxy's admission reports it). */
  pendingHandshakes: () => number = () => 0;

  constructor(private readonly onCount: (name: CounterName) => void = () => undefined) {}

  add(e: Omit<ConnectionEntry, 'id'>): ConnectionEntry {
    const entry = { ...e, id: this.nextId++ };
    this.entries.set(entry.id, entry);
    return entry;
  }

  remove(id: number): void {
    this.entries.delete(id);
  }

  get active(): number {
    return this.entries.size;
  }

  list(): ConnectionEntry[] {
    return [...this.entries.values()];
  }

  count(name: CounterName): void {
    this.counters[name]++;
    this.onCount(name);
  }

  noteQueue(size: number, where: string): void {
    if (size > this.maxSendQueue.size) this.maxSendQueue = { size, where };
  }

  /** `id N`, `target ip:port` (also `ipv4:ip:port`), or both; returns the entries closed. */
  clear(args: string[]): ConnectionEntry[] {
    let id: number | undefined;
    let target: string | undefined;
    for (let n = 0; n < args.length; n += 2) {
      const word = args[n];
      const value = args[n + 1];
      if (value === undefined)
        throw new Error(`"${word}" needs a value: clear tls-proxy connection id <n> | target <ip:port>`);
      if (word === 'id') {
        if (!/^\d+$/.test(value)) throw new Error(`connection id must be a number, got "${value}"`);
        id = Number(value);
      } else if (word === 'target') {
        target = value.replace(/^ipv4:/i, '');
        if (!/^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(target)) throw new Error(`target must be ip:port, got "${value}"`);
      } else {
        throw new Error(`unknown word "${word}": clear tls-proxy connection id <n> | target <ip:port>`);
      }
    }
    if (id === undefined && target === undefined)
      throw new Error('clear tls-proxy connection needs id <n> or target <ip:port>');
    const hits = this.list().filter(
      (e) =>
        (id === undefined || e.id === id) && (target === undefined || e.remote === target || e.upstream === target),
    );
    for (const e of hits) e.close('cleared by operator');
    return hits;
  }

  statistics(): ViewResult {
    const c = this.counters;
    const pending = this.pendingHandshakes();
    const data = { active: this.active, pendingHandshakes: pending, ...c, maxSendQueue: this.maxSendQueue };
    return {
      data,
      lines: [
        `Total active connections      : ${this.active}`,
        `Handshakes in progress        : ${pending}`,
        `No. of send failures          : ${c['send-failures']}`,
        `No. of remote closures        : ${c['remote-closures']}`,
        `No. of conn. failures         : ${c['connection-failures']}`,
        `No. of inactive conn. ageouts : ${c['inactive-ageouts']}`,
        `No. of send queue overflows   : ${c['queue-overflows']}`,
        `Max. tls send queue size of ${this.maxSendQueue.size} bytes, recorded for ${this.maxSendQueue.where}`,
        `TLS client handshake failures : ${c['tls-client-handshake-failures']}`,
        `TLS server handshake failures : ${c['tls-server-handshake-failures']}`,
        `  handshake timeouts          : ${c['handshake-timeouts']}`,
        `  no client certificate       : ${c['refused-no-certificate']}`,
        `  bad client certificate      : ${c['refused-bad-certificate']}`,
        `Refused at the global limit   : ${c['refused-global-limit']}`,
        `Refused at the source limit   : ${c['refused-source-limit']}`,
        `Refused, handshakes pending   : ${c['refused-pending-limit']}`,
        `Refused at the device limit   : ${c['refused-device-limit']}`,
        `Incomplete message timeouts   : ${c['message-timeouts']}`,
        `Listener (accept) errors      : ${c['listener-errors']}`,
        `Warnings suppressed           : ${c['warnings-suppressed']}`,
      ],
    };
  }

  sessions(): ViewResult {
    const rows = this.list().map((e) => [
      e.id,
      e.phone,
      e.remote,
      `${e.upstream} (${e.transport})`,
      e.state,
      e.sendQueue,
    ]);
    return {
      data: this.list().map(({ close: _close, ...e }) => e),
      lines: [`Total active connections : ${this.active}`],
      tables: [{ columns: ['id', 'phone', 'remote', 'upstream', 'state', 'send-queue'], rows }],
    };
  }
}
