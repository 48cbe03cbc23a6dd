/**
 * The media worker's sockets on the batched addon (native/udp-batch.c): datagrams are received
 * with recvmmsg straight into the SRTP engine's first slots in WebAssembly memory, handed to the
 * packet path in ONE call per batch, and the sends the batch makes go out in one flush. Per
 * packet this allocates nothing: sources come as integers and are turned into the address
 * strings the packet path compares through a small cache, destinations are parsed back from the
 * leg's (interned) string once per change. node:dgram stays the fallback (worker.ts).
 */
import { OTHER_DROPS, RX_BYTES, RX_PACKETS } from './counters';
import type { PacketEngine } from './engine';
import { ipv4Value } from './ipv4-value';
import {
  type Group,
  IO_HEADER,
  IO_RECEIVED,
  IO_SEND_COUNT,
  RECV_FIELDS,
  SEND_FIELDS,
  STAT_FIELDS,
  STAT_NAMES,
  type UdpBatchAddon,
} from './native/udp-batch';
import type { Sender } from './relay';

/** Datagrams per batch: the engine's slots 0..BATCH-1 (the packet path's own cursor is idle meanwhile). */
export const BATCH = 32;

/** One received datagram: socket id, the engine slot it sits in, its length and source. */
export type Receiver = (id: number, slot: number, length: number, src: string, srcPort: number) => void;

const ADDRESS_CACHE = 1024;

/** IPv4 (host order) → dotted quad; a table hit makes nothing. */
export class AddressCache {
  private readonly keys = new Int32Array(ADDRESS_CACHE);
  private readonly values: string[] = new Array<string>(ADDRESS_CACHE).fill('');

  get(ip: number): string {
    const i = (ip ^ (ip >>> 10) ^ (ip >>> 20)) & (ADDRESS_CACHE - 1);
    const v = this.values[i] as string;
    if (v !== '' && this.keys[i] === ip) return v;
    const s = `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
    this.keys[i] = ip;
    this.values[i] = s;
    return s;
  }
}

export class BatchSockets {
  readonly io: Int32Array;
  readonly stats = new Float64Array(STAT_FIELDS);
  readonly recvLength: number;
  private readonly group: Group;
  private readonly memory: ArrayBuffer;
  private readonly sendBase: number;
  private readonly sendCap: number;
  /** Per queued send: the counter its failure is charged to. */
  private readonly sendDrops: Int32Array;
  private sendCount = 0;
  private inBatch = false;
  private readonly addresses = new AddressCache();
  private readonly freeIds: number[] = [];
  private nextId = 0;

  constructor(
    private readonly addon: UdpBatchAddon,
    engine: PacketEngine,
    private readonly counters: Float64Array,
    private readonly receive: Receiver,
    batch = BATCH,
  ) {
    if (batch > engine.slotCount)
      throw new RangeError(`batch ${batch} is more than the engine's ${engine.slotCount} slots`);
    const first = engine.slot(0);
    this.memory = first.buffer as ArrayBuffer;
    const offsets = new Int32Array(batch);
    for (let i = 0; i < batch; i++) offsets[i] = engine.slot(i).byteOffset;
    this.recvLength = engine.slotSize;
    this.sendBase = IO_HEADER + RECV_FIELDS * batch;
    this.sendCap = batch;
    this.sendDrops = new Int32Array(batch);
    this.io = new Int32Array(this.sendBase + SEND_FIELDS * batch);
    this.group = addon.createGroup(this.memory, offsets, this.recvLength, this.io, this.stats, this.onBatch);
  }

  /** A bound socket with its id; throws node-style errors (code EADDRINUSE, …). */
  open(address: string, port: number): number {
    const id = this.freeIds.pop() ?? this.nextId++;
    try {
      this.addon.open(this.group, id, address, port);
    } catch (err) {
      this.freeIds.push(id);
      throw err;
    }
    return id;
  }

  /** Closed now: the port can be bound again as soon as this returns. */
  close(id: number): void {
    this.addon.close(this.group, id);
    this.freeIds.push(id);
  }

