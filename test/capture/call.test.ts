/**
 * `capture` through a real call (issue 15): a scripted SIP phone over mutual TLS, the appliance's
 * TLS proxy and media termination (a real worker thread), a scripted UCM over TCP; a capture for
 * the phone with --media --decrypted; then tshark (a real Debian peer) reads the files back: the
 * SIP of both legs in clear, the rewritten SDP, the SRTP as received and the RTP after
 * decryption. And the limits: bytes, concurrency, names and paths.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type tls from 'node:tls';
import { type CaptureService, createCaptureService, MAX_ACTIVE_CAPTURES } from '../../src/capture/service';
import type { ViewResult } from '../../src/contracts/service';
import { CaptureError } from '../../src/errors';
import { createMediaService, type MediaService } from '../../src/media/service';
import { createTlsProxyService, type TlsProxyService } from '../../src/tls/service';
import { tsharkFields } from '../e2e/peers';
import { audioSdp, MediaEndpoint, mediaOf, request, respond, sdpOf } from '../sip/sip-helpers';
import { serve } from '../support/serve';
import { connectPhone, type Harness, harness, ScriptedUcm, type SipPeer, until } from '../tls/harness';

const PORT = 27461;
const UCM_TCP = 27460;
const UCM_TLS = 27462;
const PHONE_IP = '127.0.1.100';

let h: Harness;
let media: MediaService;
let capture: CaptureService;
let service: TlsProxyService;
const ucm = new ScriptedUcm();
let phone: SipPeer;
let ucmSide: SipPeer;
const phoneRtp = new MediaEndpoint(PHONE_IP);
const ucmRtp = new MediaEndpoint('127.0.2.30');
let phoneRtpPort: number;
let ucmRtpPort: number;
/** The outside leg of the second call, left up for the worker-restart test. */
let call2: { address: string; port: number } | undefined;

const command = async (...words: string[]): Promise<string> => {
  const found = h.ctx.control.findCommand(words);
  if (!found) throw new Error(`no command ${words.join(' ')}`);
  return found.item.run(found.args);
};
/** The capture's row of `show capture NAME`; {} once it is gone. */
const showCapture = (name: string): Record<string, unknown> => {
  const view = h.ctx.control.findShow(['capture', name]);
  if (!view) throw new Error('no show capture');
  try {
    return ((view.item.render(view.args) as ViewResult).data as Record<string, unknown>[])[0] ?? {};
  } catch {
    return {};
  }
};
const clearCapture = async (name: string): Promise<string> => {
  const found = h.ctx.control.findClear(['capture', name]);
  if (!found) throw new Error('no clear capture');
  return found.item.run(found.args);
};

beforeAll(async () => {
  h = await harness({ mode: 'nonsecure', port: PORT, ucmTcpPort: UCM_TCP, ucmTlsPort: UCM_TLS, mediaPort: 63400 });
  await ucm.start(UCM_TCP, UCM_TLS, h.pki.ucm, h.ctx.state.ldcIssuer?.certPem ?? '');
  media = createMediaService(h.ctx, { workers: 1, quarantineMs: 0 });
  await serve(media, h.ctx.control);
  capture = createCaptureService(h.ctx, { media });
  await serve(capture, h.ctx.control);
  service = createTlsProxyService(h.ctx, { media, capture, phones: { get: () => ({ originalMode: 'encrypted' }) } });
  await serve(service, h.ctx.control);
  phoneRtpPort = await phoneRtp.bind();
  ucmRtpPort = await ucmRtp.bind();
  phone = await connectPhone(PORT, h.pki.phone, { localAddress: PHONE_IP } as tls.ConnectionOptions);
  ucmSide = await ucm.peer(0);
}, 30_000);

afterAll(async () => {
  phone?.sock.destroy();
  phoneRtp.close();
  ucmRtp.close();
  await service?.stop();
  await capture?.stop();
  await media?.stop();
  await ucm.stop();
  h?.cleanup();
});

/** tshark's SIP and RTP dissectors on the ports of this test (not the well-known ones). */
const decodeAs = (rtpPort: number) => [`tcp.port==${PORT},sip`, `tcp.port==${UCM_TCP},sip`, `udp.port==${rtpPort},rtp`];

