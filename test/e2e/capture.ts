/**
 * Reads the test's loopback capture (tshark) into RTP packets per direction, and the checks the
 * E2E test makes on them: SRTP framing, tone in clear payloads.
 */
import { ProtectionProfileAes128CmHmacSha1_80, SrtpSession } from 'werift-rtp';
import { tsharkFields } from './peers';
import { toneShare } from './wav';

export interface UdpPacket {
  time: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  payload: Buffer;
}

/** Every UDP datagram between `lo` and `hi` ports (either end) in the capture. */
export function udpPackets(pcap: string, lo: number, hi: number): UdpPacket[] {
  const rows = tsharkFields(
    pcap,
    `udp && ((udp.srcport >= ${lo} && udp.srcport <= ${hi}) || (udp.dstport >= ${lo} && udp.dstport <= ${hi}))`,
    ['frame.time_epoch', 'ip.src', 'udp.srcport', 'ip.dst', 'udp.dstport', 'udp.payload'],
  );
  return rows.map(([time, src, sport, dst, dport, payload]) => ({
    time: Number(time),
    src: src as string,
    sport: Number(sport),
    dst: dst as string,
    dport: Number(dport),
    payload: Buffer.from((payload ?? '').replace(/:/g, ''), 'hex'),
  }));
}

/** RTP version 2, payload type 0 (PCMU): media, not RTCP. */
export const isPcmu = (p: Buffer) => p.length > 12 && (p[0] as number) >> 6 === 2 && ((p[1] as number) & 0x7f) === 0;
export const ssrcOf = (p: Buffer) => p.readUInt32BE(8);
export const seqOf = (p: Buffer) => p.readUInt16BE(2);

/** G.711 μ-law expansion, to look for a tone in what travels on the wire. */
export function mulawDecode(b: Buffer): Int16Array {
  const out = new Int16Array(b.length);
  for (let i = 0; i < b.length; i++) {
    const u = ~(b[i] as number) & 0xff;
    const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
    out[i] = u & 0x80 ? 0x84 - t : t - 0x84;
  }
  return out;
}

/** True when the 160 payload bytes after the RTP header, read as PCMU, are dominated by `hz`. */
export function carriesTone(rtp: Buffer, hz: number): boolean {
  return toneShare(mulawDecode(rtp.subarray(12, 172)), 0, 160, 8000, hz) > 0.5;
}

/**
 * The SDES keys of a baresip call from its `callstat` text (media section): `local` is the key
 * the UA sends with, `remote` the key its peer (the appliance) announced for what it sends.
 */
export function callKeys(callstat: string): { local: Buffer; remote: Buffer } {
  const media = callstat.split('session media:')[1] ?? '';
  const [localPart, remotePart] = media.split('remote attributes:');
  const key = (part: string | undefined, which: string) => {
    const m = /crypto='\d+ AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/=]+)/.exec(part ?? '');
    if (!m?.[1]) throw new Error(`callstat: no ${which} AES_CM_128_HMAC_SHA1_80 crypto line in:\n${callstat}`);
    return Buffer.from(m[1], 'base64');
  };
  return { local: key(localPart, 'local'), remote: key(remotePart, 'remote') };
}

/**
 * Authenticates and decrypts SRTP packets of one direction with a 30-byte master key+salt
 * (werift's SRTP: independent of the appliance's libsrtp). Returns the plain RTP packets and
 * how many failed authentication.
 */
export function unprotectAll(packets: Buffer[], keySalt: Buffer): { plain: Buffer[]; failed: number } {
  const session = new SrtpSession({
    profile: ProtectionProfileAes128CmHmacSha1_80,
    keys: {
      localMasterKey: keySalt.subarray(0, 16),
      localMasterSalt: keySalt.subarray(16, 30),
      remoteMasterKey: keySalt.subarray(0, 16),
      remoteMasterSalt: keySalt.subarray(16, 30),
    },
  });
  const plain: Buffer[] = [];
  let failed = 0;
  for (const p of packets) {
    try {
      plain.push(session.decrypt(p));
    } catch {
      failed++;
    }
  }
  return { plain, failed };
}
