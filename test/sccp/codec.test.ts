import { inspect } from 'node:util';
import { SccpDecodeError, SccpFramingError } from '../../src/errors';
import { encodeFrame, parseFrame, SccpFramer } from '../../src/sccp/framing';
import { KeyBlock } from '../../src/sccp/key-block';
import { decodeMessage, encodeMessage, type SccpMessage } from '../../src/sccp/messages';
import { samples, testKey } from '../support/sccp-samples';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// docs/sccp.md §9.2: StartMediaTransmission, IPv4 layout, header version 0.
const SMT_V4 = hex(`
  78 00 00 00 00 00 00 00 8a 00 00 00 81 b1 4f 01 55 00 00 01 cb 00 71 0a 04 60 00 00 14 00 00 00
  04 00 00 00 b8 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 81 b1 4f 01 01 00 00 00 10 00 0e 00
  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 aa ab ac ad 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 65 00 00 00 0a 00 00 00 00 00 00 00 00 00 00 00`);
// §9.3: the same in the v17 layout (header 0x11).
const SMT_V17 = hex(`
  88 00 00 00 11 00 00 00 8a 00 00 00 81 b1 4f 01 55 00 00 01 00 00 00 00 cb 00 71 0a 00 00 00 00
  00 00 00 00 00 00 00 00 04 60 00 00 14 00 00 00 04 00 00 00 b8 00 00 00 00 00 00 00 01 00 00 00
  00 00 00 00 81 b1 4f 01 01 00 00 00 10 00 0e 00 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f
  a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 aa ab ac ad 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  65 00 00 00 0a 00 00 00 00 00 00 00 00 00 00 00`);
// §9.4: OpenReceiveChannelAck, IPv4 layout.
const ORC_ACK_V4 = hex(
  '18 00 00 00 00 00 00 00 22 00 00 00 00 00 00 00 0a 00 00 32 00 40 00 00 55 00 00 01 81 b1 4f 01',
);

describe('SCCP codec against the worked examples (docs/sccp.md §9)', () => {
  test.each([
    ['IPv4 layout', SMT_V4, 11],
    ['v17 layout', SMT_V17, 17],
  ])('StartMediaTransmission, %s', (_name, bytes, version) => {
    const msg = decodeMessage(parseFrame(bytes), version);
    if (msg.kind !== 'StartMediaTransmission') throw new Error(msg.kind);
    expect(msg.conferenceId).toBe(22000001);
    expect(msg.passThruPartyId).toBe(16777301);
    expect(msg.remoteIpAddr).toEqual({ type: 0, ip: '203.0.113.10' });
    expect(msg.remotePortNumber).toBe(24580);
    expect(msg.precedenceValue).toBe(184);
    expect(msg.callReference).toBe(22000001);
    expect(msg.txKey?.describe()).toEqual({ algorithmId: 1, keyLength: 16, saltLength: 14 });
    expect(msg.txKey?.masterKeySalt().toString('hex')).toBe(
      '000102030405060708090a0b0c0d0e0fa0a1a2a3a4a5a6a7a8a9aaabacad',
    );
    expect(msg.rfc2833PayloadType).toBe(101);
    expect(msg.dtmfType).toBe(10);
    expect(msg.tail.length).toBe(0);
    expect(encodeMessage(msg, version)).toEqual(bytes);
  });

  test('OpenReceiveChannelAck, IPv4 layout', () => {
    const msg = decodeMessage(parseFrame(ORC_ACK_V4), 11);
    expect(msg).toMatchObject({
      kind: 'OpenReceiveChannelAck',
      status: 0,
      ipAddr: { type: 0, ip: '10.0.0.50' },
      portNumber: 16384,
      passThruPartyId: 16777301,
      callReference: 22000001,
    });
    expect(encodeMessage(msg, 11)).toEqual(ORC_ACK_V4);
  });
});

