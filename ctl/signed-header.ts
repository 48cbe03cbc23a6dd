/**
 * The signed header shared by CTL (.tlv) and signed (.sgn) files
 * (see docs/ctl-and-sgn.md):
 *
 *   1 VERSION | 2 HEADER_LENGTH | [28 SIGNER_VERSION] | 3 SIGNER_ID { 4 NAME, 5 SERIAL, 6 CA_NAME }
 *   | 7 SIGNATURE_INFO { 8 DIGEST, 9 { 10 ALGORITHM, 11 MODULUS } } | 12 SIGNATURE | 14 FILENAME
 *   | 15 TIMESTAMP | 13 padding to a multiple of 4
 *
 * The signature covers the whole file with the SIGNATURE item cut out, while HEADER_LENGTH
 * already counts it.
 */
import { createPublicKey, type KeyObject, sign, verify, type X509Certificate } from 'node:crypto';
import { signerIdentity } from './certificate';
import { TlvError } from './errors';
import {
  cstring,
  decodeItems,
  decodeTlv,
  encodeTlv,
  PADDING_TAG,
  readFixed,
  readString,
  requireItem,
  type TlvItem,
  u8,
  u16,
  u32,
} from './tlv';

export type Digest = 'sha1' | 'sha256' | 'sha512';

export const DIGEST_CODE: Record<Digest, number> = { sha1: 1, sha256: 2, sha512: 3 };
const DIGEST_BY_CODE = new Map<number, Digest>(Object.entries(DIGEST_CODE).map(([d, c]) => [c, d as Digest]));
const MODULUS_CODE = new Map<number, number>([
  [512, 0],
  [1024, 1],
  [2048, 2],
  [4096, 3],
]);
const BITS_BY_MODULUS_CODE = new Map<number, number>([...MODULUS_CODE].map(([bits, code]) => [code, bits]));

/**
 * Digests a Cisco signed file (CTL or .sgn) can carry: SHA-1 (signer version 1.0, what every
 * deployed phone accepts) and SHA-512 (signer version 1.1). SHA-256 has a code (2) but no
 * signer version, and phones' tooling refuses it.
 */
export const SIGNING_DIGESTS: readonly Digest[] = ['sha1', 'sha512'];

/** Why `digest` cannot sign a CTL or .sgn, or undefined when it can. */
export function unsignableDigest(digest: string): string | undefined {
  if ((SIGNING_DIGESTS as readonly string[]).includes(digest)) return undefined;
  return `digest ${digest} cannot be carried by a Cisco signed file (SIGNATURE_INFO digest code): use ${SIGNING_DIGESTS.join(' or ')}`;
}

/** The SIGNER_VERSION a CTL signed with `digest` carries: 1.0 for SHA-1, 1.1 for SHA-512. */
export function signerVersionFor(digest: Digest): Version {
  return { major: 1, minor: digest === 'sha1' ? 0 : 1 };
}

/** RSA key sizes SIGNATURE_MODULUS can name: a signer of any other size cannot sign a CTL or .sgn. */
export const SIGNABLE_RSA_BITS: readonly number[] = [...MODULUS_CODE.keys()];

/** Why a key of `bits` cannot sign a CTL or .sgn file, or undefined when it can. */
export function unsignableKey(bits: number | undefined): string | undefined {
  if (bits === undefined) return 'not an RSA key; the signed header only describes RSA';
  if (MODULUS_CODE.has(bits)) return undefined;
  return `RSA ${bits}-bit; the signed header (SIGNATURE_MODULUS) only describes 512, 1024, 2048 and 4096-bit keys`;
}

export const TAG = {
  VERSION: 1,
  HEADER_LENGTH: 2,
  SIGNER_ID: 3,
  SIGNER_NAME: 4,
  SERIAL_NUMBER: 5,
  CA_NAME: 6,
  SIGNATURE_INFO: 7,
  DIGEST_ALGORITHM: 8,
  SIGNATURE_ALGORITHM_INFO: 9,
  SIGNATURE_ALGORITHM: 10,
  SIGNATURE_MODULUS: 11,
  SIGNATURE: 12,
  FILENAME: 14,
  TIMESTAMP: 15,
  SIGNER_VERSION: 28,
} as const;

