/**
 * The pcap codec (src/capture/pcap.ts) against a reader no one here wrote: Debian's tshark reads
 * a synthesized file and must find SIP cut across TCP segments, SCCP on its well-known port, RTP
 * in UDP and a truncated record, with correct checksums and gap-free sequence numbers. Also the
 * worker's capture ring: records it writes are what the capture service reads, and a full ring
 * counts drops instead of growing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type Flow,
  globalHeader,
  ipv4ToNumber,
  numberToIpv4,
  record,
  TcpSequences,
  udpPacket,
} from '../../src/capture/pcap';
import { MEDIA_FLAG_CLEAR, MEDIA_FLAG_OUTBOUND, MEDIA_RECORD } from '../../src/contracts/capture';
import { CaptureRing } from '../../src/media/capture-ring';
import { ipv4Value } from '../../src/media/ipv4-value';
import { type Leg, Relay } from '../../src/media/relay';
import { encodeMessage } from '../../src/sccp/messages';
import { tsharkFields } from '../e2e/peers';
import { rtpPacket } from '../support/media-harness';
import { samples } from '../support/sccp-samples';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pp-pcap-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const phone: Flow = { src: ipv4ToNumber('10.1.1.50'), srcPort: 51000, dst: ipv4ToNumber('192.0.2.1'), dstPort: 5060 };

const INVITE = [
  'INVITE sip:1001@192.0.2.1 SIP/2.0',
  'Via: SIP/2.0/TCP 10.1.1.50:51000;branch=z9hG4bK1',
  'From: <sip:1000@192.0.2.1>;tag=a',
  'To: <sip:1001@192.0.2.1>',
  'Call-ID: pcap-test@10.1.1.50',
  'CSeq: 1 INVITE',
  'Content-Type: application/sdp',
  'Content-Length: 30',
  '',
  'v=0\r\nc=IN IP4 10.1.1.50\r\nm=x\r\n',
].join('\r\n');

test('tshark reads the synthesized capture: SIP split over segments, SCCP, RTP, a truncated record', () => {
  const sip = new TcpSequences();
  const bytes = Buffer.from(INVITE);
  const parts = [
    globalHeader(),
    // The INVITE arrives in two chunks (as a TLS record boundary may cut it), then a reply.
    ...sip.segments(0, phone, bytes.subarray(0, 40)).map((p) => record(1_000, p)),
    ...sip.segments(0, phone, bytes.subarray(40)).map((p) => record(1_001, p)),
    ...sip
      .segments(
        1,
        phone,
        Buffer.from('SIP/2.0 100 Trying\r\nCall-ID: pcap-test@10.1.1.50\r\nContent-Length: 0\r\n\r\n'),
      )
      .map((p) => record(1_002.5, p)),
  ];
  const sccpFlow: Flow = { ...phone, srcPort: 52000, dstPort: 2000 };
  const sccp = new TcpSequences();
  const register = samples(17).find((m) => m.kind === 'Register');
  if (!register) throw new Error('no Register sample');
  parts.push(...sccp.segments(0, sccpFlow, encodeMessage(register, 17)).map((p) => record(1_003, p)));
  const media: Flow = { src: phone.src, srcPort: 40000, dst: phone.dst, dstPort: 20000 };
  for (let seq = 7; seq < 10; seq++) parts.push(record(1_020 + seq, udpPacket(media, rtpPacket(0xabcdef01, seq))));
  // A record kept short of its datagram: tshark must see the original length.
  const big = udpPacket(media, rtpPacket(0xabcdef01, 10));
  parts.push(record(1_040, big.subarray(0, 40), big.length));
  const file = path.join(dir, 'synth.pcap');
  writeFileSync(file, Buffer.concat(parts));

  const decode = ['udp.port==20000,rtp'];
  expect(
    tsharkFields(file, 'sip', ['sip.Method', 'sip.Call-ID', 'sip.Status-Code', 'sdp.connection_info.address'], decode),
  ).toEqual([
    ['INVITE', 'pcap-test@10.1.1.50', '', '10.1.1.50'],
    ['', 'pcap-test@10.1.1.50', '100', ''],
  ]);
  expect(tsharkFields(file, 'skinny', ['skinny.messageId', 'skinny.DeviceName'], decode)).toEqual([
    ['1', 'SEP001122334455'], // Register
  ]);
  const rtp = tsharkFields(file, 'rtp', ['rtp.ssrc', 'rtp.seq', 'frame.time_epoch'], decode);
  expect(rtp.map((r) => [r[0], r[1]])).toEqual([7, 8, 9, 10].map((s) => ['0xabcdef01', String(s)]));
  expect(Number(rtp[0]?.[2])).toBeCloseTo(1.027, 3);
  expect(tsharkFields(file, 'frame.cap_len < frame.len', ['frame.cap_len', 'frame.len'], decode)).toEqual([
    ['40', String(big.length)],
  ]);
  // Sequence numbers consistent, checksums right (tshark checks them when told to): nothing to flag.
  const checked = (filter: string) =>
    execFileSync(
      'tshark',
      [
        '-r',
        file,
        '-d',
        'udp.port==20000,rtp',
        ...['ip', 'tcp', 'udp'].flatMap((p) => ['-o', `${p}.check_checksum:TRUE`]),
        '-Y',
        filter,
        '-T',
        'fields',
        '-e',
        'frame.number',
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
  expect(
    checked('tcp.analysis.flags || ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0'),
  ).toBe('');
  const good = checked('ip.checksum.status == 1 && (tcp.checksum.status == 1 || udp.checksum.status == 1)');
  expect(good.trim().split('\n')).toHaveLength(7); // all but the truncated record, whose UDP sum cannot be checked
});

test('IPv4 addresses both ways, and the allocation-free parser the ring uses', () => {
  expect(numberToIpv4(ipv4ToNumber('127.0.1.100'))).toBe('127.0.1.100');
  expect(ipv4Value('192.0.2.255')).toBe(ipv4ToNumber('192.0.2.255'));
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', 'a.b.c.d', '1.2.3.4 '])
    expect(ipv4Value(bad)).toBe(0);
  expect(() => ipv4ToNumber('1.2.3')).toThrow(/not an IPv4 address/);
});

test('the capture ring writes MEDIA_RECORD records for watched legs only, and counts drops when full', () => {
  const sink = { send: () => undefined };
  const relay = new Relay(
    { inside: false, base: 0, rtpSender: sink, rtcpSender: sink },
    { inside: true, base: 1, rtpSender: sink, rtcpSender: sink },
  );
  const [outside, inside] = relay.legs as [Leg, Leg];
  const ring = new CaptureRing(1024, 200);
  ring.tap(outside, 0, rtpPacket(1, 1), 20, '10.0.0.1', 4000); // not watched yet: nothing
  expect(ring.take()).toBeNull();
  ring.watch(outside, 0, '192.0.2.1', 20000);
  const pkt = rtpPacket(0x1234, 5, 0x55);
  ring.tap(outside, MEDIA_FLAG_CLEAR, pkt, pkt.length, '10.0.0.1', 4000);
  ring.tap(outside, MEDIA_FLAG_OUTBOUND, pkt, pkt.length, '10.0.0.1', 4000);
  ring.tap(inside, 0, pkt, pkt.length, '10.0.0.9', 1);
  const batch = ring.take();
  expect(batch?.dropped).toBe(0);
  const r = batch?.records as Uint8Array;
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  const R = MEDIA_RECORD;
  const size = (R.header + pkt.length + 3) & ~3;
  expect(r.length).toBe(2 * size);
  expect(v.getUint16(R.length, true)).toBe(pkt.length);
  expect(v.getUint8(R.flags)).toBe(MEDIA_FLAG_CLEAR);
  expect([v.getUint32(R.src, true), v.getUint16(R.srcPort, true)]).toEqual([ipv4ToNumber('10.0.0.1'), 4000]);
  expect([v.getUint32(R.dst, true), v.getUint16(R.dstPort, true)]).toEqual([ipv4ToNumber('192.0.2.1'), 20000]);
  expect(Buffer.from(r.subarray(R.header, R.header + pkt.length))).toEqual(pkt);
  // The outbound record: from the leg's address to the peer.
  expect([v.getUint32(size + R.src, true), v.getUint16(size + R.dstPort, true)]).toEqual([
    ipv4ToNumber('192.0.2.1'),
    4000,
  ]);
  // 300 bytes hold two 100-byte-snapped records; the third is dropped and counted, and the snap length holds.
  const small = new CaptureRing(300, 100);
  small.watch(outside, 0, '192.0.2.1', 20000);
  const long = Buffer.alloc(300, 1);
  for (let i = 0; i < 3; i++) small.tap(outside, 0, long, long.length, '10.0.0.1', 4000);
  const full = small.take();
  if (!full) throw new Error('nothing taken');
  expect(full.dropped).toBe(1);
  expect(full.records.length).toBe(2 * (R.header + 100));
  expect(new DataView(full.records.buffer).getUint32(R.origLength, true)).toBe(300);
  ring.unwatch(outside);
  ring.tap(outside, 0, pkt, pkt.length, '10.0.0.1', 4000);
  expect(ring.take()).toBeNull();
});
