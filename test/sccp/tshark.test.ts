/**
 * Independent check: Wireshark's skinny dissector (Debian's tshark, a peer no one here wrote)
 * decodes what the inspector sends, and the fields must be what the inspector meant to write.
 * Also: our codec and tshark agree on the example capture (docs/sccp.md §9).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decideLegs } from '../../src/contracts/leg-decision';
import { parseFrame, SccpFramer } from '../../src/sccp/framing';
import { SccpInspector, type Verdict } from '../../src/sccp/inspector';
import { KeyBlock } from '../../src/sccp/key-block';
import { decodeMessage, encodeMessage, type SccpMessage } from '../../src/sccp/messages';
import { samples, testKey } from '../support/sccp-samples';
import { MediaDouble } from './media-double';
import { readTcpPayloads, type Segment, writePcap } from './pcap';

const FIELDS = [
  'frame.number',
  'skinny.messageId',
  'skinny.hdr_version',
  'skinny.DeviceName',
  'skinny.protocolVer',
  'skinny.maxProtocolVer',
  'skinny.conferenceId',
  'skinny.passThroughPartyId',
  'skinny.callReference',
  'skinny.algorithmID',
  'skinny.keylen',
  'skinny.saltlen',
  'skinny.key',
  'skinny.salt',
  'skinny.sourceIpAddr.ipv4',
  'skinny.sourcePortNumber',
  'skinny.ipAddr.ipv4',
  'skinny.portNumber',
  'skinny.remoteIpAddr.ipv4',
  'skinny.remotePortNumber',
  'skinny.transmitIpAddr.ipv4',
  'skinny.callState',
  '_ws.malformed',
  '_ws.expert.message',
];

type Layers = Record<string, string[] | undefined>;

const tmp = mkdtempSync(path.join(tmpdir(), 'sccp-tshark-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function tshark(file: string): Layers[] {
  const probe = spawnSync('tshark', ['-v'], { encoding: 'utf8', timeout: 20000 });
  if (probe.status !== 0) throw new Error('tshark is not installed (Debian package "tshark")');
  const args = ['-r', file, '-n', '-T', 'json', ...FIELDS.flatMap((f) => ['-e', f])];
  const out = execFileSync('tshark', args, { encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'ignore'] });
  return (JSON.parse(out) as { _source: { layers: Layers } }[]).map((p) => p._source.layers);
}

const one = (l: Layers | undefined, f: string) => {
  const v = l?.[f];
  if (v === undefined) return undefined;
  if (v.length !== 1) throw new Error(`${f}: ${v.length} values`);
  return v[0];
};
const num = (l: Layers | undefined, f: string) => {
  const v = one(l, f);
  return v === undefined ? undefined : Number(v);
};
const bytesOf = (l: Layers | undefined, f: string) => (l?.[f] ?? []).map(Number);

function forwarded(v: Verdict): Buffer {
  if (v.action !== 'forward') throw new Error(`expected forward, got ${v.action}: ${v.reason}`);
  return v.data;
}

describe.each([
  ['IPv4 layout, protocol version 11', 11],
  ['v17 layout, protocol version 17', 17],
])('tshark decodes the rewritten call (%s)', (_name, version) => {
  // Messages carry the version in the header, as phones do (tshark picks the layout from it).
  const msg = <K extends SccpMessage['kind']>(kind: K, over: Record<string, unknown> = {}) => {
    const m = samples(version).find((s) => s.kind === kind);
    if (!m) throw new Error(kind);
    return { ...m, headerVersion: version, ...over } as SccpMessage;
  };
  const ucmRx = KeyBlock.forProfile('AES_CM_128_HMAC_SHA1_80', testKey(50));
  const ucmTx = KeyBlock.forProfile('AES_CM_128_HMAC_SHA1_80', testKey(60));
  const party = 16777301;

  test('addresses, ports, key lengths, algorithm, keys and party ids are as intended', async () => {
    const media = new MediaDouble();
    let seed = 200;
    const insp = new SccpInspector({
      connectionId: 1,
      certDeviceName: 'SEP001122334455',
      decision: decideLegs('mixed', 'encrypted'),
      media,
      randomBytes: (n) => testKey(seed++).subarray(0, n),
    });
    const segments: Segment[] = [];
    const phone = async (m: SccpMessage) => {
      const out = forwarded(await insp.fromPhone(parseFrame(encodeMessage(m, version))));
      segments.push({ toUcm: true, payload: out });
    };
    const ucm = async (m: SccpMessage) => {
      const out = forwarded(await insp.fromUcm(parseFrame(encodeMessage(m, version))));
      segments.push({ toUcm: false, payload: out });
    };
    await phone(msg('Register', { protocolVer: version }));
    await ucm(msg('RegisterAck', { maxProtocolVer: version, headerVersion: 0 }));
    await ucm(msg('OpenReceiveChannel', { rxKey: ucmRx }));
    await phone(msg('OpenReceiveChannelAck'));
    await ucm(msg('StartMediaTransmission', { txKey: ucmTx }));
    await phone(msg('StartMediaTransmissionAck'));
    await ucm(msg('CallState', { callState: 5 }));
    await ucm(msg('CloseReceiveChannel'));
    await ucm(msg('StopMediaTransmission'));
    await ucm(msg('CallState', { callState: 2 }));

    const alloc = media.allocations[0]?.allocation;
    const outside = media.last(String(alloc?.id), 'outside');
    if (!alloc || !outside?.srtp) throw new Error('media not set up');
    const file = path.join(tmp, `call-v${version}.pcap`);
    writeFileSync(
      file,
      writePcap(segments, { phone: { ip: '10.0.0.50', port: 51000 }, ucm: { ip: '10.0.0.1', port: 2000 } }),
    );
    const pkts = tshark(file);
    expect(pkts).toHaveLength(segments.length);
    for (const p of pkts) {
      expect(p['_ws.malformed']).toBeUndefined();
      expect(p['_ws.expert.message'] ?? []).not.toContainEqual(expect.stringMatching(/malformed|exception/i));
    }
    expect(pkts.map((p) => num(p, 'skinny.messageId'))).toEqual([
      0x01, 0x81, 0x105, 0x22, 0x8a, 0x154, 0x111, 0x106, 0x8b, 0x111,
    ]);
    const [reg, ack, orc, orcAck, smt, smtAck] = pkts;
    expect(one(reg, 'skinny.DeviceName')).toBe('SEP001122334455');
    expect(num(ack, 'skinny.maxProtocolVer')).toBe(version);

    // OpenReceiveChannel toward the phone: the appliance's send key, never UCM's.
    const sendKey = outside.srtp.sendKey;
    expect(num(orc, 'skinny.passThroughPartyId')).toBe(party);
    expect(one(orc, 'skinny.algorithmID')).toBe('0x00000002');
    expect(num(orc, 'skinny.keylen')).toBe(16);
    expect(num(orc, 'skinny.saltlen')).toBe(14);
    expect(bytesOf(orc, 'skinny.key')).toEqual([...sendKey.subarray(0, 16)]);
    expect(bytesOf(orc, 'skinny.salt')).toEqual([...sendKey.subarray(16, 30)]);
    expect(bytesOf(orc, 'skinny.key')).not.toEqual([...testKey(50).subarray(0, 16)]);
    expect(one(orc, 'skinny.sourceIpAddr.ipv4')).toBe(alloc.outside.address);
    expect(num(orc, 'skinny.sourcePortNumber')).toBe(alloc.outside.rtpPort);

    // Acks toward UCM only show the inside media-termination address.
    expect(one(orcAck, 'skinny.ipAddr.ipv4')).toBe(alloc.inside.address);
    expect(num(orcAck, 'skinny.portNumber')).toBe(alloc.inside.rtpPort);
    expect(num(orcAck, 'skinny.passThroughPartyId')).toBe(party);
    expect(one(smtAck, 'skinny.transmitIpAddr.ipv4')).toBe(alloc.inside.address);
    expect(num(smtAck, 'skinny.passThroughPartyId')).toBe(party);

    // StartMediaTransmission toward the phone: send to the outside leg with the appliance's receive key.
    const recvKey = outside.srtp.recvKey;
    expect(one(smt, 'skinny.remoteIpAddr.ipv4')).toBe(alloc.outside.address);
    expect(num(smt, 'skinny.remotePortNumber')).toBe(alloc.outside.rtpPort);
    expect(num(smt, 'skinny.passThroughPartyId')).toBe(party);
    expect(one(smt, 'skinny.algorithmID')).toBe('0x00000002');
    expect(num(smt, 'skinny.keylen')).toBe(16);
    expect(num(smt, 'skinny.saltlen')).toBe(14);
    expect(bytesOf(smt, 'skinny.key')).toEqual([...recvKey.subarray(0, 16)]);
    expect(bytesOf(smt, 'skinny.salt')).toEqual([...recvKey.subarray(16, 30)]);
    expect(media.live).toEqual([]);
  });
});

test('video (v17): tshark sees the rewritten addresses of the multimedia messages', async () => {
  // Only the fields before the parameter union: Wireshark's union sizes are inconsistent
  // (docs/sccp.md §5.13-5.14), so its view of the video key blocks cannot be an oracle.
  const version = 17;
  const media = new MediaDouble();
  const insp = new SccpInspector({
    connectionId: 2,
    certDeviceName: 'SEP001122334455',
    decision: decideLegs('nonsecure', undefined),
    media,
    randomBytes: (n) => testKey(300).subarray(0, n),
  });
  const pick = (kind: SccpMessage['kind']) => {
    const m = samples(version).find((x) => x.kind === kind);
    if (!m) throw new Error(kind);
    return { ...m, headerVersion: version } as SccpMessage;
  };
  const segments: Segment[] = [];
  const run = async (toUcm: boolean, m: SccpMessage) => {
    const frame = parseFrame(encodeMessage(m, version));
    const out = forwarded(await (toUcm ? insp.fromPhone(frame) : insp.fromUcm(frame)));
    segments.push({ toUcm, payload: out });
  };
  await run(true, pick('Register'));
  await run(false, { ...pick('RegisterAck'), headerVersion: 0 });
  await run(false, pick('OpenMultiMediaReceiveChannel'));
  await run(true, pick('OpenMultiMediaReceiveChannelAck'));
  await run(false, { ...pick('StartMultiMediaTransmission'), passThruPartyId: 16777302 } as SccpMessage);
  const alloc = media.allocations[0]?.allocation;
  if (!alloc) throw new Error('no allocation');
  expect(media.allocations).toHaveLength(1);
  const file = path.join(tmp, 'video-v17.pcap');
  writeFileSync(
    file,
    writePcap(segments, { phone: { ip: '10.0.0.50', port: 51000 }, ucm: { ip: '10.0.0.1', port: 2000 } }),
  );
  const [, , , ack, smmt] = tshark(file);
  expect(num(ack, 'skinny.messageId')).toBe(0x31);
  expect(one(ack, 'skinny.ipAddr.ipv4')).toBe(alloc.inside.address);
  expect(num(ack, 'skinny.passThroughPartyId')).toBe(16777302);
  expect(num(smmt, 'skinny.messageId')).toBe(0x132);
  expect(one(smmt, 'skinny.remoteIpAddr.ipv4')).toBe(alloc.outside.address);
  expect(num(smmt, 'skinny.remotePortNumber')).toBe(alloc.outside.rtpPort);
});

test('our codec and tshark agree on the example capture', () => {
  const file = path.join(__dirname, '../fixtures/sccp/sccp_examples.pcap');
  const pkts = tshark(file);
  const payloads = readTcpPayloads(file);
  expect(payloads).toHaveLength(pkts.length);
  payloads.forEach(({ payload }, i) => {
    const l = pkts[i];
    const frames = new SccpFramer().push(payload);
    expect(frames).toHaveLength(1);
    const frame = frames[0];
    if (!frame) throw new Error('no frame');
    // Like Wireshark, take the layout from the header version (0 = basic, i.e. pre-17).
    const m = decodeMessage(frame, frame.headerVersion);
    expect(frame.messageId).toBe(num(l, 'skinny.messageId'));
    expect(frame.headerVersion).toBe(Number(one(l, 'skinny.hdr_version')));
    expect(encodeMessage(m, frame.headerVersion)).toEqual(payload);
    const fields = m as unknown as Record<string, unknown>;
    for (const [ours, theirs] of [
      ['conferenceId', 'skinny.conferenceId'],
      ['passThruPartyId', 'skinny.passThroughPartyId'],
      ['callReference', 'skinny.callReference'],
      ['remotePortNumber', 'skinny.remotePortNumber'],
      ['portNumber', 'skinny.portNumber'],
    ] as const) {
      expect([ours, fields[ours]]).toEqual([ours, num(l, theirs)]);
    }
    const addr = (fields.remoteIpAddr ?? fields.ipAddr) as { ip: string } | undefined;
    expect(addr?.ip).toBe(one(l, 'skinny.remoteIpAddr.ipv4') ?? one(l, 'skinny.ipAddr.ipv4'));
    const key = (fields.rxKey ?? fields.txKey) as KeyBlock | undefined;
    if (key) {
      expect(key.algorithmId).toBe(Number(one(l, 'skinny.algorithmID')));
      expect(key.keyLength).toBe(num(l, 'skinny.keylen'));
      expect(key.saltLength).toBe(num(l, 'skinny.saltlen'));
      expect([...key.key.subarray(0, key.keyLength)]).toEqual(bytesOf(l, 'skinny.key'));
      expect([...key.salt.subarray(0, key.saltLength)]).toEqual(bytesOf(l, 'skinny.salt'));
    } else {
      expect(l?.['skinny.algorithmID']).toBeUndefined();
    }
  });
  // The capture holds what the docs list: KeepAlive, ORC, ORC-Ack, SMT in both layouts.
  expect(payloads.map((p) => p.payload.readUInt32LE(8))).toEqual([0x00, 0x105, 0x22, 0x8a, 0x8a]);
});
