/**
 * Certificate Trust List (CTLFile.tlv): the signed header (version 1.2) followed by one
 * record per trusted certificate. Records start with RECORD_LENGTH and carry the
 * certificate's names, serial, public key, signature and DER, plus the address phones use.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { type CertificateFields, certificateFields, signerIdentity } from './certificate';
import { TlvError } from './errors';
import {
  buildSignedFile,
  type Digest,
  parseSignedHeader,
  type SignedHeader,
  type Signer,
  signerVersionFor,
  type Verdict,
  verifyHeaderSignature,
} from './signed-header';
import { cstring, decodeItems, decodeTlv, encodeTlv, readFixed, readString, requireItem, u8, u16 } from './tlv';

export const CTL_FUNCTIONS = {
  sast: 0,
  cucm: 1,
  'cucm-tftp': 2,
  tftp: 3,
  capf: 4,
  https: 7,
  tvs: 21,
} as const;
export type CtlFunction = keyof typeof CTL_FUNCTIONS;
const FUNCTION_BY_CODE = new Map<number, CtlFunction>(
  Object.entries(CTL_FUNCTIONS).map(([name, code]) => [code, name as CtlFunction]),
);

const R = {
  RECORD_LENGTH: 1,
  DNS_NAME: 2,
  SUBJECT_NAME: 3,
  FUNCTION: 4,
  ISSUER_NAME: 5,
  SERIAL_NUMBER: 6,
  PUBLIC_KEY: 7,
  SIGNATURE: 8,
  CERTIFICATE: 9,
  IP_ADDRESS: 10,
  CERTIFICATE_HASH: 11,
  HASH_ALGORITHM: 12,
} as const;
const RECORD_TAGS = new Set<number>(Object.values(R));

export const CTL_FILE_NAME = 'CTLFile.tlv';

export interface CtlRecord {
  function: CtlFunction | 'unknown';
  functionCode: number;
  subject: string;
  issuer: string;
  serial: Buffer;
  publicKey: Buffer;
  signature?: Buffer;
  certificate?: Buffer;
  ip?: string;
  dnsName?: string;
  certificateHash?: Buffer;
  hashAlgorithm?: number;
  /** Where the record starts in the file (absent for records not yet built). */
  offset?: number;
}

export interface ParsedCtl {
  header: SignedHeader;
  records: CtlRecord[];
  bytes: Buffer;
}

/** A record to build: from a certificate, or an already parsed record carried as is. */
export type CtlRecordInput =
  | { function: CtlFunction; certificate: Buffer | string; ip?: string; dnsName?: string }
  | { carry: CtlRecord };

export interface BuildCtlOptions {
  records: CtlRecordInput[];
  /** One of the SAST records' credentials (SAST 0 for the appliance). */
  signer: Signer;
  digest?: Digest;
  /** Unix seconds; the caller owns the clock. */
  timestamp: number;
  fileName?: string;
}

function ipBytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`"${ip}" is not an IPv4 address`);
  }
  return Buffer.from(parts);
}

export function recordFromCertificate(
  fn: CtlFunction,
  cert: Buffer | string,
  ip?: string,
  dnsName?: string,
): CtlRecord {
  const f: CertificateFields = certificateFields(cert);
  return {
    function: fn,
    functionCode: CTL_FUNCTIONS[fn],
    subject: f.subject,
    issuer: f.issuer,
    serial: f.serial,
    publicKey: f.publicKey,
    signature: f.signature,
    certificate: f.der,
    ip,
    dnsName,
  };
}

