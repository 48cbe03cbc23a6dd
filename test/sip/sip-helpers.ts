/** Scripted SIP messages and SRTP endpoints for the end-to-end tests (phone and UCM sides). */
import dgram from 'node:dgram';
import { ProtectionProfileAes128CmHmacSha1_80, RtpHeader, SrtpSession } from 'werift-rtp';

export function sdpOf(msg: string): string {
  return msg.slice(msg.indexOf('\r\n\r\n') + 4);
}

export function header(msg: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(msg.slice(0, msg.indexOf('\r\n\r\n')));
  return m?.[1];
}

export function viaLines(msg: string): string[] {
  return msg
    .slice(0, msg.indexOf('\r\n\r\n'))
    .split('\r\n')
    .filter((l) => /^(via|v):/i.test(l));
}

/** A request; body gets Content-Type application/sdp unless told otherwise. */
export function request(
  method: string,
  uri: string,
  h: { via: string; callId: string; cseq: number; from: string; to: string; contact?: string; extra?: string[] },
  body = '',
  type = 'application/sdp',
): string {
  const lines = [
    `${method} ${uri} SIP/2.0`,
    `Via: ${h.via}`,
    `From: ${h.from}`,
    `To: ${h.to}`,
    `Call-ID: ${h.callId}`,
    `CSeq: ${h.cseq} ${method === 'ACK' || method === 'CANCEL' ? method : method}`,
    'Max-Forwards: 70',
    ...(h.contact ? [`Contact: ${h.contact}`] : []),
    ...(h.extra ?? []),
    ...(body ? [`Content-Type: ${type}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A response to `req` with all its Vias, From, To (+tag), Call-ID and CSeq. */
export function respond(
  req: string,
  status: number,
  reason: string,
  o: { toTag?: string; contact?: string; body?: string } = {},
): string {
  const head = req.slice(0, req.indexOf('\r\n\r\n')).split('\r\n');
  const keep = head.filter((l) => /^(via|v|from|f|call-id|i|cseq):/i.test(l));
  const to = head.find((l) => /^(to|t):/i.test(l)) ?? 'To: <sip:x@x>';
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...keep,
    o.toTag && !/;tag=/.test(to) ? `${to};tag=${o.toTag}` : to,
    ...(o.contact ? [`Contact: ${o.contact}`] : []),
    ...(o.body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(o.body ?? '')}`,
  ];
  return `${lines.join('\r\n')}\r\n\r\n${o.body ?? ''}`;
}

export function audioSdp(o: {
  address: string;
  port: number;
  proto: 'RTP/AVP' | 'RTP/SAVP';
  key?: Buffer;
  direction?: string;
  video?: boolean;
}): string {
  return [
    'v=0',
    `o=Cisco-SIPUA 7000 1 IN IP4 ${o.address}`,
    's=SIP Call',
    't=0 0',
    `m=audio ${o.port} ${o.proto} 0 101`,
    `c=IN IP4 ${o.address}`,
    ...(o.key ? [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${o.key.toString('base64')}`] : []),
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    `a=${o.direction ?? 'sendrecv'}`,
    ...(o.video ? ['m=video 7002 RTP/AVP 126', 'a=rtpmap:126 H264/90000'] : []),
    '',
  ].join('\r\n');
}

export function mediaOf(sdp: string): { address: string; port: number; proto: string; key?: Buffer } {
  const c = /c=IN IP4 (\S+)/.exec(sdp);
  const m = /m=audio (\d+) (\S+)/.exec(sdp);
  const k = /a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/=]+)/.exec(sdp);
  return {
    address: c?.[1] ?? '',
    port: Number(m?.[1]),
    proto: m?.[2] ?? '',
    ...(k?.[1] ? { key: Buffer.from(k[1], 'base64') } : {}),
  };
}

/** A UDP media endpoint speaking RTP or SRTP (werift's SRTP, independent of the appliance's libsrtp). */
export class MediaEndpoint {
  readonly sock = dgram.createSocket('udp4');
  readonly received: Buffer[] = [];
  private srtp?: SrtpSession;
  private seq = 1000;

  constructor(readonly address: string) {}

  async bind(): Promise<number> {
    await new Promise<void>((r) => this.sock.bind(0, this.address, () => r()));
    this.sock.on('message', (msg) => {
      try {
        this.received.push(this.srtp ? this.srtp.decrypt(msg) : msg);
      } catch {
        this.received.push(Buffer.from('UNDECRYPTABLE'));
      }
    });
    return this.sock.address().port;
  }

  /** local = the key this endpoint sends with; remote = the key it receives with. */
  secure(local: Buffer, remote: Buffer): void {
    this.srtp = new SrtpSession({
      profile: ProtectionProfileAes128CmHmacSha1_80,
      keys: {
        localMasterKey: local.subarray(0, 16),
        localMasterSalt: local.subarray(16, 30),
        remoteMasterKey: remote.subarray(0, 16),
        remoteMasterSalt: remote.subarray(16, 30),
      },
    });
  }

  send(payload: Buffer, to: { address: string; port: number }, ssrc: number): void {
    const header = new RtpHeader({
      version: 2,
      payloadType: 0,
      sequenceNumber: this.seq++,
      timestamp: this.seq * 160,
      ssrc,
    });
    const packet = this.srtp
      ? this.srtp.encrypt(payload, header)
      : Buffer.concat([header.serialize(header.serializeSize), payload]);
    this.sock.send(packet, to.port, to.address);
  }

  /** RTP payloads received (after SRTP decryption when secure). */
  payloads(): string[] {
    return this.received.map((b) => (b.toString() === 'UNDECRYPTABLE' ? 'UNDECRYPTABLE' : b.subarray(12).toString()));
  }

  close(): void {
    this.sock.close();
  }
}
