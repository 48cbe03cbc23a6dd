/**
 * The two simulated phones of the lab.
 *
 * RemotePhone (outside) boots the secure way: CTLFile.tlv through the appliance's TFTP, checked;
 * SEP<MAC>.cnf.xml.sgn, checked against the CTL's TFTP certificate; then it registers over TLS
 * with its manufacturer certificate where the configuration says, accepting only the CTL's CCM
 * certificate from the server. Its calls use SDES-SRTP (AES_CM_128_HMAC_SHA1_80) only.
 *
 * InsidePhone registers with the UCM simulator over TCP; its calls use plain RTP.
 *
 * Both can call and be called. A callee starts sending as it sends its 200 OK, as real phones
 * do; a caller when it has the 200 OK (and, with SRTP, the answer's key).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { getHeader, type SipMessage } from '../src/sip/message';
import { formatCrypto, parseCrypto, type SdesCrypto } from '../src/sip/sdes';
import { attributes, connectionAddress, parseSdp } from '../src/sip/sdp';
import { TftpClient } from '../src/tftp/client';
import { MediaEndpoint } from './media-endpoint';
import {
  BootError,
  checkConfig,
  checkCtl,
  checkServerCertificate,
  type PhoneConfig,
  type TrustList,
} from './secure-boot';
import {
  contactUri,
  isResponseTo,
  newBranch,
  newCallId,
  newTag,
  SipChannel,
  sipRequest,
  sipResponse,
  statusOf,
} from './sip-channel';

const SUITE = 'AES_CM_128_HMAC_SHA1_80';
const SIP_TIMEOUT_MS = 5000;

export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
const DIRECTIONS: readonly SdpDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

export interface SdpAudio {
  address: string;
  port: number;
  proto: string;
  crypto?: SdesCrypto;
  direction: SdpDirection;
}

export function audioSdp(o: { address: string; port: number; crypto?: SdesCrypto; direction?: SdpDirection }): string {
  return [
    'v=0',
    `o=Cisco-SIPUA ${o.port} 1 IN IP4 ${o.address}`,
    's=SIP Call',
    't=0 0',
    `m=audio ${o.port} ${o.crypto ? 'RTP/SAVP' : 'RTP/AVP'} 0 101`,
    `c=IN IP4 ${o.address}`,
    ...(o.crypto ? [`a=crypto:${formatCrypto(o.crypto)}`] : []),
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    `a=${o.direction ?? 'sendrecv'}`,
    '',
  ].join('\r\n');
}

/** The first active audio stream of an SDP body, with its first usable SDES line. */
export function audioOf(body: Buffer): SdpAudio {
  const sdp = parseSdp(body.toString('latin1'));
  const m = sdp.media.find((x) => x.media === 'audio' && x.port > 0);
  if (!m) throw new Error('SDP has no active audio stream');
  const address = connectionAddress(sdp, m);
  if (!address) throw new Error('SDP audio stream has no connection address');
  const crypto = attributes(m.lines, 'crypto')
    .map(parseCrypto)
    .find((c) => c.ok && c.crypto.suite === SUITE);
  const attr = (lines: string[]) => DIRECTIONS.find((d) => lines.some((l) => l === `a=${d}`));
  const direction = attr(m.lines) ?? attr(sdp.session) ?? 'sendrecv';
  return { address, port: m.port, proto: m.proto, direction, ...(crypto?.ok ? { crypto: crypto.crypto } : {}) };
}

/** What answers an offer's direction (RFC 3264 §6.1): a held side is not sent to. */
function answerDirection(offer: SdpDirection): SdpDirection {
  return offer === 'sendonly' ? 'recvonly' : offer === 'recvonly' ? 'sendonly' : offer;
}

interface Dialog {
  callId: string;
  from: string;
  to: string;
  target: string;
  cseq: number;
  /** The call's audio port, this phone's SDES key in it and the peer's (re-INVITEs keep them). */
  media?: MediaEndpoint;
  key?: SdesCrypto;
  peerKey?: Buffer;
  /** Packets to send when the call is resumed after a hold. */
  packets: number;
}

/** One call as a phone saw it: its media port, and for a callee when it answered and hung up. */
export interface CallSide {
  media: MediaEndpoint;
  /** Callee: the offer it answered. */
  answered: Promise<SdpAudio>;
  /** Callee: the BYE arrived. */
  ended: Promise<void>;
}

