/**
 * Reads the test's loopback capture (tshark) into RTP packets per direction, and the checks the
 * E2E test makes on them: SRTP framing, tone in clear payloads.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
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
export function callKeys(callstat: string): { local: Buffer; remote: Buffer; suite: string } {
  const media = callstat.split('session media:')[1] ?? '';
  const [localPart, remotePart] = media.split('remote attributes:');
  // The UA's own line is the suite it chose (its answer, or its one-line offer).
  const line = (part: string | undefined, which: string) => {
    const m = /crypto='\d+ (\S+) inline:([A-Za-z0-9+/=]+)/.exec(part ?? '');
    if (!m?.[1] || !m[2]) throw new Error(`callstat: no ${which} crypto line in:\n${callstat}`);
    return { suite: m[1], key: Buffer.from(m[2], 'base64') };
  };
  const local = line(localPart, 'local');
  const remote = [...(remotePart ?? '').matchAll(/crypto='\d+ (\S+) inline:([A-Za-z0-9+/=]+)/g)].find(
    (m) => m[1] === local.suite,
  );
  if (!remote?.[2]) throw new Error(`callstat: no remote ${local.suite} crypto line in:\n${callstat}`);
  return { local: local.key, remote: Buffer.from(remote[2], 'base64'), suite: local.suite };
}

/**
 * Authenticates and decrypts SRTP packets of one direction with a 30-byte master key+salt
 * (werift's SRTP: independent of the appliance's libsrtp). Returns the plain RTP packets and
 * how many failed authentication.
 */
export function unprotectAll(
  packets: Buffer[],
  keySalt: Buffer,
  suite = 'AES_CM_128_HMAC_SHA1_80',
): { plain: Buffer[]; failed: number } {
  if (suite === 'AEAD_AES_256_GCM' || suite === 'AEAD_AES_128_GCM') return unprotectGcm(packets, keySalt);
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

/**
 * RFC 7714 SRTP (AEAD_AES_128_GCM / AEAD_AES_256_GCM, 16-byte tag) written here on node:crypto,
 * independent of libsrtp and of the appliance, for what werift cannot read (it has no 256-bit
 * GCM). `keySalt` = master key || 96-bit master salt; packets in order, so the rollover counter
 * follows the sequence numbers. RTP headers without CSRCs or extensions (what baresip sends).
 */
function unprotectGcm(packets: Buffer[], keySalt: Buffer): { plain: Buffer[]; failed: number } {
  const masterKey = keySalt.subarray(0, keySalt.length - 12);
  const masterSalt = keySalt.subarray(keySalt.length - 12);
  const key = kdf(masterKey, masterSalt, 0x00, masterKey.length);
  const salt = kdf(masterKey, masterSalt, 0x02, 12);
  const plain: Buffer[] = [];
  let failed = 0;
  let roc = 0;
  let last = -1;
  for (const p of packets) {
    const seq = p.readUInt16BE(2);
    if (last >= 0 && seq < last && last - seq > 0x8000) roc++;
    last = seq;
    // §8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR session salt; AAD = the RTP header.
    const iv = Buffer.alloc(12);
    p.copy(iv, 2, 8, 12);
    iv.writeUInt32BE(roc, 6);
    iv.writeUInt16BE(seq, 10);
    for (let i = 0; i < 12; i++) iv[i] = (iv[i] as number) ^ (salt[i] as number);
    try {
      const d = createDecipheriv(masterKey.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm', key, iv);
      d.setAAD(p.subarray(0, 12));
      d.setAuthTag(p.subarray(p.length - 16));
      const body = Buffer.concat([d.update(p.subarray(12, p.length - 16)), d.final()]);
      plain.push(Buffer.concat([p.subarray(0, 12), body]));
    } catch {
      failed++;
    }
  }
  return { plain, failed };
}

/**
 * RFC 3711 §4.3.1 key derivation with the AES-CM PRF, key derivation rate 0: `x` = the master
 * salt (RFC 7714 §11: 96 bits, zero-padded to 112) with `label` XORed into its eighth byte.
 */
function kdf(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  iv[7] = (iv[7] as number) ^ label;
  const c = createCipheriv(`aes-${masterKey.length * 8}-ctr`, masterKey, iv);
  return c.update(Buffer.alloc(length));
}
