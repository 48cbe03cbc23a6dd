/**
 * Signed files (.sgn): the signed header (version 1.0, no SIGNER_VERSION) followed by the
 * original bytes unchanged. The TFTP interceptor signs every configuration file it relays
 * with this, so it parses the key and signs with node:crypto each time and caches nothing.
 */
import { X509Certificate } from 'node:crypto';
import { signerIdentity } from './certificate';
import {
  buildSignedFile,
  type Digest,
  parseSignedHeader,
  type SignedHeader,
  type Signer,
  unsignableDigest,
  verifyHeaderSignature,
} from './signed-header';

export interface SignFileOptions {
  /** Unix seconds; defaults to now. */
  timestamp?: number;
}

/** The whole `.sgn` for `content`; `fileName` is the unsigned name as served (`SEP….cnf.xml`). */
export function signFile(
  content: Buffer,
  fileName: string,
  signer: Signer,
  digest: Digest = 'sha1',
  opts: SignFileOptions = {},
): Buffer {
  return buildSignedFile({
    version: { major: 1, minor: 0 },
    signer,
    digest,
    fileName,
    timestamp: opts.timestamp ?? Math.floor(Date.now() / 1000),
    body: content,
  });
}

export interface ParsedSignedFile {
  header: SignedHeader;
  content: Buffer;
}

export function parseSignedFile(buf: Buffer): ParsedSignedFile {
  const header = parseSignedHeader(buf);
  return { header, content: buf.subarray(header.headerLength) };
}

export type TrustedCert = X509Certificate | Buffer | string;

/**
 * Verifies a `.sgn` against the trusted certificates (PEM, DER or X509Certificate): one whose
 * serial is the header's signer serial must verify the signature. The certificate and its key
 * decide, as on a phone (its CTL lookup is by serial too), not the SIGNER_NAME / CA_NAME text,
 * which other tools write in other forms (`CN=tftp,OU=Voice,O=Example,C=US`).
 */
export function verifySignedFile(
  buf: Buffer,
  trusted: TrustedCert[],
): { ok: boolean; reason: string; content?: Buffer } {
  const { header, content } = parseSignedFile(buf);
  // A signature that checks out is still refused by phones when the digest code is not theirs.
  const badDigest = header.digest ? unsignableDigest(header.digest) : undefined;
  if (badDigest) return { ok: false, reason: `DIGEST_ALGORITHM code ${header.digestCode}: ${badDigest}` };
  const matching = trusted
    .map((t) => (t instanceof X509Certificate ? t : new X509Certificate(t)))
    .filter((c) => signerIdentity(Buffer.from(c.raw)).serial.equals(header.serial));
  if (matching.length === 0) {
    return {
      ok: false,
      reason: `signer ${header.signerName} (serial ${header.serial.toString('hex')}, issuer ${header.caName}) is not among the ${trusted.length} trusted certificate(s)`,
    };
  }
  let reason = '';
  for (const cert of matching) {
    const v = verifyHeaderSignature(buf, header, cert);
    if (v.ok) return { ok: true, reason: `${v.reason} by ${header.signerName}`, content };
    reason = v.reason;
  }
  return { ok: false, reason };
}