test('a call captured with --media --decrypted: SIP of both legs, SRTP as received, RTP decrypted', async () => {
  const started = await command('capture', 'call1', '--phone', PHONE_IP, '--media', '--decrypted');
  expect(started).toContain('DECRYPTED');
  expect(h.logLines.some((l) => l.includes('WRITES DECRYPTED MEDIA'))).toBe(true);

  const phoneKey = randomBytes(30);
  const dialog = {
    from: '"Alice" <sip:1000@127.0.1.1>;tag=p1',
    to: '<sip:1001@127.0.1.1>',
    callId: 'capture-1@127.0.1.100',
    contact: `<sip:1000@${PHONE_IP}:5061;transport=tls>`,
  };
  const via = `SIP/2.0/TLS ${PHONE_IP}:5061;branch=z9hG4bKcap`;
  const offer = audioSdp({ address: PHONE_IP, port: phoneRtpPort, proto: 'RTP/SAVP', key: phoneKey });
  phone.send(request('INVITE', 'sip:1001@127.0.1.1;user=phone', { ...dialog, via: `${via}1`, cseq: 1 }, offer));
  const atUcm = await ucmSide.waitFor((m) => m.startsWith('INVITE'), 'INVITE at UCM');
  const inside = mediaOf(sdpOf(atUcm));
  ucmSide.send(
    respond(atUcm, 200, 'OK', {
      toTag: 'u1',
      contact: `<sip:1001@127.0.2.20:${UCM_TCP};transport=tcp>`,
      body: audioSdp({ address: '127.0.2.30', port: ucmRtpPort, proto: 'RTP/AVP' }),
    }),
  );
  const ok = await phone.waitFor((m) => m.startsWith('SIP/2.0 200'), '200 at phone');
  const outside = mediaOf(sdpOf(ok));
  phone.send(
    request('ACK', `sip:1001@127.0.1.1:${PORT};transport=tls`, {
      ...dialog,
      to: `${dialog.to};tag=u1`,
      via: `${via}2`,
      cseq: 1,
    }),
  );
  await ucmSide.waitFor((m) => m.startsWith('ACK'), 'ACK at UCM');

  phoneRtp.secure(phoneKey, outside.key as Buffer);
  for (let n = 0; n < 5; n++) {
    phoneRtp.send(Buffer.from(`phone-voice-${n}`), { address: outside.address, port: outside.port }, 0x1111);
    ucmRtp.send(Buffer.from(`ucm-voice-${n}`), { address: inside.address, port: inside.port }, 0x2222);
  }
  await until(() => ucmRtp.received.length >= 5 && phoneRtp.received.length >= 5, 'media both ways');
  // The worker posts its taps every 100 ms: wait until they are in.
  await until(() => (showCapture('call1').decryptedPackets as number) >= 10, 'taps posted');

  const stopped = await command('no', 'capture', 'call1');
  expect(stopped).toMatch(/stopped \(stopped\)/);
  const row = showCapture('call1');
  expect(row).toMatchObject({ state: 'stopped', mediaPackets: 10, decryptedPackets: 10, dropped: 0 });
  const file = row.file as string;
  const clearFile = row.decryptedFile as string;
  expect(path.dirname(file)).toBe(path.join(h.ctx.state.dir, 'captures'));
  for (const f of [file, clearFile]) expect(statSync(f).mode & 0o777).toBe(0o600);

  // Signaling, in clear, on both legs.
  const sip = tsharkFields(
    file,
    'sip.Method == "INVITE"',
    ['tcp.dstport', 'sip.Call-ID', 'sdp.connection_info.address'],
    decodeAs(outside.port),
  );
  expect(sip).toEqual([
    [String(PORT), dialog.callId, PHONE_IP],
    [String(UCM_TCP), dialog.callId, '127.0.2.11'],
  ]);
  const answers = tsharkFields(
    file,
    'sip.Status-Code == 200',
    ['tcp.srcport', 'sdp.connection_info.address'],
    decodeAs(outside.port),
  );
  expect(answers).toEqual([
    [String(UCM_TCP), '127.0.2.30'],
    [String(PORT), '127.0.1.11'], // the SDP the phone got: rewritten to the media-termination address
  ]);
  // No gaps, retransmissions or bad checksums in the synthesized TCP streams.
  expect(
    tsharkFields(file, 'tcp.analysis.flags || ip.checksum.status == "Bad"', ['frame.number'], decodeAs(outside.port)),
  ).toEqual([]);

  // Media as received (SRTP from the phone) and decrypted, one packet for one.
  const rtpFields = ['ip.src', 'rtp.ssrc', 'rtp.seq', 'rtp.p_type', 'rtp.payload', 'udp.payload'];
  const wire = tsharkFields(file, 'rtp', rtpFields, decodeAs(outside.port));
  const clear = tsharkFields(clearFile, 'rtp', rtpFields, decodeAs(outside.port));
  const fromPhone = (rows: string[][]) => rows.filter((r) => r[0] === PHONE_IP);
  const toPhone = (rows: string[][]) => rows.filter((r) => r[0] === outside.address);
  expect(fromPhone(clear).map((r) => r[1])).toEqual(Array(5).fill('0x00001111'));
  expect(toPhone(clear).map((r) => r[1])).toEqual(Array(5).fill('0x00002222'));
  const seqs = fromPhone(clear).map((r) => Number(r[2]));
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(seqs).size).toBe(5);
  expect(fromPhone(clear).every((r) => r[3] === '0')).toBe(true);
  const hexText = (t: string) => Buffer.from(t).toString('hex');
  expect(fromPhone(clear).map((r) => r[4])).toEqual([0, 1, 2, 3, 4].map((n) => hexText(`phone-voice-${n}`)));
  expect(toPhone(clear).map((r) => r[4])).toEqual([0, 1, 2, 3, 4].map((n) => hexText(`ucm-voice-${n}`)));
  // As on the wire: same SSRCs and sequence numbers, but encrypted payloads (plus the 10-byte tag).
  expect(fromPhone(wire).map((r) => [r[1], r[2]])).toEqual(fromPhone(clear).map((r) => [r[1], r[2]]));
  expect(toPhone(wire).map((r) => [r[1], r[2]])).toEqual(toPhone(clear).map((r) => [r[1], r[2]]));
  const wires = [...fromPhone(wire), ...toPhone(wire)];
  const clears = [...fromPhone(clear), ...toPhone(clear)];
  wires.forEach((w, i) => {
    const c = clears[i] as string[];
    const [wp, cp] = [w[5] as string, c[5] as string];
    expect(wp.slice(0, 24)).toBe(cp.slice(0, 24)); // the RTP header travels in clear
    expect(wp.length).toBe(cp.length + 20); // the 10-byte tag
    expect(wp.slice(24, cp.length)).not.toBe(cp.slice(24));
  });

  // The call ends; media is released.
  phone.send(
    request('BYE', `sip:1001@127.0.1.1:${PORT};transport=tls`, {
      ...dialog,
      to: `${dialog.to};tag=u1`,
      via: `${via}3`,
      cseq: 2,
    }),
  );
  const bye = await ucmSide.waitFor((m) => m.startsWith('BYE'), 'BYE at UCM');
  ucmSide.send(respond(bye, 200, 'OK'));
  await phone.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes('CSeq: 2 BYE'), '200 to BYE');
});

