/**
 * A scripted SCCP call through the appliance (shared by test/sccp/integration.test.ts and the
 * capture test): the services on loopback, Register, OpenReceiveChannel/StartMediaTransmission
 * with their acks for one party id, and media both ways.
 */

import { type CaptureService, createCaptureService } from '../../src/capture/service';
import type { PhoneSecurityMode } from '../../src/contracts/leg-decision';
import { createMediaService, type MediaService } from '../../src/media/service';
import { KeyBlock } from '../../src/sccp/key-block';
import { MSG } from '../../src/sccp/message-ids';
import type { MessageOf, SccpMessage } from '../../src/sccp/messages';
import { createTlsProxyService, type TlsProxyService } from '../../src/tls/service';
import type { MediaEndpoint } from '../sip/sip-helpers';
import { samples } from '../support/sccp-samples';
import { serve } from '../support/serve';
import { type Harness, harness, until } from '../tls/harness';
import { type SccpPeer, SccpUcm } from './sccp-peers';

export const VERSION = 17;
export const version = () => VERSION;

export interface Env {
  h: Harness;
  media: MediaService;
  service: TlsProxyService;
  ucm: SccpUcm;
  sccpPort: number;
  /** With `withCapture`: the capture service, tapping the TLS proxy and media (issue 15). */
  capture?: CaptureService;
}

export async function setup(
  mode: 'nonsecure' | 'mixed',
  base: number,
  mediaPort: number,
  phoneMode: PhoneSecurityMode,
  withCapture = false,
): Promise<Env> {
  const h = await harness({ mode, port: base + 1, ucmTcpPort: base, ucmTlsPort: base + 2, mediaPort });
  // High ports for SCCP too (the harness only sets the SIP ones).
  const policy = h.ctx.loaded.policy;
  policy.listen['sccp-tls'] = base + 3;
  for (const m of policy.cluster.members) {
    m['sccp-port'] = base + 4;
    m['sccp-tls-port'] = base + 5;
  }
  const ucm = new SccpUcm(version);
  await ucm.start(
    mode === 'mixed' ? base + 5 : base + 4,
    mode === 'mixed' ? { cred: h.pki.ucm, ldcIssuerPem: h.ctx.state.ldcIssuer?.certPem ?? '' } : undefined,
  );
  const media = createMediaService(h.ctx, { workers: 1, quarantineMs: 0 });
  await serve(media, h.ctx.control);
  const capture = withCapture ? createCaptureService(h.ctx, { media }) : undefined;
  if (capture) await serve(capture, h.ctx.control);
  const service = createTlsProxyService(h.ctx, {
    media,
    ...(capture ? { capture } : {}),
    phones: { get: () => ({ originalMode: phoneMode }) },
    sccp: true,
    connectTimeoutMs: 2000,
  });
  await serve(service, h.ctx.control);
  return { h, media, service, ucm, sccpPort: base + 3, ...(capture ? { capture } : {}) };
}

export async function teardown(e: Env | undefined): Promise<void> {
  if (!e) return;
  await e.service.stop();
  await e.capture?.stop();
  await e.media.stop();
  await e.ucm.stop();
  e.h.cleanup();
}

export const msg = (kind: SccpMessage['kind'], over: Record<string, unknown> = {}): SccpMessage => {
  const m = samples(VERSION).find((s) => s.kind === kind);
  if (!m) throw new Error(kind);
  return { ...m, ...over } as SccpMessage;
};

export function as<K extends SccpMessage['kind']>(m: SccpMessage, kind: K): MessageOf<K> {
  if (m.kind !== kind) throw new Error(`expected ${kind}, got ${m.kind}`);
  return m as MessageOf<K>;
}

/** Register through the appliance; returns the UCM side of the connection. */
export async function register(e: Env, phone: SccpPeer, ucmIndex: number, deviceName: string): Promise<SccpPeer> {
  const sent = phone.send(msg('Register', { deviceName, protocolVer: VERSION }));
  const ucmSide = await e.ucm.peer(ucmIndex);
  expect((await ucmSide.next(MSG.Register, 'Register at UCM')).raw).toEqual(sent);
  const ack = ucmSide.send(msg('RegisterAck', { maxProtocolVer: VERSION }));
  expect((await phone.next(MSG.RegisterAck, 'RegisterAck at phone')).raw).toEqual(ack);
  return ucmSide;
}

export interface CallLegs {
  outside: { address: string; port: number };
  inside: { address: string; port: number };
  phoneRx: KeyBlock;
  phoneTx: KeyBlock;
}

