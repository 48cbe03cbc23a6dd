/**
 * The pure TFTP transfer state machines (read-sender.ts, read-receiver.ts) and option
 * negotiation (options.ts), driven event by event: no sockets, no clock.
 */
import { acceptOack, negotiateServer } from '../../src/tftp/options';
import {
  decodePacket,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  type TransferPacket,
} from '../../src/tftp/packet';
import { ReadReceiver, type ReceiverAction } from '../../src/tftp/read-receiver';
import { ReadSender, type SenderAction, type SenderConfig } from '../../src/tftp/read-sender';

const LIMITS = { maxBlksize: 1468, maxWindowsize: 16 };
const cfg = (over: Partial<SenderConfig> = {}): SenderConfig => ({
  blksize: 512,
  windowsize: 1,
  oack: undefined,
  timeoutMs: 1000,
  retries: 3,
  unprovenWaitMs: 6000,
  stallMs: 60_000,
  ...over,
});
const file = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff));
const sends = (a: (SenderAction | ReceiverAction)[]) =>
  a.filter((x): x is Extract<SenderAction, { type: 'send' }> => x.type === 'send').map((x) => decodePacket(x.packet));
const blocks = (a: SenderAction[]) => sends(a).map((p) => (p.op === 'DATA' ? p.block : -1));
const ack = (n: number) => encodeAck(n);

describe('option negotiation (RFC 2347/2348/2349/7440)', () => {
  test('no options: no OACK, RFC 1350 blocks of 512', () => {
    expect(negotiateServer({}, 100, LIMITS)).toEqual({
      blksize: 512,
      windowsize: 1,
      timeoutMs: undefined,
      oack: undefined,
    });
  });
  test('blksize capped at the limit, tsize answered, timeout echoed, windowsize bounded to 16', () => {
    const n = negotiateServer({ blksize: '65464', tsize: '0', timeout: '3', windowsize: '64' }, 4242, LIMITS);
    expect(n).toEqual({
      blksize: 1468,
      windowsize: 16,
      timeoutMs: 3000,
      oack: { blksize: '1468', timeout: '3', tsize: '4242', windowsize: '16' },
    });
  });
  test('invalid values are ignored, not refused; tsize without a known size is left out', () => {
    const n = negotiateServer(
      { blksize: '7', timeout: '0', windowsize: 'x', tsize: '0', foo: 'bar' },
      undefined,
      LIMITS,
    );
    expect(n.oack).toBeUndefined();
    expect(n.blksize).toBe(512);
    expect(negotiateServer({ tsize: '12' }, 10, LIMITS).oack).toBeUndefined();
  });
  test('client: OACK options must have been asked for, and not be larger', () => {
    const sent = { blksize: '1468', tsize: '0' };
    expect(acceptOack(sent, { blksize: '1024', tsize: '99' })).toEqual({ blksize: 1024, windowsize: 1, size: 99 });
    expect(acceptOack(sent, { blksize: '2000' })).toContain('blksize 2000');
    expect(acceptOack(sent, { windowsize: '4' })).toContain('not requested');
    expect(acceptOack(sent, { tsize: '-1' })).toContain('tsize');
  });
});