  localPort(id: number): number {
    return this.addon.localPort(this.group, id);
  }

  sender(id: number, dropsIndex: number): Sender {
    return new BatchSender(this, id, dropsIndex);
  }

  /** Queued while a batch runs (sent by its flush), sent at once otherwise (control-plane replays). */
  queue(id: number, buf: Uint8Array, offset: number, length: number, ip: number, port: number, drops: number): void {
    if (buf.buffer !== this.memory) {
      // Not in the slots (an early packet held for an RTP↔RTP leg): sent straight away.
      if (this.addon.sendNow(this.group, id, buf, offset, length, ip, port) !== 0) this.countDrop(drops);
      return;
    }
    if (this.sendCount === this.sendCap) this.flush();
    const e = this.sendBase + SEND_FIELDS * this.sendCount;
    const io = this.io;
    io[e] = id;
    io[e + 1] = buf.byteOffset + offset;
    io[e + 2] = length;
    io[e + 3] = ip;
    io[e + 4] = port;
    this.sendDrops[this.sendCount] = drops;
    this.sendCount++;
    if (!this.inBatch) this.flush();
  }

  flush(): void {
    const n = this.sendCount;
    if (n === 0) return;
    this.io[IO_SEND_COUNT] = n;
    this.sendCount = 0;
    if (this.addon.flush(this.group) === 0) return;
    for (let j = 0; j < n; j++)
      if (this.io[this.sendBase + SEND_FIELDS * j + 5] !== 0) this.countDrop(this.sendDrops[j] as number);
  }

  /** The addon's totals, for the control plane (allocates). */
  snapshot(): Record<(typeof STAT_NAMES)[number], number> {
    const out = {} as Record<(typeof STAT_NAMES)[number], number>;
    STAT_NAMES.forEach((name, i) => {
      out[name] = this.stats[i] ?? 0;
    });
    return out;
  }

  destroy(): void {
    this.addon.destroyGroup(this.group);
  }

  /** A datagram longer than a slot (cut by the kernel): counted on its leg, never relayed. */
  countTruncated(legBase: number, length: number): void {
    const c = this.counters;
    c[legBase + RX_PACKETS] = (c[legBase + RX_PACKETS] as number) + 1;
    c[legBase + RX_BYTES] = (c[legBase + RX_BYTES] as number) + length;
    this.countDrop(legBase + OTHER_DROPS);
  }

  countDrop(index: number): void {
    this.counters[index] = (this.counters[index] as number) + 1;
  }

  /** Called by the addon once per batch; made once, so the call allocates nothing. */
  private readonly onBatch = (): void => {
    const io = this.io;
    const n = io[IO_RECEIVED] as number;
    this.inBatch = true;
    try {
      for (let i = 0; i < n; i++) {
        const r = IO_HEADER + RECV_FIELDS * i;
        this.receive(
          io[r] as number,
          i,
          io[r + 1] as number,
          this.addresses.get(io[r + 2] as number),
          io[r + 3] as number,
        );
      }
    } finally {
      this.inBatch = false;
      this.flush();
    }
  };
}

/** A leg socket's Sender: the destination string is parsed again only when it changes. */
class BatchSender implements Sender {
  private lastAddress = '';
  private lastIp = 0;

  constructor(
    private readonly sockets: BatchSockets,
    private readonly id: number,
    private readonly drops: number,
  ) {}

  send(buf: Uint8Array, offset: number, length: number, port: number, address: string): void {
    if (address !== this.lastAddress) {
      const ip = ipv4Value(address) | 0; // the io array is an Int32Array: same bits
      if (ip === 0) {
        // Signaling only gives IPv4 literals; anything else cannot be sent on a udp4 socket.
        this.sockets.countDrop(this.drops);
        return;
      }
      this.lastAddress = address;
      this.lastIp = ip;
    }
    this.sockets.queue(this.id, buf, offset, length, this.lastIp, port, this.drops);
  }
}