const TOP_TAGS = new Set<number>([1, 2, 3, 7, 12, 14, 15, 28]);
const SIGNER_ID_TAGS = new Set<number>([4, 5, 6]);
const SIGNATURE_INFO_TAGS = new Set<number>([8, 9]);
const SIGNATURE_ALGORITHM_TAGS = new Set<number>([10, 11]);

/** Anything with a certificate and its private key (src/pki's Credential fits). */
export interface Signer {
  certPem: string;
  keyPem: string;
}

export interface Version {
  major: number;
  minor: number;
}

export interface SignedHeader {
  version: Version;
  headerLength: number;
  signerVersion?: Version;
  signerName: string;
  serial: Buffer;
  caName: string;
  digestCode: number;
  /** Undefined when the code is not one we know. */
  digest?: Digest;
  signatureAlgorithm: number;
  modulusCode: number;
  /** Key size the modulus code announces, when known. */
  keyBits?: number;
  signature: Buffer;
  /** Where the SIGNATURE item (tag, length, value) sits. */
  signatureItem: { offset: number; end: number };
  fileName: string;
  /** Unix seconds. */
  timestamp: number;
}

export interface SignOptions {
  version: Version;
  /** CTL/ITL only; .sgn files omit it. */
  signerVersion?: Version;
  signer: Signer;
  digest: Digest;
  fileName: string;
  timestamp: number;
  body: Buffer;
}

const version = (v: Version) => Buffer.from([v.major, v.minor]);

/** Builds and signs a whole file (header + body). */
export function buildSignedFile(o: SignOptions): Buffer {
  const badDigest = unsignableDigest(o.digest);
  if (badDigest) throw new Error(badDigest);
  if (o.signerVersion) {
    const want = signerVersionFor(o.digest);
    if (o.signerVersion.major !== want.major || o.signerVersion.minor !== want.minor) {
      throw new Error(
        `signer version ${o.signerVersion.major}.${o.signerVersion.minor} does not go with ${o.digest}: it needs ${want.major}.${want.minor}`,
      );
    }
  }
  // Key size from the certificate: parsing the private key twice would cost as much as signing.
  const cert = signerIdentity(o.signer.certPem);
  const bits = cert.rsaBits;
  const modulusCode = bits === undefined ? undefined : MODULUS_CODE.get(bits);
  if (bits === undefined || modulusCode === undefined) {
    throw new Error(`signer ${cert.subject} cannot sign: ${unsignableKey(bits)}`);
  }
  const signerId = Buffer.concat([
    encodeTlv(TAG.SIGNER_NAME, cstring(cert.subject)),
    encodeTlv(TAG.SERIAL_NUMBER, cert.serial),
    encodeTlv(TAG.CA_NAME, cstring(cert.issuer)),
  ]);
  const signatureInfo = Buffer.concat([
    encodeTlv(TAG.DIGEST_ALGORITHM, u8(DIGEST_CODE[o.digest])),
    encodeTlv(
      TAG.SIGNATURE_ALGORITHM_INFO,
      Buffer.concat([encodeTlv(TAG.SIGNATURE_ALGORITHM, u8(0)), encodeTlv(TAG.SIGNATURE_MODULUS, u8(modulusCode))]),
    ),
  ]);
  const afterVersion = [
    ...(o.signerVersion ? [encodeTlv(TAG.SIGNER_VERSION, version(o.signerVersion))] : []),
    encodeTlv(TAG.SIGNER_ID, signerId),
    encodeTlv(TAG.SIGNATURE_INFO, signatureInfo),
  ];
  const tail = [encodeTlv(TAG.FILENAME, cstring(o.fileName)), encodeTlv(TAG.TIMESTAMP, u32(o.timestamp))];
  const signatureItemLength = 3 + bits / 8;
  const unpadded =
    5 +
    5 +
    afterVersion.reduce((n, b) => n + b.length, 0) +
    signatureItemLength +
    tail.reduce((n, b) => n + b.length, 0);
  const padding = Buffer.alloc((4 - (unpadded % 4)) % 4, PADDING_TAG);
  const headerLength = unpadded + padding.length;
  if (headerLength > 0xffff) throw new Error(`signed header of ${headerLength} bytes exceeds 65535`);
  const before = Buffer.concat([
    encodeTlv(TAG.VERSION, version(o.version)),
    encodeTlv(TAG.HEADER_LENGTH, u16(headerLength)),
    ...afterVersion,
  ]);
  const after = Buffer.concat([...tail, padding]);
  const signature = sign(o.digest, Buffer.concat([before, after, o.body]), o.signer.keyPem);
  if (signature.length !== bits / 8) {
    throw new Error(
      `signer private key gave a ${signature.length}-byte signature; its certificate holds an RSA ${bits}-bit key`,
    );
  }
  return Buffer.concat([before, encodeTlv(TAG.SIGNATURE, signature), after, o.body]);
}