describe('ReadSender (server side)', () => {
  test('lock-step without options: 512-byte blocks, short last block, done on its ACK', () => {
    const data = file(1200);
    // Data in pieces: nothing goes until block 1 is full; the sender waits (stall timer only).
    const s = new ReadSender(cfg());
    expect(s.start()).toEqual([{ type: 'timer', ms: 60_000 }]);
    expect(s.supply(data.subarray(0, 500))).toEqual([{ type: 'timer', ms: 60_000 }]);
    expect(blocks(s.supply(data.subarray(500, 600)))).toEqual([1]);
    const t = new ReadSender(cfg());
    t.start();
    const s1 = t.supply(data);
    expect(s1[0]).toMatchObject({ type: 'send', first: true });
    expect(sends(s1)).toEqual([{ op: 'DATA', block: 1, data: data.subarray(0, 512) }]);
    expect(t.end()).toEqual([]);
    expect(blocks(t.packet(ack(1)))).toEqual([2]);
    const last = t.packet(ack(2));
    expect(sends(last)).toEqual([{ op: 'DATA', block: 3, data: data.subarray(1024) }]);
    expect(t.packet(ack(3))).toEqual([{ type: 'timer', ms: undefined }, { type: 'done' }]);
    expect(t.finished).toBe(true);
  });

  test('a file that fills its last block exactly ends with an empty block', () => {
    const s = new ReadSender(cfg());
    s.start();
    s.supply(file(1024));
    s.end();
    s.packet(ack(1));
    expect(sends(s.packet(ack(2)))).toEqual([{ op: 'DATA', block: 3, data: Buffer.alloc(0) }]);
    expect(s.packet(ack(3)).at(-1)).toEqual({ type: 'done' });
  });

  test("Sorcerer's Apprentice: a duplicate ACK sends nothing; the timer resends", () => {
    const s = new ReadSender(cfg());
    s.start();
    s.supply(file(5000));
    s.end();
    expect(blocks(s.packet(ack(1)))).toEqual([2]);
    expect(s.packet(ack(1))).toEqual([]);
    expect(s.packet(ack(1))).toEqual([]);
    expect(s.counters.duplicateAcks).toBe(2);
    expect(blocks(s.timer())).toEqual([2]);
    expect(s.counters.retransmittedBlocks).toBe(1);
  });

  test('after the first ACK: bounded retransmissions, then the transfer fails', () => {
    const s = new ReadSender(cfg({ retries: 2 }));
    s.start();
    s.supply(file(5000));
    s.packet(ack(1));
    expect(blocks(s.timer())).toEqual([2]);
    expect(blocks(s.timer())).toEqual([2]);
    expect(s.timer()).toEqual([{ type: 'failed', reason: 'timeout', detail: 'block 2 not acknowledged' }]);
    expect(s.timer()).toEqual([]);
  });

  test('anti-amplification: no retransmission before the first ACK; one first packet per repeated RRQ', () => {
    const s = new ReadSender(cfg());
    s.start();
    const a = s.supply(file(5000));
    expect(a).toContainEqual({ type: 'timer', ms: 6000 });
    let out = sends(a).length;
    for (let i = 0; i < 5; i++) out += sends(s.repeatedRequest()).length;
    expect(out).toBe(6);
    expect(s.timer()).toEqual([
      { type: 'failed', reason: 'unproven-timeout', detail: 'the first packet was never acknowledged' },
    ]);
  });

  test('OACK first; ACK 0 proves the client, then blocks of the negotiated size', () => {
    const n = negotiateServer({ blksize: '1428', tsize: '0' }, 3000, LIMITS);
    const s = new ReadSender(cfg({ blksize: n.blksize, oack: n.oack }));
    const a = s.start();
    expect(sends(a)).toEqual([{ op: 'OACK', options: { blksize: '1428', tsize: '3000' } }]);
    expect(a[0]).toMatchObject({ first: true });
    s.supply(file(3000));
    s.end();
    expect(s.timer()[0]).toMatchObject({ reason: 'unproven-timeout' });
    const t = new ReadSender(cfg({ blksize: 1428, oack: n.oack }));
    t.start();
    t.supply(file(3000));
    t.end();
    expect(t.packet(ack(1))).toEqual([]);
    const d = sends(t.packet(ack(0)));
    expect(d).toHaveLength(1);
    expect((d[0] as Extract<TransferPacket, { op: 'DATA' }>).data).toHaveLength(1428);
    expect(t.isProven).toBe(true);
  });

  test('RFC 7440 window of 4: four blocks in flight; a lost block restarts the window after the last ACK', () => {
    const s = new ReadSender(cfg({ windowsize: 4, oack: { windowsize: '4' } }));
    s.start();
    s.supply(file(512 * 10 + 100));
    s.end();
    expect(blocks(s.packet(ack(0)))).toEqual([1, 2, 3, 4]);
    // Block 2 lost: the receiver ACKs 1 (the last in order); the sender restarts at 2.
    expect(blocks(s.packet(ack(1)))).toEqual([2, 3, 4, 5]);
    expect(s.counters.windowRestarts).toBe(1);
    // A late ACK 1 (duplicate) sends nothing.
    expect(s.packet(ack(1))).toEqual([]);
    expect(blocks(s.packet(ack(5)))).toEqual([6, 7, 8, 9]);
    // Timeout: the whole window again, from the block after the last ACK.
    expect(blocks(s.timer())).toEqual([6, 7, 8, 9]);
    expect(blocks(s.packet(ack(9)))).toEqual([10, 11]);
    expect(s.packet(ack(11)).at(-1)).toEqual({ type: 'done' });
  });

  test('a window waits for data that is not there yet (streamed relay), and a stalled source fails', () => {
    const s = new ReadSender(cfg({ windowsize: 4, oack: { windowsize: '4' } }));
    s.start();
    s.supply(file(1100));
    expect(blocks(s.packet(ack(0)))).toEqual([1, 2]);
    expect(blocks(s.supply(file(500)))).toEqual([3]);
    expect(s.buffered).toBe(1600);
    s.packet(ack(3));
    expect(s.buffered).toBe(64);
    expect(s.timer()[1]).toMatchObject({ type: 'failed', reason: 'stalled' });
  });

  test('block numbers wrap from 65535 to 0', () => {
    const s = new ReadSender(cfg({ blksize: 8 }));
    s.start();
    s.supply(file(8 * 65537 + 3));
    s.end();
    let last: SenderAction[] = [];
    for (let n = 1; n <= 65536; n++) last = s.packet(ack(n & 0xffff));
    expect(blocks(last)).toEqual([1]); // absolute block 65537 goes out as 1
    expect(blocks(s.packet(ack(1)))).toEqual([2]);
    expect(s.packet(ack(2)).at(-1)).toEqual({ type: 'done' });
  });

  test('client ERROR ends the transfer; malformed packets are counted and ignored', () => {
    const s = new ReadSender(cfg());
    s.start();
    s.supply(file(2000));
    expect(s.packet(Buffer.from([0, 4, 0]))).toEqual([]);
    expect(s.packet(Buffer.from([0, 9, 0, 0]))).toEqual([]);
    expect(s.counters.malformed).toBe(2);
    expect(s.packet(encodeError(0, 'cancelled')).at(-1)).toMatchObject({ type: 'failed', reason: 'client-error' });
    expect(s.packet(ack(1))).toEqual([]);
  });

  test('refusal: an ERROR packet and the end', () => {
    const s = new ReadSender(cfg());
    const a = s.fail(1, 'File not found');
    expect(sends(a)).toEqual([{ op: 'ERROR', code: 1, message: 'File not found' }]);
    expect(a.at(-1)).toMatchObject({ type: 'failed', reason: 'refused' });
  });
});

