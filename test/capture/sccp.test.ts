/**
 * `capture` of an SCCP phone (issue 15): a scripted SCCP phone over mutual TLS registers and sets
 * up media through the appliance (test/sccp/sccp-call.ts); tshark's skinny dissector reads the
 * capture's clear SCCP on both legs, with the media addresses the inspector rewrote, and the
 * decrypted file holds the phone's RTP.
 */
import type { ViewResult } from '../../src/contracts/service';
import { tsharkFields } from '../e2e/peers';
import { type Env, mediaFlows, openMedia, register, setup, teardown, version } from '../sccp/sccp-call';
import { connectSccpPhone, type SccpPeer } from '../sccp/sccp-peers';
import { MediaEndpoint } from '../sip/sip-helpers';
import { until } from '../tls/harness';

const BASE = 27660;
let e: Env | undefined;
let phone: SccpPeer | undefined;
const phoneRtp = new MediaEndpoint('127.0.1.100');
const farRtp = new MediaEndpoint('127.0.2.30');

beforeAll(async () => {
  e = await setup('nonsecure', BASE, 63600, 'encrypted', true);
}, 60_000);

afterAll(async () => {
  phone?.sock.destroy();
  phoneRtp.close();
  farRtp.close();
  await teardown(e);
});

test('an SCCP call captured with --media --decrypted: skinny on both legs, RTP in clear', async () => {
  if (!e) throw new Error('setup');
  const env = e;
  const run = async (...words: string[]) => {
    const found = env.h.ctx.control.findCommand(words);
    if (!found) throw new Error(words.join(' '));
    return found.item.run(found.args);
  };
  await run('capture', 'sccp1', '--phone', '127.0.1.100', '--media', '--decrypted');
  const phoneRtpPort = await phoneRtp.bind();
  const farPort = await farRtp.bind();
  phone = await connectSccpPhone(env.sccpPort, env.h.pki.phone, version);
  const ucmSide = await register(env, phone, 0, 'SEP001122334455');
  const legs = await openMedia(
    phone,
    ucmSide,
    0x01000077,
    22000077,
    { address: '127.0.1.100', port: phoneRtpPort },
    { address: '127.0.2.30', port: farPort },
  );
  phoneRtp.secure(legs.phoneTx.masterKeySalt(), legs.phoneRx.masterKeySalt());
  await mediaFlows(phoneRtp, farRtp, legs, 'sccp');
  const view = env.h.ctx.control.findShow(['capture', 'sccp1']);
  if (!view) throw new Error('no show capture');
  const row = () => ((view.item.render(view.args) as ViewResult).data as Record<string, unknown>[])[0] ?? {};
  await until(() => (row().decryptedPackets as number) >= 6, 'taps posted');
  await run('no', 'capture', 'sccp1');
  const { file, decryptedFile } = row() as { file: string; decryptedFile: string };

  const decode = [`tcp.port==${BASE + 3},skinny`, `tcp.port==${BASE + 4},skinny`, `udp.port==${legs.outside.port},rtp`];
  // Register crossed both legs; the OpenReceiveChannelAck carries the phone's address on its leg
  // and the inside media-termination address on UCM's (what the inspector rewrote).
  const registers = tsharkFields(file, 'skinny.messageId == 0x0001', ['tcp.dstport', 'skinny.DeviceName'], decode);
  expect(registers).toEqual([
    [String(BASE + 3), 'SEP001122334455'],
    [String(BASE + 4), 'SEP001122334455'],
  ]);
  const acks = tsharkFields(file, 'skinny.messageId == 0x0022', ['tcp.dstport', 'skinny.ipAddr.ipv4'], decode);
  expect(acks).toEqual([
    [String(BASE + 3), '127.0.1.100'],
    [String(BASE + 4), '127.0.2.11'],
  ]);
  const clear = tsharkFields(decryptedFile, 'rtp && ip.src == 127.0.1.100', ['rtp.ssrc', 'rtp.payload'], decode);
  expect(clear).toEqual(Array(3).fill(['0x00001111', Buffer.from('sccp: phone to far end').toString('hex')]));
  const wire = tsharkFields(file, 'rtp && ip.src == 127.0.1.100', ['rtp.ssrc', 'udp.length'], decode);
  expect(wire.map((r) => r[0])).toEqual(Array(3).fill('0x00001111'));
});