export function encodeRecord(r: CtlRecord): Buffer {
  const items = [
    ...(r.dnsName ? [encodeTlv(R.DNS_NAME, cstring(r.dnsName))] : []),
    encodeTlv(R.SUBJECT_NAME, cstring(r.subject)),
    encodeTlv(R.FUNCTION, u16(r.functionCode)),
    encodeTlv(R.ISSUER_NAME, cstring(r.issuer)),
    encodeTlv(R.SERIAL_NUMBER, r.serial),
    encodeTlv(R.PUBLIC_KEY, r.publicKey),
    ...(r.signature ? [encodeTlv(R.SIGNATURE, r.signature)] : []),
    ...(r.certificate ? [encodeTlv(R.CERTIFICATE, r.certificate)] : []),
    ...(r.ip ? [encodeTlv(R.IP_ADDRESS, ipBytes(r.ip))] : []),
    ...(r.certificateHash ? [encodeTlv(R.CERTIFICATE_HASH, r.certificateHash)] : []),
    ...(r.hashAlgorithm !== undefined ? [encodeTlv(R.HASH_ALGORITHM, u8(r.hashAlgorithm))] : []),
  ];
  const length = 5 + items.reduce((n, b) => n + b.length, 0);
  return Buffer.concat([encodeTlv(R.RECORD_LENGTH, u16(length)), ...items]);
}

export function buildCtl(o: BuildCtlOptions): Buffer {
  const records = o.records.map((r) =>
    'carry' in r ? r.carry : recordFromCertificate(r.function, r.certificate, r.ip, r.dnsName),
  );
  const signer = signerIdentity(o.signer.certPem);
  if (!records.some((r) => r.function === 'sast' && r.serial.equals(signer.serial))) {
    throw new Error(`the CTL signer (${signer.subject}) must be one of its SAST records`);
  }
  const digest = o.digest ?? 'sha1';
  return buildSignedFile({
    version: { major: 1, minor: 2 },
    signerVersion: signerVersionFor(digest),
    signer: o.signer,
    digest,
    fileName: o.fileName ?? CTL_FILE_NAME,
    timestamp: o.timestamp,
    body: Buffer.concat(records.map(encodeRecord)),
  });
}

function parseRecord(buf: Buffer, offset: number): { record: CtlRecord; end: number } {
  const first = decodeTlv(buf, offset);
  if (first.tag !== R.RECORD_LENGTH) {
    throw new TlvError(
      RECORD_TAGS.has(first.tag) ? 'MISSING' : 'UNKNOWN_TAG',
      offset,
      first.tag,
      'record must start with RECORD_LENGTH (tag 1)',
    );
  }
  const length = readFixed(first, 2, 'RECORD_LENGTH').readUInt16BE(0);
  const end = offset + length;
  if (end > buf.length) {
    throw new TlvError(
      'OVERRUN',
      offset,
      first.tag,
      `RECORD_LENGTH ${length} runs past the file (${buf.length - offset} byte(s) left)`,
    );
  }
  if (end < first.end)
    throw new TlvError('BAD_VALUE', offset, first.tag, `RECORD_LENGTH ${length} is shorter than the item itself`);
  const where = `record at offset ${offset}`;
  const items = decodeItems(buf, first.end, end, RECORD_TAGS, where);
  const need = (tag: number, name: string) => requireItem(items, tag, name, where, offset);
  const opt = (tag: number) => items.find((i) => i.tag === tag);
  const functionCode = readFixed(need(R.FUNCTION, 'FUNCTION'), 2, 'FUNCTION').readUInt16BE(0);
  const ip = opt(R.IP_ADDRESS);
  const dns = opt(R.DNS_NAME);
  const hashAlg = opt(R.HASH_ALGORITHM);
  return {
    end,
    record: {
      function: FUNCTION_BY_CODE.get(functionCode) ?? 'unknown',
      functionCode,
      subject: readString(need(R.SUBJECT_NAME, 'SUBJECT_NAME')),
      issuer: readString(need(R.ISSUER_NAME, 'ISSUER_NAME')),
      serial: need(R.SERIAL_NUMBER, 'SERIAL_NUMBER').value,
      publicKey: need(R.PUBLIC_KEY, 'PUBLIC_KEY').value,
      signature: opt(R.SIGNATURE)?.value,
      certificate: need(R.CERTIFICATE, 'CERTIFICATE').value,
      ip: ip ? [...readFixed(ip, 4, 'IP_ADDRESS')].join('.') : undefined,
      dnsName: dns ? readString(dns) : undefined,
      certificateHash: opt(R.CERTIFICATE_HASH)?.value,
      hashAlgorithm: hashAlg ? readFixed(hashAlg, 1, 'HASH_ALGORITHM')[0] : undefined,
      offset,
    },
  };
}

