/**
 * SCCP inspection for one phone connection (docs/sccp.md §6, §7): a state machine that takes
 * framed messages from the phone leg and from the UCM leg and says what to forward. It
 *
 * - checks the phone's identity: the device name in Register must be the one in the certificate
 *   the phone presented (and in its secure-phones record when there is one);
 * - follows the negotiated protocol version (Register's maximum, then RegisterAck's choice),
 *   which selects the address layout of every media message;
 * - puts the appliance in the media path: a media session per stream (passThruPartyId), with the
 *   phone only ever seeing the outside media-termination address and UCM only the inside one;
 * - handles keys: the phone leg is always SRTP with keys the appliance generates (the receive key
 *   goes into OpenReceiveChannel, the transmit key into StartMediaTransmission); the inside leg
 *   uses the keys UCM sent (an encrypted phone in a mixed-mode cluster), or plain RTP when UCM
 *   sent none (nonsecure cluster or phone);
 * - releases media on Stop/Close, on-hook CallState, Unregister and connection loss.
 *
 * Pure apart from the injected media interface and key source: no sockets, no clock. Key bytes
 * never appear in verdicts, errors or log fields.
 */

import type { LegDecision } from '../contracts/leg-decision';
import type { MediaAllocator, MediaSessionInfo, SrtpProfile, UpdateLegConfig } from '../contracts/media';
import { SccpDecodeError } from '../errors';
import { addressOf, layoutFor, type SccpAddress } from './address';
import type { SccpFrame } from './framing';
import { isSccpProfile, KeyBlock, type SccpProfile } from './key-block';
import { MSG, messageName } from './message-ids';
import {
  type CallState,
  decodeMessage,
  encodeMessage,
  isDecoded,
  type OpenMultiMediaReceiveChannel,
  type OpenReceiveChannel,
  type ReceiveChannelAck,
  type Register,
  type RegisterAck,
  type SccpMessage,
  type StartMediaTransmission,
  type StartMultiMediaTransmission,
  type StopClose,
  type TransmissionAck,
} from './messages';

/** CallState value for on-hook (docs/sccp.md §5.11). */
export const CALL_STATE_ON_HOOK = 2;
const SRTP_KEY_SALT_BYTES = 30;

export type Verdict =
  /** Forward these bytes to the other leg (the original bytes when nothing was rewritten). */
  | { action: 'forward'; data: Buffer; rewritten: boolean }
  /** Do not forward this message; the connection stays (e.g. no media ports left for a call). */
  | { action: 'drop'; reason: string }
  /** Refuse: close both legs (identity mismatch, a message that cannot be decoded). */
  | { action: 'close'; reason: string };

export interface SccpInspectorOptions {
  /** Distinguishes this connection in media call ids. */
  connectionId: string | number;
  /** Device name from the certificate the phone presented; undefined when it carried none. */
  certDeviceName?: string;
  /** Device name of the phone's secure-phones record (from TFTP), when one exists. */
  securePhoneDeviceName?: string;
  /** The leg decision for this phone (src/tls/leg-decision.ts). */
  decision: LegDecision;
  media: MediaAllocator;
  outsideInterface?: string;
  insideInterface?: string;
  /**
   * Where the phone really is (its TLS peer address). A phone behind NAT announces a private
   * address: media then goes to this address (at the announced port) until the media relay
   * latches onto the phone's first authenticated packet.
   */
  phoneAddress?: string;
  /**
   * Phone-leg profile when UCM sent no keys to mirror. Default AES_CM_128_HMAC_SHA1_80 (CUCM's
   * algorithm 2): its 80-bit tag is also safe for SRTCP, which the 32-bit suite is not (RFC 3711
   * §5.2, libsrtp's note on 32-bit-tag policies).
   */
  outsideProfile?: SccpProfile;
  /** Key material source (crypto.randomBytes in production). */
  randomBytes: (n: number) => Buffer;
  /** Refuse a Register naming a device other than the certificate's (default true; issue 12). */
  bindIdentity?: boolean;
  /** UCM acknowledged the phone's Register, or the registered phone sent a KeepAlive. */
  onRegistered?: (deviceName: string) => void;
  /** Notable events (never carries key bytes). */
  onEvent?: (event: InspectorEvent) => void;
}

export interface InspectorEvent {
  level: 'info' | 'warn' | 'debug';
  msg: string;
  fields?: Record<string, string | number | boolean | undefined>;
}