describe('SCCP codec round trips', () => {
  // 5: pre-v11 (video messages without source address), 11 and 16: IPv4 layout, 17 and 20: v17 layout.
  for (const version of [5, 11, 16, 17, 20]) {
    test.each(samples(version).map((m) => [m.kind, m] as const))(`version ${version}: %s`, (_kind, msg) => {
      const bytes = encodeMessage(msg, version);
      const frame = parseFrame(bytes);
      expect(frame.length).toBe(bytes.length - 8);
      const back = decodeMessage(frame, version);
      expect(back).toEqual(msg);
      expect(encodeMessage(back, version)).toEqual(bytes);
    });
  }

  test('address fields are 4 bytes before v17 and type + 16 bytes from v17', () => {
    const ack = samples(11).find((m) => m.kind === 'OpenReceiveChannelAck') as SccpMessage;
    expect(encodeMessage(ack, 11).length).toBe(32); // L = 24
    expect(encodeMessage(ack, 17).length).toBe(48); // L = 40
    const smt = samples(11).find((m) => m.kind === 'StartMediaTransmission') as SccpMessage;
    expect(encodeMessage(smt, 11).readUInt32LE(0)).toBe(120);
    expect(encodeMessage(smt, 17).readUInt32LE(0)).toBe(136);
  });

  test('IPv6 addresses in the v17 layout', () => {
    const ack = samples(17).find((m) => m.kind === 'OpenReceiveChannelAck');
    if (ack?.kind !== 'OpenReceiveChannelAck') throw new Error('sample');
    const v6 = { ...ack, ipAddr: { type: 1, ip: '2001:db8:0:0:0:0:0:32' } };
    const bytes = encodeMessage(v6, 17);
    expect(bytes.subarray(16, 36).toString('hex')).toBe(`01000000${'20010db8000000000000000000000032'}`);
    expect(decodeMessage(parseFrame(bytes), 17)).toEqual(v6);
  });

  test('optional trailing fields follow the length (basic Register, short Stop, old ORC)', () => {
    const basic = encodeFrame(0x01, 0, Buffer.concat([Buffer.from('SEP00112233445\0\0'), Buffer.alloc(20)]));
    const reg = decodeMessage(parseFrame(basic), 0);
    expect(reg).toMatchObject({ kind: 'Register', deviceName: 'SEP00112233445', maxStreams: 0 });
    expect(reg).not.toHaveProperty('protocolVer');
    expect(encodeMessage(reg, 0)).toEqual(basic);
    const shortStop = encodeFrame(0x8b, 0, Buffer.from('0100000002000000', 'hex'));
    expect(decodeMessage(parseFrame(shortStop), 11)).toMatchObject({ conferenceId: 1, passThruPartyId: 2 });
    const orc = samples(11).find((m) => m.kind === 'OpenReceiveChannel') as SccpMessage;
    const full = encodeMessage(orc, 11);
    const v10 = encodeFrame(0x105, 0, full.subarray(12, 12 + 92)); // L = 96: ends after dtmfType
    const old = decodeMessage(parseFrame(v10), 10);
    expect(old).toMatchObject({ kind: 'OpenReceiveChannel', dtmfType: 10 });
    expect(old).not.toHaveProperty('sourceIpAddr');
    expect(encodeMessage(old, 10)).toEqual(v10);
  });

  test('messages outside the table pass through byte for byte', () => {
    const callInfo = encodeFrame(0x8f, 0x11, Buffer.from('any body at all, even odd-sized!'));
    const msg = decodeMessage(parseFrame(callInfo), 17);
    expect(msg.kind).toBe('Other');
    expect(encodeMessage(msg, 17)).toEqual(callInfo);
  });

  test('key bytes never show in JSON or inspect output', () => {
    const smt = decodeMessage(parseFrame(SMT_V4), 11);
    const keyHex = '000102030405060708090a0b0c0d0e0f';
    const text = JSON.stringify(smt) + inspect(smt, { depth: 5 });
    expect(text).not.toContain(keyHex);
    expect(text).not.toContain('0,1,2,3,4,5,6,7,8,9');
    expect(text).toContain('"keyLength":16');
  });
});