export abstract class Phone {
  channel?: SipChannel;
  protected contact = '';
  protected viaHost = '';
  /** Where its requests go (the Request-URI host of REGISTER and INVITE). */
  protected registrar = '';
  private readonly endpoints: MediaEndpoint[] = [];
  private dialog?: Dialog;
  private incoming?: { side: CallSide; packets: number; answered: (o: SdpAudio) => void; ended: () => void };
  errors: string[] = [];

  constructor(
    readonly label: string,
    readonly address: string,
    readonly line: string,
    private readonly ssrc: number,
    private readonly toneHz: number,
    /** Offers and accepts only RTP/SAVP with an AES_CM_128_HMAC_SHA1_80 key. */
    readonly srtp: boolean,
  ) {}

  protected via(): string {
    return `SIP/2.0/${this.viaHost};branch=${newBranch()}`;
  }

  /** A fresh audio port per call, so each call's audio is checked on its own. */
  private async newMedia(): Promise<MediaEndpoint> {
    const m = new MediaEndpoint(this.address, (this.ssrc + this.endpoints.length) >>> 0, this.toneHz, this.srtp);
    this.endpoints.push(m);
    await m.bind();
    return m;
  }

  private offerSdp(m: MediaEndpoint, crypto?: SdesCrypto): string {
    return audioSdp({ address: this.address, port: m.bound, ...(crypto ? { crypto } : {}) });
  }

  protected listen(): void {
    const ch = this.channel as SipChannel;
    ch.onRequest = (msg) => {
      try {
        this.onRequest(msg);
      } catch (err) {
        this.errors.push(`${this.label}: ${(err as Error).message}`);
      }
    };
  }

  protected async registerWith(contactParams = ''): Promise<SipMessage> {
    const ch = this.channel as SipChannel;
    const callId = newCallId(this.address);
    const aor = `<sip:${this.line}@${this.registrar}>`;
    ch.send(
      sipRequest('REGISTER', `sip:${this.registrar}`, {
        via: this.via(),
        from: `${aor};tag=${newTag()}`,
        to: aor,
        callId,
        cseq: 1,
        contact: `${this.contact}${contactParams}`,
        extra: [{ name: 'Expires', value: '3600' }],
      }),
    );
    const res = await ch.waitFor((m) => isResponseTo(m, callId, 'REGISTER', (s) => s >= 200), '200 to REGISTER');
    if (statusOf(res) !== 200) throw new Error(`${this.label}: REGISTER answered ${statusOf(res)}`);
    return res;
  }

  /** INVITE; resolves at the 200 OK (ACK sent, keys set) with the answer. The caller starts its audio. */
  async call(target: string): Promise<{ setupMs: number; ringing: boolean; answer: SdpAudio; media: MediaEndpoint }> {
    const ch = this.channel as SipChannel;
    const media = await this.newMedia();
    const key: SdesCrypto | undefined = this.srtp ? { tag: 1, suite: SUITE, key: randomBytes(30) } : undefined;
    const dialog: Dialog = {
      callId: newCallId(this.address),
      from: `"${this.label} ${this.line}" <sip:${this.line}@${this.registrar}>;tag=${newTag()}`,
      to: `<sip:${target}@${this.registrar}>`,
      target: `sip:${target}@${this.registrar};user=phone`,
      cseq: 101,
      packets: 0,
    };
    const t0 = performance.now();
    ch.send(
      sipRequest(
        'INVITE',
        dialog.target,
        {
          via: this.via(),
          from: dialog.from,
          to: dialog.to,
          callId: dialog.callId,
          cseq: dialog.cseq,
          contact: this.contact,
        },
        this.offerSdp(media, key),
      ),
    );
    const ringing = ch
      .waitFor((m) => isResponseTo(m, dialog.callId, 'INVITE', (s) => s === 180), '180 Ringing', SIP_TIMEOUT_MS)
      .then(
        () => true,
        () => false,
      );
    const final = await ch.waitFor(
      (m) => isResponseTo(m, dialog.callId, 'INVITE', (s) => s >= 200),
      'answer to INVITE',
    );
    const setupMs = performance.now() - t0;
    if (statusOf(final) !== 200) throw new Error(`${this.label}: INVITE answered ${statusOf(final)}`);
    dialog.to = getHeader(final, 'to') ?? dialog.to;
    dialog.target = contactUri(getHeader(final, 'contact')) ?? dialog.target;
    this.dialog = dialog;
    this.inDialog('ACK', dialog.cseq);
    const answer = audioOf(final.body);
    dialog.media = media;
    dialog.key = key;
    if (key) {
      if (!answer.crypto) throw new Error(`${this.label}: the answer has no ${SUITE} key (proto ${answer.proto})`);
      dialog.peerKey = answer.crypto.key;
      media.secure(key.key, answer.crypto.key);
    } else if (answer.proto !== 'RTP/AVP') {
      throw new Error(`${this.label}: the answer is ${answer.proto}, not RTP/AVP`);
    }
    return { setupMs, ringing: await ringing, answer, media };
  }