test('--max-bytes ends a capture by itself, the file holding whole records tshark reads', async () => {
  // A call whose media fills 4096 bytes quickly; no phone filter: every phone.
  await command('capture', 'small', '--media', '--max-bytes', '4096');
  const s = media.sessions()[0];
  expect(s).toBeUndefined(); // the first call is over: a fresh one below
  const key = randomBytes(30);
  const callId = 'capture-2@127.0.1.100';
  const base = {
    from: '<sip:1000@127.0.1.1>;tag=p2',
    to: '<sip:1001@127.0.1.1>',
    callId,
    contact: `<sip:1000@${PHONE_IP}:5061;transport=tls>`,
  };
  phone.send(
    request(
      'INVITE',
      'sip:1001@127.0.1.1',
      { ...base, via: `SIP/2.0/TLS ${PHONE_IP}:5061;branch=z9hG4bKsm1`, cseq: 1 },
      audioSdp({ address: PHONE_IP, port: phoneRtpPort, proto: 'RTP/SAVP', key }),
    ),
  );
  const atUcm = await ucmSide.waitFor((m) => m.startsWith('INVITE') && m.includes(callId), 'INVITE at UCM');
  ucmSide.send(
    respond(atUcm, 200, 'OK', {
      toTag: 'u2',
      body: audioSdp({ address: '127.0.2.30', port: ucmRtpPort, proto: 'RTP/AVP' }),
    }),
  );
  const ok = await phone.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes(callId), '200 at phone');
  const outside = mediaOf(sdpOf(ok));
  call2 = { address: outside.address, port: outside.port };
  phoneRtp.secure(key, outside.key as Buffer);
  for (let n = 0; n < 40; n++)
    phoneRtp.send(Buffer.alloc(160, n), { address: outside.address, port: outside.port }, 0x3333);
  await until(() => showCapture('small').state === 'stopped', 'capture stopped at its byte limit');
  const row = showCapture('small');
  expect(row).toMatchObject({ reason: 'max-bytes', byteLimit: 4096 });
  const file = row.file as string;
  await until(() => existsSync(file) && statSync(file).size === row.bytes, 'file flushed');
  expect(statSync(file).size).toBeLessThanOrEqual(4096);
  const frames = tsharkFields(file, 'frame', ['frame.number']);
  expect(frames.length).toBe((row.signalingPackets as number) + (row.mediaPackets as number));
  expect(row.mediaPackets as number).toBeLessThan(40);
});

