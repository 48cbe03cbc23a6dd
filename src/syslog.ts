/**
 * The syslog destination of the logs (policy `logging.syslog`): every line pino writes is sent
 * as one RFC 5424 message over UDP (RFC 5426) to the collector. Bounded and never blocking: at
 * most `maxInFlight` datagrams wait in the socket at once; a line over that, or one whose send
 * fails (nothing listening: ICMP port unreachable comes back on the connected socket as
 * ECONNREFUSED), is dropped and counted, never queued. UDP only: node:dgram has no UNIX
 * datagram sockets (/dev/log); rsyslog and syslog-ng take UDP on loopback (imudp).
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import os from 'node:os';
import { formatRfc5424, type LogEntry, type SyslogFacility, syslogDatagram } from './rfc5424';

export interface SyslogTarget {
  address: string;
  port: number;
  facility: SyslogFacility;
}

export interface SyslogStats {
  /** Datagrams handed to the kernel. */
  sent: number;
  /** Lines dropped because maxInFlight were already waiting (a slow or stuck path). */
  dropped: number;
  /** Lines whose send failed (no route, ECONNREFUSED from a closed port), or that were not JSON. */
  errors: number;
  lastError: string | null;
}

export class SyslogStream {
  readonly stats: SyslogStats = { sent: 0, dropped: 0, errors: 0, lastError: null };
  private readonly socket: dgram.Socket;
  private readonly header: { facility: SyslogFacility; hostname: string; appName: string; procId: number };
  private inFlight = 0;
  private connected = false;
  /** Lines written before connect() completes (the first lines of a start), bounded by maxInFlight. */
  private readonly early: Buffer[] = [];
  private closed = false;

  constructor(
    readonly target: SyslogTarget,
    private readonly maxInFlight = 64,
    private readonly maxBytes = 2048,
  ) {
    this.header = { facility: target.facility, hostname: os.hostname(), appName: 'phone-proxy', procId: process.pid };
    this.socket = dgram.createSocket(isIPv6(target.address) ? 'udp6' : 'udp4');
    this.socket.on('error', (err) => this.failed(err));
    // Connected, so the kernel reports an unreachable collector (and filters foreign replies).
    this.socket.connect(target.port, target.address, () => {
      this.connected = true;
      for (const b of this.early.splice(0)) this.send(b);
    });
    // Logging must never keep the process alive.
    this.socket.unref();
  }

  /** pino's stream interface: one serialized JSON line per call. */
  write(line: string): boolean {
    if (this.closed) return true;
    let entry: LogEntry;
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch (err) {
      this.failed(err as Error);
      return true;
    }
    const datagram = syslogDatagram(formatRfc5424(entry, this.header), this.maxBytes);
    if (this.inFlight >= this.maxInFlight) {
      this.stats.dropped++;
      return true;
    }
    this.inFlight++;
    if (this.connected) this.send(datagram);
    else this.early.push(datagram);
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }

  private send(datagram: Buffer): void {
    this.socket.send(datagram, (err) => {
      this.inFlight--;
      if (err) this.failed(err);
      else this.stats.sent++;
    });
  }

  private failed(err: Error): void {
    this.stats.errors++;
    this.stats.lastError = err.message;
  }
}
