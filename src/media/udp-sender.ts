/**
 * The media sockets' send side with less of node:dgram's per-datagram work (issue 17; measured
 * in bench/RESULTS.md, "issue 17"). node:dgram's `send(buf, offset, length, port, address)`:
 *
 * - slices the Buffer (a new Buffer object per datagram) whenever an address is given;
 * - resolves the address through dns.lookup even when it is an IP literal, which answers on
 *   process.nextTick: a tick object, a closure and an empty object per datagram, and the send
 *   itself deferred to the tick queue.
 *
 * Here the lookup answers at once (every address a media socket binds or sends to is an IPv4
 * literal: signaling validated it, or the kernel reported it as a source), and the exact-length
 * view of a slot is made once per slot and length, then reused: `send(view, port, address)`
 * is dgram's form that does not slice. What remains per datagram is dgram's own (a one-element
 * list, its send request object) and the kernel's.
 */
import dgram from 'node:dgram';
import type { Sender } from './relay';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/** dgram's `lookup` option for sockets that only ever see IPv4 literals. */
export function literalLookup(address: string, _family: unknown, callback: LookupCallback): void {
  callback(null, address, 4);
}

/** A UDP socket for the packet path: IPv4, addresses taken as literals. */
export function createMediaSocket(): dgram.Socket {
  return dgram.createSocket({ type: 'udp4', lookup: literalLookup as unknown as dgram.SocketOptions['lookup'] });
}

/**
 * Views made per slot: at most one per distinct length, i.e. bounded by the slot size times the
 * engine's few slots (a few dozen in practice: RTP and RTCP sizes of the calls in progress).
 */
const VIEWS = new WeakMap<Uint8Array, (Buffer | undefined)[]>();

function viewOf(buf: Uint8Array, length: number): Buffer {
  let byLength = VIEWS.get(buf);
  if (byLength === undefined) {
    byLength = new Array<Buffer | undefined>(buf.length + 1);
    VIEWS.set(buf, byLength);
  }
  let v = byLength[length];
  if (v === undefined) {
    v = Buffer.from(buf.buffer, buf.byteOffset, length);
    byLength[length] = v;
  }
  return v;
}

/** The packet path's Sender over one socket. */
export class SocketSender implements Sender {
  constructor(readonly socket: dgram.Socket) {}

  send(buf: Uint8Array, offset: number, length: number, port: number, address: string): void {
    if (offset === 0 && length === buf.length) this.socket.send(buf, port, address);
    else if (offset === 0) this.socket.send(viewOf(buf, length), port, address);
    else this.socket.send(buf, offset, length, port, address);
  }
}