  /**
   * Hold (`inactive`, `sendonly`) or resume (`sendrecv`, with `packets` more to send) of the
   * current call, from this side: a re-INVITE with the same port and key, then the ACK. Holding,
   * it stops sending first; resumed, it sends again where the answer says. Resolves with the
   * answer (its key is checked against the one agreed: a peer that re-keys is followed).
   */
  async reInvite(direction: SdpDirection, packets = 0): Promise<SdpAudio> {
    const d = this.dialog;
    const ch = this.channel;
    if (!d?.media || !ch) throw new Error(`${this.label}: no call to re-INVITE`);
    const cseq = ++d.cseq;
    if (direction !== 'sendrecv') d.media.stop();
    ch.send(
      sipRequest(
        'INVITE',
        d.target,
        { via: this.via(), from: d.from, to: d.to, callId: d.callId, cseq, contact: this.contact },
        audioSdp({ address: this.address, port: d.media.bound, ...(d.key ? { crypto: d.key } : {}), direction }),
      ),
    );
    const final = await ch.waitFor(
      (m) => isResponseTo(m, d.callId, 'INVITE', (s) => s >= 200) && getHeader(m, 'cseq') === `${cseq} INVITE`,
      'answer to re-INVITE',
    );
    this.inDialog('ACK', cseq);
    if (statusOf(final) !== 200) throw new Error(`${this.label}: re-INVITE answered ${statusOf(final)}`);
    const answer = audioOf(final.body);
    this.followKey(d, answer);
    if (direction === 'sendrecv' && answer.direction === 'sendrecv')
      d.media.resume(packets, { address: answer.address, port: answer.port });
    return answer;
  }

  /** Re-INVITEs this phone answered: the offers as they arrived (address, key, direction). */
  readonly reInvitesAnswered: SdpAudio[] = [];

  private followKey(d: Dialog, sdp: SdpAudio): void {
    if (!d.key) return;
    if (!sdp.crypto) throw new Error(`${this.label}: re-INVITE SDP without an ${SUITE} key`);
    if (d.peerKey && sdp.crypto.key.equals(d.peerKey)) return;
    d.peerKey = sdp.crypto.key;
    d.media?.secure(d.key.key, sdp.crypto.key);
  }

  /** A re-INVITE in the current call: answered with the same port and key, hold or resume mirrored. */
  private answerReInvite(msg: SipMessage, d: Dialog): void {
    const ch = this.channel as SipChannel;
    const offer = audioOf(msg.body);
    this.reInvitesAnswered.push(offer);
    this.followKey(d, offer);
    const direction = answerDirection(offer.direction);
    const key = d.key && offer.crypto ? { ...d.key, tag: offer.crypto.tag } : d.key;
    ch.send(
      sipResponse(msg, 200, 'OK', {
        contact: this.contact,
        sdp: audioSdp({
          address: this.address,
          port: (d.media as MediaEndpoint).bound,
          ...(key ? { crypto: key } : {}),
          direction,
        }),
      }),
    );
    if (direction === 'sendrecv' || direction === 'sendonly') {
      if (!d.media?.sending) d.media?.resume(d.packets, { address: offer.address, port: offer.port });
    } else d.media?.stop();
  }

  private inDialog(method: 'ACK' | 'BYE', cseq: number): void {
    const d = this.dialog as Dialog;
    this.channel?.send(
      sipRequest(method, d.target, { via: this.via(), from: d.from, to: d.to, callId: d.callId, cseq }),
    );
  }