/** One proxied media stream, keyed by passThruPartyId (what Stop/Close and the acks carry). */
interface Stream {
  callReference: number;
  passThruPartyId: number;
  video: boolean;
  allocation: MediaSessionInfo;
  /** Phone-leg profile and the appliance's keys on that leg. */
  profile: SccpProfile;
  toPhoneKey: Buffer;
  fromPhoneKey: Buffer;
  /** UCM's keys for the inside leg: what the far end sends with / what the phone was told to send with. */
  insideRecv?: { profile: SrtpProfile; key: Buffer };
  insideSend?: { profile: SrtpProfile; key: Buffer };
  insidePeer?: { address: string; rtpPort: number; rtcpPort: number };
  phonePeer?: { address: string; rtpPort: number; rtcpPort: number };
  rx: 'none' | 'open' | 'closed';
  tx: 'none' | 'open' | 'closed';
}

export interface StreamView {
  deviceName?: string;
  callReference: number;
  passThruPartyId: number;
  media: string;
  kind: 'audio' | 'video';
  receive: Stream['rx'];
  transmit: Stream['tx'];
  outsideMedia: 'rtp' | 'srtp';
  insideMedia: 'rtp' | 'srtp';
  callState?: number;
}

export interface InspectorStats {
  fromPhone: number;
  fromUcm: number;
  rewritten: number;
  dropped: number;
  refused: number;
  mediaAllocated: number;
  mediaReleased: number;
  mediaErrors: number;
}

export class SccpInspector {
  private version = 0;
  private registeredName: string | undefined;
  private readonly streams = new Map<number, Stream>();
  private readonly callStates = new Map<number, number>();
  private closedReason: string | undefined;
  /** Messages are handled strictly in arrival order, whichever leg they come from. */
  private queue: Promise<unknown> = Promise.resolve();
  readonly stats: InspectorStats = {
    fromPhone: 0,
    fromUcm: 0,
    rewritten: 0,
    dropped: 0,
    refused: 0,
    mediaAllocated: 0,
    mediaReleased: 0,
    mediaErrors: 0,
  };

  constructor(private readonly opts: SccpInspectorOptions) {
    if (opts.outsideProfile !== undefined && !isSccpProfile(opts.outsideProfile)) {
      throw new Error(`outside profile ${opts.outsideProfile} cannot be expressed in SCCP`);
    }
  }

  /** The negotiated protocol version (selects the address layout). */
  get protocolVersion(): number {
    return this.version;
  }

  get deviceName(): string | undefined {
    return this.registeredName;
  }

  fromPhone(frame: SccpFrame): Promise<Verdict> {
    return this.enqueue(() => this.handle('phone', frame));
  }

  fromUcm(frame: SccpFrame): Promise<Verdict> {
    return this.enqueue(() => this.handle('ucm', frame));
  }

  /** The connection is gone (either leg): release every media session it holds. */
  close(reason: string): Promise<void> {
    return this.enqueue(async () => {
      if (this.closedReason === undefined) this.closedReason = reason;
      await this.releaseWhere(() => true, `connection closed: ${reason}`);
    });
  }