export function parseCtl(buf: Buffer): ParsedCtl {
  const header = parseSignedHeader(buf);
  const records: CtlRecord[] = [];
  let at = header.headerLength;
  while (at < buf.length) {
    const { record, end } = parseRecord(buf, at);
    records.push(record);
    at = end;
  }
  return { header, records, bytes: buf };
}

/** SAST records whose serial is the header's signer serial: the certificates that may verify it. */
function signerRecords(ctl: ParsedCtl, from: CtlRecord[] = ctl.records): CtlRecord[] {
  return from.filter((r) => r.function === 'sast' && r.serial.equals(ctl.header.serial));
}

function verifyWith(ctl: ParsedCtl, record: CtlRecord): Verdict {
  if (!record.certificate) return { ok: false, reason: `SAST record ${record.subject} has no certificate` };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(record.certificate);
  } catch (err) {
    return {
      ok: false,
      reason: `SAST record ${record.subject}: certificate does not parse (${(err as Error).message})`,
    };
  }
  return verifyHeaderSignature(ctl.bytes, ctl.header, cert);
}

/** Records whose PUBLIC_KEY item disagrees with their certificate (a tampered or broken CTL). */
function keyMismatches(ctl: ParsedCtl): string[] {
  const bad: string[] = [];
  ctl.records.forEach((r, n) => {
    if (!r.certificate) return;
    try {
      const key = new X509Certificate(r.certificate).publicKey;
      if (key.asymmetricKeyType === 'rsa' && !key.export({ format: 'der', type: 'pkcs1' }).equals(r.publicKey)) {
        bad.push(`record #${n + 1} (${r.function}) PUBLIC_KEY does not match its certificate`);
      }
    } catch (err) {
      bad.push(`record #${n + 1} (${r.function}) certificate does not parse: ${(err as Error).message}`);
    }
  });
  return bad;
}

/** Verifies the CTL against the SAST record its header names, as a phone does. */
export function verifyCtl(ctl: ParsedCtl): Verdict {
  const candidates = signerRecords(ctl);
  if (candidates.length === 0) {
    return {
      ok: false,
      reason: `no SAST record has the signer's serial ${ctl.header.serial.toString('hex')} (${ctl.header.signerName})`,
    };
  }
  let last: Verdict = { ok: false, reason: 'no SAST record verifies the signature' };
  for (const record of candidates) {
    last = verifyWith(ctl, record);
    if (last.ok) {
      const broken = keyMismatches(ctl);
      if (broken.length > 0) return { ok: false, reason: broken.join('; ') };
      return { ok: true, reason: `${last.reason} by SAST record ${record.subject}` };
    }
  }
  return last;
}

const asParsed = (ctl: ParsedCtl | Buffer): ParsedCtl => (Buffer.isBuffer(ctl) ? parseCtl(ctl) : ctl);

/**
 * Would a phone holding `installed` install `next`? It must be signed by a SAST the phone
 * already trusts, checked with the certificate from the installed CTL, not the new one.
 */
export function wouldPhoneAccept(
  installed: ParsedCtl | Buffer,
  next: ParsedCtl | Buffer,
): { accept: boolean; reason: string } {
  const old = asParsed(installed);
  const ctl = asParsed(next);
  const trusted = signerRecords(ctl, old.records).filter((r) => r.certificate);
  if (trusted.length === 0) {
    return {
      accept: false,
      reason: `new CTL is signed by ${ctl.header.signerName} (serial ${ctl.header.serial.toString('hex')}), which is not a SAST in the installed CTL`,
    };
  }
  for (const record of trusted) {
    const v = verifyWith(ctl, record);
    if (v.ok) {
      const self = verifyCtl(ctl);
      if (!self.ok) return { accept: false, reason: `new CTL is not consistent: ${self.reason}` };
      return { accept: true, reason: `signed by installed SAST ${record.subject}: ${v.reason}` };
    }
  }
  return {
    accept: false,
    reason: `new CTL names installed SAST ${ctl.header.signerName} but its signature does not verify with that SAST's key`,
  };
}

/** SHA-1 of the DER certificate, as `show ctl-file` prints it. */
export function certificateHash(r: CtlRecord): string {
  return r.certificate ? createHash('sha1').update(r.certificate).digest('hex') : '';
}
