/**
 * One running or finished packet capture (issue 15): its pcap file(s), what it counts, and the
 * byte limit. It turns what the taps hand over into pcap records (src/capture/pcap.ts): clear
 * signaling as TCP segments of the real connections, media datagrams as UDP. The service
 * (service.ts) decides what reaches it and when it stops.
 */
import { closeSync, createWriteStream, openSync, unlinkSync, type WriteStream } from 'node:fs';
import { MEDIA_FLAG_CLEAR, MEDIA_FLAG_OUTBOUND, MEDIA_RECORD, MEDIA_RECORD_ALIGN } from '../contracts/capture';
import type { InspectedConnection } from '../contracts/signaling';
import { CaptureError } from '../errors';
import { type Flow, globalHeader, ipv4ToNumber, record, TcpSequences, udpPacket } from './pcap';
import type { CaptureRequest } from './request';

export type StopReason = 'stopped' | 'duration' | 'max-bytes' | 'write-error' | 'appliance stopping';

export interface CaptureCounts {
  signalingPackets: number;
  mediaPackets: number;
  decryptedPackets: number;
  /** Bytes written to the file(s), pcap headers included. */
  bytes: number;
  /** Media records lost before they reached the capture (a worker's buffer was full). */
  dropped: number;
}

/** A pcap file opened for the capture alone: created, never followed into or overwritten unless ours. */
function openPcap(file: string, replace: boolean): WriteStream {
  if (replace) {
    try {
      unlinkSync(file);
    } catch {
      // none there
    }
  }
  let fd: number;
  try {
    // 'wx': O_CREAT|O_EXCL, so a symlink or a file someone placed there is refused, not written through.
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CaptureError(
      e.code === 'EEXIST' ? `${file} exists: choose another --file` : `cannot create ${file}: ${e.code ?? e.message}`,
    );
  }
  try {
    return createWriteStream('', { fd });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

export class Capture {
  readonly started: number;
  readonly counts: CaptureCounts = { signalingPackets: 0, mediaPackets: 0, decryptedPackets: 0, bytes: 0, dropped: 0 };
  stopped?: { at: number; reason: StopReason };
  private readonly main: WriteStream;
  private readonly clear: WriteStream | undefined;
  private readonly phone: number | undefined;
  /** Per captured connection and leg, the TCP sequence numbers of the synthesized segments. */
  private readonly tcp = new WeakMap<InspectedConnection, { phone: TcpSequences; ucm: TcpSequences }>();
  private ipId = 0;
  private readonly done: Promise<void>[] = [];

  constructor(
    readonly req: CaptureRequest,
    readonly file: string,
    readonly clearFile: string | undefined,
    now: number,
    /** The state directory's own files may be replaced; an operator's path never. */
    replace: boolean,
    private readonly onLimit: (c: Capture, reason: StopReason) => void,
  ) {
    this.started = now;
    this.phone = req.phone === undefined ? undefined : ipv4ToNumber(req.phone);
    this.main = openPcap(file, replace);
    try {
      this.clear = clearFile === undefined ? undefined : openPcap(clearFile, replace);
    } catch (err) {
      this.main.destroy();
      throw err;
    }
    for (const s of [this.main, this.clear]) {
      if (!s) continue;
      s.on('error', () => this.onLimit(this, 'write-error'));
      this.done.push(new Promise<void>((resolve) => s.once('close', () => resolve())));
    }
    this.write(this.main, globalHeader());
    if (this.clear) this.write(this.clear, globalHeader());
  }

  get active(): boolean {
    return this.stopped === undefined;
  }

  wantsPhone(address: string): boolean {
    return this.req.phone === undefined || this.req.phone === address;
  }

  /** Clear signaling bytes of one leg of a phone's connection, as TCP segments of that connection. */
  signaling(conn: InspectedConnection, leg: 'phone' | 'ucm', inbound: boolean, data: Buffer, now: number): void {
    if (!this.active || !this.wantsPhone(conn.phone.address)) return;
    let seqs = this.tcp.get(conn);
    if (!seqs) {
      seqs = { phone: new TcpSequences(), ucm: new TcpSequences() };
      this.tcp.set(conn, seqs);
    }
    // Side 0 is the client: the phone on its leg, the appliance on the upstream leg.
    const flow: Flow =
      leg === 'phone'
        ? {
            src: ipv4ToNumber(conn.phone.address),
            srcPort: conn.phone.port,
            dst: ipv4ToNumber(conn.outsideLocal.address),
            dstPort: conn.outsideLocal.port,
          }
        : {
            src: ipv4ToNumber(conn.insideLocal.address),
            srcPort: conn.insideLocal.port,
            dst: ipv4ToNumber(conn.upstream.address),
            dstPort: conn.upstream.port,
          };
    const side = leg === 'phone' ? (inbound ? 0 : 1) : inbound ? 1 : 0;
    for (const seg of seqs[leg].segments(side, flow, data, this.ipId)) {
      this.ipId = (this.ipId + 1) & 0xffff;
      if (!this.add(this.main, record(now, seg))) return;
      this.counts.signalingPackets++;
    }
  }

  /** A batch of media records from a worker: the ones of this capture's phone go into its files. */
  media(records: Uint8Array, dropped: number): void {
    if (!this.active || !this.req.media) return;
    this.counts.dropped += dropped;
    const v = new DataView(records.buffer, records.byteOffset, records.byteLength);
    const R = MEDIA_RECORD;
    for (let at = 0; at + R.header <= records.length; ) {
      const length = v.getUint16(at + R.length, true);
      const flags = v.getUint8(at + R.flags);
      const f: Flow = {
        src: v.getUint32(at + R.src, true),
        srcPort: v.getUint16(at + R.srcPort, true),
        dst: v.getUint32(at + R.dst, true),
        dstPort: v.getUint16(at + R.dstPort, true),
      };
      const phone = (flags & MEDIA_FLAG_OUTBOUND) !== 0 ? f.dst : f.src;
      const clear = (flags & MEDIA_FLAG_CLEAR) !== 0;
      const next = at + ((R.header + length + MEDIA_RECORD_ALIGN - 1) & ~(MEDIA_RECORD_ALIGN - 1));
      if ((this.phone === undefined || this.phone === phone) && (!clear || this.clear)) {
        const payload = Buffer.from(records.buffer, records.byteOffset + at + R.header, length);
        const orig = v.getUint32(at + R.origLength, true);
        const pkt = udpPacket(f, payload, this.ipId);
        this.ipId = (this.ipId + 1) & 0xffff;
        const rec = record(v.getFloat64(at + R.time, true), pkt, pkt.length + (orig - length));
        if (!this.add(clear ? (this.clear as WriteStream) : this.main, rec)) return;
        if (clear) this.counts.decryptedPackets++;
        else this.counts.mediaPackets++;
      }
      at = next;
    }
  }

  /** Writes a record unless it would pass the byte limit, which ends the capture instead. */
  private add(stream: WriteStream, rec: Buffer): boolean {
    if (this.counts.bytes + rec.length > this.req.maxBytes) {
      this.onLimit(this, 'max-bytes');
      return false;
    }
    this.write(stream, rec);
    return true;
  }

  private write(stream: WriteStream, b: Buffer): void {
    this.counts.bytes += b.length;
    stream.write(b);
  }

  /** Ends the capture; the files are complete once the promise settles. */
  stop(reason: StopReason, now: number): Promise<void> {
    if (!this.stopped) {
      this.stopped = { at: now, reason };
      this.main.end();
      this.clear?.end();
    }
    return Promise.all(this.done).then(() => undefined);
  }
}