function readVersion(item: TlvItem, name: string): Version {
  const v = readFixed(item, 2, name);
  return { major: v[0] as number, minor: v[1] as number };
}

export function parseSignedHeader(buf: Buffer): SignedHeader {
  const first = decodeTlv(buf, 0);
  if (first.tag !== TAG.VERSION) throw new TlvError('MISSING', 0, first.tag, 'file must start with VERSION (tag 1)');
  const second = decodeTlv(buf, first.end);
  if (second.tag !== TAG.HEADER_LENGTH) {
    throw new TlvError('MISSING', first.end, second.tag, 'HEADER_LENGTH (tag 2) must follow VERSION');
  }
  const headerLength = readFixed(second, 2, 'HEADER_LENGTH').readUInt16BE(0);
  if (headerLength > buf.length) {
    throw new TlvError(
      'OVERRUN',
      second.offset,
      second.tag,
      `HEADER_LENGTH ${headerLength} runs past the file (${buf.length} bytes)`,
    );
  }
  if (headerLength < second.end) {
    throw new TlvError(
      'BAD_VALUE',
      second.offset,
      second.tag,
      `HEADER_LENGTH ${headerLength} ends inside the header's own items`,
    );
  }
  const items: TlvItem[] = [first, second];
  let at = second.end;
  while (at < headerLength) {
    const tag = buf[at] as number;
    if (tag === PADDING_TAG) {
      at++;
      continue;
    }
    if (!TOP_TAGS.has(tag)) throw new TlvError('UNKNOWN_TAG', at, tag, 'unknown tag in signed header');
    const item = decodeTlv(buf, at, headerLength);
    items.push(item);
    at = item.end;
  }
  const where = 'signed header';
  const signerIdItem = requireItem(items, TAG.SIGNER_ID, 'SIGNER_ID', where, 0);
  const signerId = decodeItems(buf, signerIdItem.valueOffset, signerIdItem.end, SIGNER_ID_TAGS, 'SIGNER_ID');
  const infoItem = requireItem(items, TAG.SIGNATURE_INFO, 'SIGNATURE_INFO', where, 0);
  const info = decodeItems(buf, infoItem.valueOffset, infoItem.end, SIGNATURE_INFO_TAGS, 'SIGNATURE_INFO');
  const algInfoItem = requireItem(
    info,
    TAG.SIGNATURE_ALGORITHM_INFO,
    'SIGNATURE_ALGORITHM_INFO',
    'SIGNATURE_INFO',
    infoItem.offset,
  );
  const algInfo = decodeItems(
    buf,
    algInfoItem.valueOffset,
    algInfoItem.end,
    SIGNATURE_ALGORITHM_TAGS,
    'SIGNATURE_ALGORITHM_INFO',
  );
  const sid = (tag: number, name: string) => requireItem(signerId, tag, name, 'SIGNER_ID', signerIdItem.offset);
  const alg = (tag: number, name: string) =>
    requireItem(algInfo, tag, name, 'SIGNATURE_ALGORITHM_INFO', algInfoItem.offset);
  const top = (tag: number, name: string) => requireItem(items, tag, name, where, 0);

  const digestCode = readFixed(
    requireItem(info, TAG.DIGEST_ALGORITHM, 'DIGEST_ALGORITHM', 'SIGNATURE_INFO', infoItem.offset),
    1,
    'DIGEST_ALGORITHM',
  )[0] as number;
  const modulusCode = readFixed(alg(TAG.SIGNATURE_MODULUS, 'SIGNATURE_MODULUS'), 1, 'SIGNATURE_MODULUS')[0] as number;
  const signatureItem = top(TAG.SIGNATURE, 'SIGNATURE');
  const signerVersionItem = items.find((i) => i.tag === TAG.SIGNER_VERSION);
  return {
    version: readVersion(first, 'VERSION'),
    headerLength,
    signerVersion: signerVersionItem ? readVersion(signerVersionItem, 'SIGNER_VERSION') : undefined,
    signerName: readString(sid(TAG.SIGNER_NAME, 'SIGNER_NAME')),
    serial: sid(TAG.SERIAL_NUMBER, 'SERIAL_NUMBER').value,
    caName: readString(sid(TAG.CA_NAME, 'CA_NAME')),
    digestCode,
    digest: DIGEST_BY_CODE.get(digestCode),
    signatureAlgorithm: readFixed(
      alg(TAG.SIGNATURE_ALGORITHM, 'SIGNATURE_ALGORITHM'),
      1,
      'SIGNATURE_ALGORITHM',
    )[0] as number,
    modulusCode,
    keyBits: BITS_BY_MODULUS_CODE.get(modulusCode),
    signature: signatureItem.value,
    signatureItem: { offset: signatureItem.offset, end: signatureItem.end },
    fileName: readString(top(TAG.FILENAME, 'FILENAME')),
    timestamp: readFixed(top(TAG.TIMESTAMP, 'TIMESTAMP'), 4, 'TIMESTAMP').readUInt32BE(0),
  };
}