/** ORC → ack → SMT → ack for one party id; checks what each side sees. */
export async function openMedia(
  phone: SccpPeer,
  ucmSide: SccpPeer,
  party: number,
  callRef: number,
  phoneRtp: { address: string; port: number },
  far: { address: string; port: number },
  ucmKeys?: { rx: KeyBlock; tx: KeyBlock },
): Promise<CallLegs> {
  ucmSide.send(
    msg('OpenReceiveChannel', {
      passThruPartyId: party,
      callReference: callRef,
      conferenceId: callRef,
      rxKey: ucmKeys?.rx ?? KeyBlock.none(),
      sourceIpAddr: { type: 0, ip: far.address },
      sourcePortNumber: far.port,
    }),
  );
  const orc = as(await phone.nextMessage(MSG.OpenReceiveChannel, 'OpenReceiveChannel at phone'), 'OpenReceiveChannel');
  expect(orc.passThruPartyId).toBe(party);
  expect(orc.rxKey.describe()).toEqual({ algorithmId: 2, keyLength: 16, saltLength: 14 });
  expect(orc.sourceIpAddr?.ip).toBe('127.0.1.11');
  if (ucmKeys) expect(orc.rxKey.masterKeySalt()).not.toEqual(ucmKeys.rx.masterKeySalt());

  phone.send(
    msg('OpenReceiveChannelAck', {
      passThruPartyId: party,
      callReference: callRef,
      ipAddr: { type: 0, ip: phoneRtp.address },
      portNumber: phoneRtp.port,
    }),
  );
  const ack = as(await ucmSide.nextMessage(MSG.OpenReceiveChannelAck, 'ORC ack at UCM'), 'OpenReceiveChannelAck');
  expect(ack.ipAddr.ip).toBe('127.0.2.11');

  ucmSide.send(
    msg('StartMediaTransmission', {
      passThruPartyId: party,
      callReference: callRef,
      conferenceId: callRef,
      remoteIpAddr: { type: 0, ip: far.address },
      remotePortNumber: far.port,
      txKey: ucmKeys?.tx ?? KeyBlock.none(),
    }),
  );
  const smt = as(await phone.nextMessage(MSG.StartMediaTransmission, 'SMT at phone'), 'StartMediaTransmission');
  expect(smt.remoteIpAddr.ip).toBe('127.0.1.11');
  expect(smt.remotePortNumber).toBe(orc.sourcePortNumber);
  expect(smt.txKey?.describe()).toEqual({ algorithmId: 2, keyLength: 16, saltLength: 14 });

  phone.send(
    msg('StartMediaTransmissionAck', {
      passThruPartyId: party,
      callReference: callRef,
      conferenceId: callRef,
      transmitIpAddr: { type: 0, ip: phoneRtp.address },
      transmitPort: phoneRtp.port,
    }),
  );
  const smtAck = as(
    await ucmSide.nextMessage(MSG.StartMediaTransmissionAck, 'SMT ack at UCM'),
    'StartMediaTransmissionAck',
  );
  expect(smtAck.transmitIpAddr.ip).toBe('127.0.2.11');
  expect(smtAck.transmitPort).toBe(ack.portNumber);
  return {
    outside: { address: smt.remoteIpAddr.ip, port: smt.remotePortNumber },
    inside: { address: ack.ipAddr.ip, port: ack.portNumber },
    phoneRx: orc.rxKey,
    phoneTx: smt.txKey as KeyBlock,
  };
}

/** Media both ways with payloads intact. */
export async function mediaFlows(
  phoneRtp: MediaEndpoint,
  farRtp: MediaEndpoint,
  legs: CallLegs,
  tag: string,
): Promise<void> {
  const fromPhone = `${tag}: phone to far end`;
  const fromFar = `${tag}: far end to phone`;
  for (let i = 0; i < 3; i++) phoneRtp.send(Buffer.from(fromPhone), legs.outside, 0x1111);
  await until(
    () => farRtp.payloads().includes(fromPhone),
    () => `${fromPhone}; far end got ${farRtp.payloads().join('|')}`,
  );
  for (let i = 0; i < 3; i++) farRtp.send(Buffer.from(fromFar), legs.inside, 0x2222);
  await until(
    () => phoneRtp.payloads().includes(fromFar),
    () => `${fromFar}; phone got ${phoneRtp.payloads().join('|')}`,
  );
  expect(farRtp.payloads()).not.toContain('UNDECRYPTABLE');
  expect(phoneRtp.payloads()).not.toContain('UNDECRYPTABLE');
}