  streamsView(): StreamView[] {
    return [...this.streams.values()].map((s) => ({
      deviceName: this.registeredName,
      callReference: s.callReference,
      passThruPartyId: s.passThruPartyId,
      media: String(s.allocation.id),
      kind: s.video ? 'video' : 'audio',
      receive: s.rx,
      transmit: s.tx,
      outsideMedia: this.opts.decision.outsideMedia,
      insideMedia: s.insideRecv || s.insideSend ? 'srtp' : 'rtp',
      callState: this.callStates.get(s.callReference),
    }));
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const next = this.queue.then(job, job);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async handle(from: 'phone' | 'ucm', frame: SccpFrame): Promise<Verdict> {
    if (from === 'phone') this.stats.fromPhone++;
    else this.stats.fromUcm++;
    if (this.closedReason !== undefined) return this.refuse(`connection already closed: ${this.closedReason}`);
    if (!isDecoded(frame.messageId)) return pass(frame);
    let msg: SccpMessage;
    try {
      msg = decodeMessage(frame, this.version);
    } catch (err) {
      if (err instanceof SccpDecodeError) return this.refuse(err.message);
      throw err;
    }
    const verdict = await this.dispatch(from, msg, frame);
    if (verdict.action === 'forward' && verdict.rewritten) this.stats.rewritten++;
    if (verdict.action === 'drop') this.stats.dropped++;
    return verdict;
  }

  private dispatch(from: 'phone' | 'ucm', msg: SccpMessage, frame: SccpFrame): Promise<Verdict> | Verdict {
    // A message id belongs to one direction; the other direction's copy is just forwarded.
    if (from === 'phone') {
      switch (msg.kind) {
        case 'Register':
          return this.onRegister(msg, frame);
        case 'KeepAlive':
          if (this.registeredName !== undefined) this.opts.onRegistered?.(this.registeredName);
          return pass(frame);
        case 'Unregister':
          return this.releaseThenPass('unregister', frame);
        case 'OpenReceiveChannelAck':
        case 'OpenMultiMediaReceiveChannelAck':
          return this.onReceiveAck(msg, frame);
        case 'StartMediaTransmissionAck':
        case 'StartMultiMediaTransmissionAck':
          return this.onTransmitAck(msg, frame);
        default:
          return pass(frame);
      }
    }
    switch (msg.kind) {
      case 'RegisterAck':
        return this.onRegisterAck(msg, frame);
      case 'OpenReceiveChannel':
      case 'OpenMultiMediaReceiveChannel':
        return this.onOpenReceive(msg);
      case 'StartMediaTransmission':
      case 'StartMultiMediaTransmission':
        return this.onStartTransmit(msg);
      case 'StopMediaTransmission':
      case 'CloseReceiveChannel':
      case 'StopMultiMediaTransmission':
      case 'CloseMultiMediaReceiveChannel':
        return this.onStopClose(msg, frame);
      case 'CallState':
        return this.onCallState(msg, frame);
      default:
        return pass(frame);
    }
  }

  // ---- registration ----------------------------------------------------------------------------

  private onRegister(msg: Register, frame: SccpFrame): Verdict {
    const name = msg.deviceName;
    const cert = this.opts.certDeviceName;
    // A nonsecure listener has no certificate to bind to; bind-identity off trusts the Register.
    const binds = this.opts.decision.phoneSignaling === 'tls' && this.opts.bindIdentity !== false;
    if (binds && cert === undefined)
      return this.refuse(`Register from ${name}: the phone's certificate carries no device name`);
    if (binds && cert !== undefined && !sameDevice(name, cert)) {
      return this.refuse(`Register device name ${name} does not match certificate device name ${cert}`);
    }
    const record = this.opts.securePhoneDeviceName;
    if (record !== undefined && !sameDevice(name, record)) {
      return this.refuse(`Register device name ${name} does not match secure-phones record ${record}`);
    }
    if (this.registeredName !== undefined && !sameDevice(name, this.registeredName)) {
      return this.refuse(`Register device name ${name} on a connection registered as ${this.registeredName}`);
    }
    this.registeredName = name;
    this.version = msg.protocolVer ?? 0;
    this.event('info', 'SCCP register', { device: name, deviceType: msg.deviceType, maxProtocolVersion: this.version });
    return pass(frame);
  }

  private onRegisterAck(msg: RegisterAck, frame: SccpFrame): Verdict {
    if (this.registeredName !== undefined) this.opts.onRegistered?.(this.registeredName);
    if (msg.maxProtocolVer !== undefined) {
      const phoneMax = this.version;
      this.version = msg.maxProtocolVer;
      this.event('info', 'SCCP registered', {
        device: this.registeredName,
        protocolVersion: this.version,
        layout: layoutFor(this.version),
        aboveAnnouncedMax: this.version > phoneMax,
      });
    }
    return pass(frame);
  }

  // ---- media -----------------------------------------------------------------------------------

  private async onOpenReceive(msg: OpenReceiveChannel | OpenMultiMediaReceiveChannel): Promise<Verdict> {
    const video = msg.kind === 'OpenMultiMediaReceiveChannel';
    const got = await this.streamFor(msg.callReference, msg.passThruPartyId, video, msg.rxKey);
    if ('reason' in got) return this.drop(msg.kind, got.reason);
    const s = got.stream;
    s.rx = 'open';
    if (msg.rxKey.encrypted) {
      const profile = msg.rxKey.profile;
      if (!profile) return this.drop(msg.kind, `UCM's algorithm ${msg.rxKey.algorithmId} is not supported`);
      s.insideRecv = { profile, key: msg.rxKey.masterKeySalt() };
    }
    const err = await this.configureInside(s);
    if (err) return this.drop(msg.kind, err);
    // The phone decrypts what the appliance sends it; an authenticated/nonsecure phone gets none.
    msg.rxKey = this.srtpOutside ? KeyBlock.forProfile(s.profile, s.toPhoneKey) : KeyBlock.none();
    if (msg.sourceIpAddr !== undefined) {
      // The phone is told the address it can reach: the public one behind a NAT (issue 13).
      const src = this.ownAddress(s.allocation.outside.advertised ?? s.allocation.outside.address);
      if (typeof src === 'string') return this.refuse(src);
      msg.sourceIpAddr = src;
      msg.sourcePortNumber = s.allocation.outside.rtpPort;
    }
    return this.rewritten(msg);
  }

  private async onStartTransmit(msg: StartMediaTransmission | StartMultiMediaTransmission): Promise<Verdict> {
    const video = msg.kind === 'StartMultiMediaTransmission';
    if (!msg.txKey && this.srtpOutside)
      return this.drop(msg.kind, 'no key block in the message: the phone leg cannot be made SRTP');
    const txKey = msg.txKey ?? KeyBlock.none();
    const got = await this.streamFor(msg.callReference, msg.passThruPartyId, video, txKey);
    if ('reason' in got) return this.drop(msg.kind, got.reason);
    const s = got.stream;
    s.tx = 'open';
    if (txKey.encrypted) {
      const profile = txKey.profile;
      if (!profile) return this.drop(msg.kind, `UCM's algorithm ${txKey.algorithmId} is not supported`);
      s.insideSend = { profile, key: txKey.masterKeySalt() };
    }
    const port = msg.remotePortNumber;
    s.insidePeer = { address: msg.remoteIpAddr.ip, rtpPort: port, rtcpPort: port + 1 };
    const err = await this.configureInside(s);
    if (err) return this.drop(msg.kind, err);
    const out = this.ownAddress(s.allocation.outside.advertised ?? s.allocation.outside.address);
    if (typeof out === 'string') return this.refuse(out);
    // The phone sends to the appliance's outside leg, encrypted with the key the appliance decrypts with.
    msg.remoteIpAddr = out;
    msg.remotePortNumber = s.allocation.outside.rtpPort;
    if (msg.txKey) msg.txKey = this.srtpOutside ? KeyBlock.forProfile(s.profile, s.fromPhoneKey) : KeyBlock.none();
    return this.rewritten(msg);
  }

  private async onReceiveAck(msg: ReceiveChannelAck, frame: SccpFrame): Promise<Verdict> {
    const s = this.streams.get(msg.passThruPartyId);
    if (!s) return this.drop(msg.kind, `no media stream for passThruPartyId ${msg.passThruPartyId}`);
    if (msg.status !== 0) {
      this.event('info', 'phone could not open its receive channel', {
        status: msg.status,
        party: msg.passThruPartyId,
      });
      return pass(frame);
    }
    s.phonePeer = {
      address: this.phoneMediaAddress(msg.ipAddr.ip),
      rtpPort: msg.portNumber,
      rtcpPort: msg.portNumber + 1,
    };
    const err = await this.configureOutside(s);
    if (err) return this.drop(msg.kind, err);
    const inside = this.ownAddress(s.allocation.inside.address);
    if (typeof inside === 'string') return this.refuse(inside);
    // The far end sends to the appliance's inside leg.
    msg.ipAddr = inside;
    msg.portNumber = s.allocation.inside.rtpPort;
    return this.rewritten(msg);
  }

  private async onTransmitAck(msg: TransmissionAck, frame: SccpFrame): Promise<Verdict> {
    const s = this.streams.get(msg.passThruPartyId);
    if (!s) return this.drop(msg.kind, `no media stream for passThruPartyId ${msg.passThruPartyId}`);
    if (msg.status !== 0) return pass(frame);
    if (!s.phonePeer) {
      // Transmit-only stream (no receive ack): the phone's own media address is its peer.
      s.phonePeer = {
        address: this.phoneMediaAddress(msg.transmitIpAddr.ip),
        rtpPort: msg.transmitPort,
        rtcpPort: msg.transmitPort + 1,
      };
      const err = await this.configureOutside(s);
      if (err) return this.drop(msg.kind, err);
    }
    const inside = this.ownAddress(s.allocation.inside.address);
    if (typeof inside === 'string') return this.refuse(inside);
    msg.transmitIpAddr = inside;
    msg.transmitPort = s.allocation.inside.rtpPort;
    return this.rewritten(msg);
  }

  private async onStopClose(msg: StopClose, frame: SccpFrame): Promise<Verdict> {
    const s = this.streams.get(msg.passThruPartyId);
    if (s) {
      const receive = msg.kind === 'CloseReceiveChannel' || msg.kind === 'CloseMultiMediaReceiveChannel';
      if (receive) s.rx = 'closed';
      else s.tx = 'closed';
      // Both directions share one media session: it goes when neither is open any more.
      if (s.rx !== 'open' && s.tx !== 'open') await this.release(s, messageName(MSG[msg.kind]));
    }
    return pass(frame);
  }

  private async onCallState(msg: CallState, frame: SccpFrame): Promise<Verdict> {
    if (msg.callState === CALL_STATE_ON_HOOK) {
      this.callStates.delete(msg.callReference);
      await this.releaseWhere((s) => s.callReference === msg.callReference, 'on-hook');
    } else {
      this.callStates.set(msg.callReference, msg.callState);
    }
    return pass(frame);
  }

  private async releaseThenPass(reason: string, frame: SccpFrame): Promise<Verdict> {
    await this.releaseWhere(() => true, reason);
    return pass(frame);
  }

  /** The stream for a party id, allocating its media session (and phone-leg keys) on first use. */
  private async streamFor(
    callReference: number,
    passThruPartyId: number,
    video: boolean,
    ucmKey: KeyBlock,
  ): Promise<{ stream: Stream } | { reason: string }> {
    const existing = this.streams.get(passThruPartyId);
    if (existing && existing.callReference === callReference && existing.video === video) return { stream: existing };
    // A party id reused for another call: the old stream is over.
    if (existing) await this.release(existing, 'party id reused');
    const ucmProfile = ucmKey.profile;
    // Mirror UCM's suite when it sent one: the phone is known to accept it.
    const profile: SccpProfile =
      ucmProfile && isSccpProfile(ucmProfile) ? ucmProfile : (this.opts.outsideProfile ?? 'AES_CM_128_HMAC_SHA1_80');
    let allocation: MediaSessionInfo;
    try {
      allocation = await this.opts.media.allocate({
        callId: `sccp:${this.opts.connectionId}:${callReference}:${passThruPartyId}`,
        outsideInterface: this.opts.outsideInterface,
        insideInterface: this.opts.insideInterface,
        // Who asks (issue 12): media admission caps this phone and this connection.
        phone: this.opts.certDeviceName ?? this.registeredName,
        connection: `sccp-${this.opts.connectionId}`,
      });
    } catch (err) {
      this.stats.mediaErrors++;
      return { reason: `media allocation failed: ${(err as Error).message}` };
    }
    this.stats.mediaAllocated++;
    const stream: Stream = {
      callReference,
      passThruPartyId,
      video,
      allocation,
      profile,
      toPhoneKey: this.newKey(),
      fromPhoneKey: this.newKey(),
      rx: 'none',
      tx: 'none',
    };
    this.streams.set(passThruPartyId, stream);
    this.event('debug', 'media stream allocated', {
      callReference,
      party: passThruPartyId,
      media: String(allocation.id),
      profile,
    });
    const err = await this.configureOutside(stream);
    if (err) {
      await this.release(stream, 'outside leg setup failed');
      return { reason: err };
    }
    return { stream };
  }

  private newKey(): Buffer {
    const key = this.opts.randomBytes(SRTP_KEY_SALT_BYTES);
    if (key.length !== SRTP_KEY_SALT_BYTES) throw new Error('key source returned the wrong length');
    return key;
  }

  /** The leg decision's phone-side media: SRTP for an encrypted phone, RTP otherwise. */
  private get srtpOutside(): boolean {
    return this.opts.decision.outsideMedia === 'srtp';
  }

  /** Phone leg: SRTP with the appliance's keys (RTP per the decision); the peer once the phone told its address. */
  private async configureOutside(s: Stream): Promise<string | undefined> {
    const update: UpdateLegConfig = this.srtpOutside
      ? { mode: 'srtp', srtp: { profile: s.profile, recvKey: s.fromPhoneKey, sendKey: s.toPhoneKey } }
      : { mode: 'rtp' };
    if (s.phonePeer) update.peer = s.phonePeer;
    return this.update(s, 'outside', update);
  }

  /**
   * Inside leg: SRTP with UCM's keys when UCM sent any (it only does for an encrypted call), else
   * RTP. A one-way stream has only one of the two keys; the engine takes both, so the known key
   * stands in for the direction that never carries packets.
   */
  private async configureInside(s: Stream): Promise<string | undefined> {
    const recv = s.insideRecv ?? s.insideSend;
    const send = s.insideSend ?? s.insideRecv;
    const update: UpdateLegConfig = { mode: 'rtp' };
    if (recv && send) {
      update.mode = 'srtp';
      update.srtp = { profile: recv.profile, recvKey: recv.key, sendKey: send.key };
    }
    if (update.mode !== this.opts.decision.insideMedia) {
      this.event('info', 'inside media differs from the leg decision', {
        decided: this.opts.decision.insideMedia,
        ucmSent: update.mode,
        callReference: s.callReference,
      });
    }
    if (s.insidePeer) update.peer = s.insidePeer;
    return this.update(s, 'inside', update);
  }

  private async update(s: Stream, leg: 'outside' | 'inside', update: UpdateLegConfig): Promise<string | undefined> {
    try {
      await this.opts.media.updateLeg(s.allocation.id, leg, update);
      return undefined;
    } catch (err) {
      this.stats.mediaErrors++;
      return `media ${leg} leg update failed: ${(err as Error).message}`;
    }
  }

  private async releaseWhere(pred: (s: Stream) => boolean, reason: string): Promise<void> {
    for (const s of [...this.streams.values()]) if (pred(s)) await this.release(s, reason);
  }

  private async release(s: Stream, reason: string): Promise<void> {
    if (this.streams.get(s.passThruPartyId) === s) this.streams.delete(s.passThruPartyId);
    try {
      await this.opts.media.release(s.allocation.id, reason);
      this.stats.mediaReleased++;
    } catch (err) {
      this.stats.mediaErrors++;
      this.event('warn', 'media release failed', { media: String(s.allocation.id), error: (err as Error).message });
    }
  }

  /** The announced media address, or the TLS peer address when the phone is behind NAT. */
  private phoneMediaAddress(announced: string): string {
    const seen = this.opts.phoneAddress;
    return seen !== undefined && isPrivateIpv4(announced) && !isPrivateIpv4(seen) ? seen : announced;
  }

  /** An appliance address as a field value; only IPv4 fits the pre-17 layout. */
  private ownAddress(ip: string): SccpAddress | string {
    const a = addressOf(ip);
    if (a.type !== 0 && layoutFor(this.version) === 'ipv4') {
      return `media address ${ip} is not IPv4 but protocol version ${this.version} only carries IPv4`;
    }
    return a;
  }

  private rewritten(msg: SccpMessage): Verdict {
    return { action: 'forward', data: encodeMessage(msg, this.version), rewritten: true };
  }

  private drop(kind: string, reason: string): Verdict {
    this.event('warn', `${kind} dropped`, { reason });
    return { action: 'drop', reason: `${kind}: ${reason}` };
  }

  /** The caller closes both legs; the media goes with them (close()), and nothing else passes. */
  private refuse(reason: string): Verdict {
    if (this.closedReason === undefined) this.closedReason = reason;
    this.stats.refused++;
    this.event('warn', 'SCCP connection refused', { reason });
    return { action: 'close', reason };
  }

  private event(level: InspectorEvent['level'], msg: string, fields?: InspectorEvent['fields']): void {
    this.opts.onEvent?.({ level, msg, fields });
  }
}

function pass(frame: SccpFrame): Verdict {
  return { action: 'forward', data: frame.raw, rewritten: false };
}

/** RFC 1918 and RFC 6598 (carrier-grade NAT) space: addresses that only mean something behind a NAT. */
function isPrivateIpv4(ip: string): boolean {
  const [a = -1, b = -1] = ip.split('.').map(Number);
  return a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128);
}

/** Device names are SEP + hex MAC; certificates may spell the hex in either case. */
function sameDevice(a: string, b: string): boolean {
  return a.toUpperCase() === b.toUpperCase();
}