describe('ReadReceiver (client side)', () => {
  const SERVER = '127.0.0.9:4000';
  const opts = { blksize: '1024', tsize: '0' };
  test('RRQ with options, OACK, data, last block, done', () => {
    const r = new ReadReceiver({ file: 'a.bin', options: opts, timeoutMs: 500, retries: 2 });
    const start = r.start();
    expect(decodePacket((start[0] as { packet: Buffer }).packet)).toEqual({ op: 'RRQ' });
    expect((start[0] as { packet: Buffer }).packet.toString('latin1')).toBe(
      '\0\x01a.bin\0octet\0blksize\x001024\0tsize\x000\0',
    );
    const o = r.packet(encodeOack({ blksize: '1024', tsize: '1500' }), SERVER);
    expect(o[0]).toEqual({ type: 'size', size: 1500 });
    expect(sends(o)).toEqual([{ op: 'ACK', block: 0 }]);
    const d1 = r.packet(encodeData(1, file(1024)), SERVER);
    expect(d1[0]).toEqual({ type: 'data', chunk: file(1024) });
    expect(sends(d1)).toEqual([{ op: 'ACK', block: 1 }]);
    const d2 = r.packet(encodeData(2, file(476)), SERVER);
    expect(d2.at(-1)).toEqual({ type: 'done' });
    expect(r.receivedBytes).toBe(1500);
  });

  test('server without options (DATA 1 straight away): size unknown, 512-byte blocks', () => {
    const r = new ReadReceiver({ file: 'a', options: opts, timeoutMs: 500, retries: 2 });
    r.start();
    const d = r.packet(encodeData(1, file(512)), SERVER);
    expect(d[0]).toEqual({ type: 'size', size: null });
    expect(r.packet(encodeData(2, file(10)), SERVER).at(-1)).toEqual({ type: 'done' });
  });

  test('another source gets error 5; a duplicate DATA is re-ACKed; ERROR ends with its code', () => {
    const r = new ReadReceiver({ file: 'a', options: {}, timeoutMs: 500, retries: 2 });
    r.start();
    r.packet(encodeData(1, file(512)), SERVER);
    const foreign = r.packet(encodeData(2, file(512)), '127.0.0.9:4001');
    expect(foreign).toEqual([{ type: 'send', packet: encodeError(5, 'Unknown transfer ID'), to: '127.0.0.9:4001' }]);
    expect(sends(r.packet(encodeData(1, file(512)), SERVER))).toEqual([{ op: 'ACK', block: 1 }]);
    expect(r.packet(encodeError(1, 'File not found'), SERVER).at(-1)).toEqual({
      type: 'failed',
      code: 1,
      timedOut: false,
      detail: 'File not found',
    });
  });

  test('timeouts: the last packet again, bounded, then failed as timed out', () => {
    const r = new ReadReceiver({ file: 'a', options: {}, timeoutMs: 500, retries: 2 });
    r.start();
    expect(sends(r.timer())).toEqual([{ op: 'RRQ' }]);
    expect(sends(r.timer())).toEqual([{ op: 'RRQ' }]);
    expect(r.timer()).toEqual([{ type: 'failed', code: undefined, timedOut: true, detail: 'no answer (request)' }]);
  });

  test('back-pressure: a paused consumer holds the ACK; resume or the timer releases it', () => {
    const r = new ReadReceiver({ file: 'a', options: {}, timeoutMs: 500, retries: 2 });
    r.start();
    r.pause();
    const d = r.packet(encodeData(1, file(512)), SERVER);
    expect(sends(d)).toEqual([]);
    expect(sends(r.resume())).toEqual([{ op: 'ACK', block: 1 }]);
    r.pause();
    r.packet(encodeData(2, file(512)), SERVER);
    expect(sends(r.timer())).toEqual([{ op: 'ACK', block: 2 }]);
    // The last block's ACK is never held.
    expect(sends(r.packet(encodeData(3, file(1)), SERVER))).toEqual([{ op: 'ACK', block: 3 }]);
  });

  test('an OACK with an option not asked for is refused with ERROR 8', () => {
    const r = new ReadReceiver({ file: 'a', options: opts, timeoutMs: 500, retries: 2 });
    r.start();
    const a = r.packet(encodeOack({ windowsize: '8' }), SERVER);
    expect(sends(a)).toEqual([{ op: 'ERROR', code: 8, message: 'option windowsize was not requested' }]);
    expect(a.at(-1)).toMatchObject({ type: 'failed', code: 8 });
  });
});