  /** BYE for the call this phone placed; the answer's status. */
  async hangUp(): Promise<number> {
    const d = this.dialog;
    if (!d || !this.channel) return 0;
    this.inDialog('BYE', ++d.cseq);
    const res = await this.channel.waitFor((m) => isResponseTo(m, d.callId, 'BYE', (s) => s >= 200), '200 to BYE');
    this.dialog = undefined;
    return statusOf(res);
  }

  /** Packets a held call sends when resumed (either side's re-INVITE). */
  set resumePackets(n: number) {
    if (this.dialog) this.dialog.packets = n;
  }

  /** Arms the phone to answer the next INVITE and send `packets` of audio from its 200 OK on. */
  async expectCall(packets: number): Promise<CallSide> {
    const media = await this.newMedia();
    let answered: (o: SdpAudio) => void = () => undefined;
    let ended: () => void = () => undefined;
    const side: CallSide = {
      media,
      answered: new Promise((r) => {
        answered = r;
      }),
      ended: new Promise((r) => {
        ended = r;
      }),
    };
    this.incoming = { side, packets, answered, ended };
    return side;
  }

  private onRequest(msg: SipMessage): void {
    const ch = this.channel as SipChannel;
    if (msg.start.kind !== 'request') return;
    const tag = newTag();
    const call = this.incoming;
    switch (msg.start.method) {
      case 'INVITE': {
        const d = this.dialog;
        if (d && getHeader(msg, 'call-id') === d.callId) {
          this.answerReInvite(msg, d);
          return;
        }
        if (!call) {
          ch.send(sipResponse(msg, 486, 'Busy Here', { toTag: tag }));
          return;
        }
        const offer = audioOf(msg.body);
        let key: SdesCrypto | undefined;
        if (this.srtp) {
          if (!offer.crypto) {
            ch.send(sipResponse(msg, 488, 'Not Acceptable Here', { toTag: tag }));
            throw new Error(`offer without an ${SUITE} key (${offer.proto})`);
          }
          // Answer with the tag offered and a key of our own (RFC 4568 §7.1.2).
          key = { tag: offer.crypto.tag, suite: SUITE, key: randomBytes(30) };
          call.side.media.secure(key.key, offer.crypto.key);
        } else if (offer.proto !== 'RTP/AVP') {
          ch.send(sipResponse(msg, 488, 'Not Acceptable Here', { toTag: tag }));
          throw new Error(`offer is ${offer.proto}, not RTP/AVP`);
        }
        ch.send(sipResponse(msg, 180, 'Ringing', { toTag: tag, contact: this.contact }));
        ch.send(
          sipResponse(msg, 200, 'OK', { toTag: tag, contact: this.contact, sdp: this.offerSdp(call.side.media, key) }),
        );
        // Like real phones, it starts sending as it answers, before the ACK.
        call.side.media.start({ address: offer.address, port: offer.port }, call.packets);
        call.answered(offer);
        // The callee's side of the dialog: its own re-INVITEs (hold, resume) go to the caller.
        this.dialog ??= {
          callId: getHeader(msg, 'call-id') ?? '',
          from: `${getHeader(msg, 'to') ?? ''};tag=${tag}`,
          to: getHeader(msg, 'from') ?? '',
          target: contactUri(getHeader(msg, 'contact')) ?? '',
          cseq: 1,
          media: call.side.media,
          ...(key ? { key } : {}),
          ...(this.srtp && offer.crypto ? { peerKey: offer.crypto.key } : {}),
          packets: 0,
        };
        return;
      }
      case 'ACK':
        return;
      case 'BYE':
        ch.send(sipResponse(msg, 200, 'OK'));
        if (this.dialog?.callId === getHeader(msg, 'call-id')) this.dialog = undefined;
        call?.side.media.stop();
        this.incoming = undefined;
        call?.ended();
        return;
      default:
        ch.send(sipResponse(msg, 501, 'Not Implemented'));
    }
  }

  async close(): Promise<void> {
    this.channel?.close();
    for (const m of this.endpoints) await m.close();
  }
}

export interface BootReport {
  ctlBytes: number;
  ctlVerdict: string;
  records: TrustList['records'];
  sgnBytes: number;
  sgnVerdict: string;
  config: PhoneConfig;
}

export class RemotePhone extends Phone {
  readonly deviceName: string;
  trust?: TrustList;
  config?: PhoneConfig;
  serverSubject?: string;