describe('SCCP framing', () => {
  const all = [5, 11, 17, 20].flatMap((v) => samples(v).map((m) => encodeMessage(m, v)));
  const stream = Buffer.concat(all);

  test('many messages in one chunk', () => {
    const frames = new SccpFramer().push(stream);
    expect(frames.map((f) => f.raw)).toEqual(all);
  });

  test('one byte at a time', () => {
    const framer = new SccpFramer();
    const frames = [];
    for (let i = 0; i < stream.length; i++) frames.push(...framer.push(stream.subarray(i, i + 1)));
    expect(frames.map((f) => f.raw)).toEqual(all);
    expect(framer.pending).toBe(0);
    expect(framer.consumed).toBe(stream.length);
  });

  test('arbitrary splits (deterministic pseudo-random sizes)', () => {
    let seed = 7;
    const framer = new SccpFramer();
    const frames = [];
    for (let i = 0; i < stream.length; ) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const n = 1 + (seed % 97);
      frames.push(...framer.push(stream.subarray(i, i + n)));
      i += n;
    }
    expect(frames.map((f) => f.raw)).toEqual(all);
  });

  test('length below 4 is refused with its stream offset', () => {
    const framer = new SccpFramer();
    const good = all[0] as Buffer;
    const bad = Buffer.from('030000000000000000000000', 'hex');
    let err: unknown;
    try {
      framer.push(Buffer.concat([good, bad]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SccpFramingError);
    const fe = err as SccpFramingError;
    expect(fe.offset).toBe(good.length);
    expect(fe.reason).toMatch(/length field 3 is below the minimum 4/);
    expect(fe.frames.map((f) => f.raw)).toEqual([good]);
    // A stream has no resynchronisation point: the framer stays failed.
    expect(() => framer.push(good)).toThrow(SccpFramingError);
  });

  test('the size cap is enforced from the header alone', () => {
    const framer = new SccpFramer({ maxMessageBytes: 4096 });
    const header = Buffer.alloc(8);
    header.writeUInt32LE(5000, 0);
    expect(() => framer.push(header)).toThrow(/message of 5008 bytes exceeds the 4096-byte cap/);
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(0xffffffff, 0);
    expect(() => new SccpFramer().push(huge)).toThrow(/exceeds the 65536-byte cap/);
  });

  test('parseFrame refuses trailing or missing bytes', () => {
    expect(() => parseFrame(Buffer.concat([all[0] as Buffer, Buffer.alloc(3)]))).toThrow(/exactly one message/);
    expect(() => parseFrame(SMT_V4.subarray(0, 50))).toThrow(/exactly one message/);
  });
});

describe('SCCP decode errors', () => {
  const decodeErr = (bytes: Buffer, version: number): SccpDecodeError => {
    try {
      decodeMessage(parseFrame(bytes), version);
    } catch (e) {
      if (e instanceof SccpDecodeError) return e;
      throw e;
    }
    throw new Error('decoded without error');
  };

  test('truncated body names message, field and offset', () => {
    const cut = encodeFrame(0x8a, 0, SMT_V4.subarray(12, 12 + 30));
    const e = decodeErr(cut, 11);
    expect(e.message).toMatch(
      /StartMediaTransmission \(0x008a\): truncated body: field ssValue needs 4 bytes at body offset 28, body is 30 bytes \(ipv4 layout, protocol version 11\)/,
    );
  });

  test('a v17-layout message under a pre-17 negotiated version is refused', () => {
    expect(decodeErr(SMT_V17, 11).message).toMatch(/looks like the v17 layout/);
    const ack17 = encodeMessage(samples(17).find((m) => m.kind === 'OpenReceiveChannelAck') as SccpMessage, 17);
    expect(decodeErr(ack17, 16).message).toMatch(/OpenReceiveChannelAck.*looks like the v17 layout/);
  });

  test('an IPv4-layout message under v17 is refused', () => {
    expect(decodeErr(ORC_ACK_V4, 17).message).toMatch(
      /OpenReceiveChannelAck.*field ipAddr needs 20 bytes at body offset 4, body is 20 bytes \(v17 layout/,
    );
    const orc = encodeMessage(samples(16).find((m) => m.kind === 'OpenReceiveChannel') as SccpMessage, 16);
    expect(decodeErr(orc, 17).message).toMatch(
      /OpenReceiveChannel.*length does not fit: field sourceIpAddr needs 20 bytes/,
    );
  });

  test('impossible key lengths are refused without showing key bytes', () => {
    const bad = Buffer.from(SMT_V4);
    bad.writeUInt16LE(17, 12 + 48); // keylen
    const e = decodeErr(bad, 11);
    expect(e.message).toMatch(/field txKey at body offset 44: key block keylen 17 exceeds 16/);
    expect(e.message).not.toMatch(/0001020304/);
  });

  test('video messages need room for the key block', () => {
    const e = decodeErr(encodeFrame(0x132, 0x11, Buffer.alloc(60)), 17);
    expect(e.message).toMatch(/StartMultiMediaTransmission.*truncated body: field parameters needs more bytes/);
  });

  test('KeyBlock.forProfile checks the key length', () => {
    expect(() => KeyBlock.forProfile('AES_CM_128_HMAC_SHA1_80', testKey(1).subarray(0, 29))).toThrow(/needs 30/);
  });
});