test('a media worker that dies and is restarted taps the captured phone again', async () => {
  if (!call2) throw new Error('the second call is not up');
  const to = call2;
  await command('capture', 'survive', '--phone', PHONE_IP, '--media');
  const sent = (n: number) => {
    for (let i = 0; i < n; i++) phoneRtp.send(Buffer.from(`survive-${i}`), to, 0x3333);
  };
  sent(3);
  await until(() => (showCapture('survive').mediaPackets as number) >= 3, 'taps before the restart');
  const restarts = media.workerRestarts();
  await media.killWorker(0);
  await until(() => media.workerRestarts() > restarts, 'worker restarted');
  // Its sessions are bound again and their legs replayed, the tap with them: packets are captured again.
  await until(() => {
    sent(1);
    return (showCapture('survive').mediaPackets as number) >= 6;
  }, 'taps after the restart');
  await command('no', 'capture', 'survive');
});

test('bounded and checked: concurrent captures, names in use, paths, options', async () => {
  const names = Array.from({ length: MAX_ACTIVE_CAPTURES }, (_, i) => `busy${i}`);
  for (const n of names) await command('capture', n);
  await expect(command('capture', 'one-more')).rejects.toThrow(/captures are running, the most at once/);
  await expect(command('capture', 'busy0')).rejects.toThrow(/busy0 is running/);
  for (const n of names) await expect(clearCapture(n)).resolves.toMatch(new RegExp(`capture ${n} cleared`));
  expect(showCapture('busy0')).toEqual({});
  await expect(command('capture', '../etc')).rejects.toBeInstanceOf(CaptureError);
  await expect(command('capture', 'x', '--file', 'relative.pcap')).rejects.toThrow(/absolute path/);
  await expect(command('capture', 'x', '--file', '/nonexistent-dir/x.pcap')).rejects.toThrow(/cannot create/);
  await expect(command('capture', 'x', '--decrypted')).rejects.toThrow(/--decrypted needs --media/);
  await expect(command('capture', 'x', '--duration', '3601')).rejects.toThrow(/--duration 3601: must be 1-3600/);
  await expect(command('capture', 'x', '--phone', 'phone.example')).rejects.toThrow(/not an IPv4 address/);
  await expect(command('capture', 'x', '--bogus')).rejects.toThrow(/Unknown option '--bogus'/);
  const mine = path.join(h.dir, 'mine.pcap');
  await command('capture', 'x', '--file', mine, '--duration', '1');
  await expect(command('no', 'capture', 'x')).resolves.toMatch(/capture x stopped/);
  await expect(command('capture', 'y', '--file', mine)).rejects.toThrow(/exists/);
});

test('--duration ends a capture by itself', async () => {
  await command('capture', 'short', '--duration', '1');
  expect(showCapture('short').state).toBe('running');
  await until(() => showCapture('short').state === 'stopped', 'capture stopped at its duration', 5000);
  expect(showCapture('short')).toMatchObject({ reason: 'duration', durationLimit: 1 });
});