/** The bytes the signature covers: the file without the SIGNATURE item. */
export function signedBytes(buf: Buffer, header: SignedHeader): Buffer {
  return Buffer.concat([buf.subarray(0, header.signatureItem.offset), buf.subarray(header.signatureItem.end)]);
}

export interface Verdict {
  ok: boolean;
  reason: string;
}

/** Checks the header's signature with `key` (the certificate the signer id designates). */
export function verifyHeaderSignature(buf: Buffer, header: SignedHeader, key: X509Certificate | KeyObject): Verdict {
  if (header.signatureAlgorithm !== 0) {
    return { ok: false, reason: `signature algorithm ${header.signatureAlgorithm} is not RSA PKCS#1 v1.5 (0)` };
  }
  if (!header.digest) return { ok: false, reason: `unknown digest algorithm code ${header.digestCode}` };
  let publicKey: KeyObject;
  try {
    publicKey = 'publicKey' in key ? key.publicKey : createPublicKey(key);
  } catch (err) {
    return { ok: false, reason: `signer certificate's public key does not parse (${(err as Error).message})` };
  }
  const bits = publicKey.asymmetricKeyDetails?.modulusLength;
  if (publicKey.asymmetricKeyType !== 'rsa' || bits === undefined) {
    return { ok: false, reason: `signer certificate key is ${publicKey.asymmetricKeyType}, not RSA` };
  }
  if (header.keyBits !== bits) {
    return {
      ok: false,
      reason: `SIGNATURE_MODULUS code ${header.modulusCode} does not match the signer's ${bits}-bit key`,
    };
  }
  if (header.signature.length !== bits / 8) {
    return { ok: false, reason: `signature is ${header.signature.length} bytes, a ${bits}-bit key gives ${bits / 8}` };
  }
  const ok = verify(header.digest, signedBytes(buf, header), publicKey, header.signature);
  return ok
    ? { ok: true, reason: `signature verified (${header.digest.toUpperCase()}, RSA ${bits})` }
    : { ok: false, reason: 'signature does not verify' };
}