  constructor(
    private readonly o: {
      mac: string;
      address: string;
      line: string;
      mic: { certPem: string; keyPem: string };
      tftp: { address: string; port: number };
      ssrc: number;
      toneHz: number;
    },
  ) {
    super('remote phone', o.address, o.line, o.ssrc, o.toneHz, true);
    this.deviceName = `SEP${o.mac.toUpperCase()}`;
  }

  /** TFTP boot: CTL then signed configuration, both checked as a phone checks them. */
  async boot(): Promise<BootReport> {
    const tftp = new TftpClient({
      host: this.o.tftp.address,
      port: this.o.tftp.port,
      localAddress: this.address,
      timeoutMs: 4000,
    });
    const ctl = await tftp.getBuffer('CTLFile.tlv', 64 * 1024);
    const trust = checkCtl(ctl);
    this.trust = trust;
    const name = `${this.deviceName}.cnf.xml.sgn`;
    const sgn = await tftp.getBuffer(name, 256 * 1024);
    const { config, verdict } = checkConfig(sgn, name, trust);
    if (config.deviceSecurityMode !== '3')
      throw new BootError(name, `deviceSecurityMode ${config.deviceSecurityMode}, not 3 (encrypted)`);
    if (config.transportLayerProtocol !== '3')
      throw new BootError(name, `transportLayerProtocol ${config.transportLayerProtocol}, not 3 (TLS)`);
    this.config = config;
    return {
      ctlBytes: ctl.length,
      ctlVerdict: trust.verdict,
      records: trust.records,
      sgnBytes: sgn.length,
      sgnVerdict: verdict,
      config,
    };
  }

  /**
   * TLS to where the configuration points (or to `server`, another node of the same cluster, as a
   * phone falls back to its next call manager), the server pinned to the CTL from boot(), then REGISTER.
   */
  async register(server?: { host: string; port: number }): Promise<void> {
    const config = this.config;
    const trust = this.trust;
    if (!config || !trust) throw new Error('remote phone: boot() first');
    const to = server ?? { host: config.processNodeName, port: config.securedSipPort };
    const sock = await new Promise<tls.TLSSocket>((resolve, reject) => {
      // From the phone's own address: the appliance's views show where the phone really is.
      const raw = net.connect({ host: to.host, port: to.port, localAddress: this.address });
      const s = tls.connect({
        socket: raw,
        cert: this.o.mic.certPem,
        key: this.o.mic.keyPem,
        // The CTL, not a CA store, says which server to trust: checked right after the handshake.
        rejectUnauthorized: false,
      });
      const timer = setTimeout(() => {
        s.destroy();
        raw.destroy();
        reject(new Error(`remote phone: no TLS handshake with ${to.host}:${to.port}`));
      }, SIP_TIMEOUT_MS);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        try {
          this.serverSubject = checkServerCertificate(s.getPeerCertificate().raw, trust);
          resolve(s);
        } catch (err) {
          s.destroy();
          reject(err);
        }
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    this.channel = new SipChannel(sock, 'remote phone');
    this.viaHost = `TLS ${this.address}:${sock.localPort}`;
    this.contact = `<sip:${this.line}@${this.address}:${sock.localPort};transport=tls>`;
    this.registrar = to.host;
    this.listen();
    await this.registerWith(`;+u.sip!devicename.ccm.cisco.com="${this.deviceName}"`);
  }

  get tlsInfo(): { protocol: string; cipher: string } {
    const s = this.channel?.sock as tls.TLSSocket | undefined;
    return { protocol: s?.getProtocol() ?? '-', cipher: s?.getCipher().name ?? '-' };
  }
}

export class InsidePhone extends Phone {
  constructor(
    address: string,
    line: string,
    private readonly ucm: { address: string; port: number },
    ssrc: number,
    toneHz: number,
  ) {
    super('inside phone', address, line, ssrc, toneHz, false);
  }

  async register(): Promise<void> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: this.ucm.address, port: this.ucm.port, localAddress: this.address });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    this.channel = new SipChannel(sock, 'inside phone');
    this.viaHost = `TCP ${this.address}:${sock.localPort}`;
    this.contact = `<sip:${this.line}@${this.address}:${sock.localPort};transport=tcp>`;
    this.registrar = `${this.ucm.address}:${this.ucm.port}`;
    this.listen();
    await this.registerWith();
  }
}
