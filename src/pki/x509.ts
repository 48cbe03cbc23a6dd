/**
 * Key pairs and X.509 certificates for the appliance. Keys come from node:crypto (native,
 * far faster than forge's JavaScript RSA); forge assembles the certificate, and the
 * TBSCertificate is signed through node:crypto as well.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, randomBytes, sign } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generateKeyPairAsync = promisify(generateKeyPair);

/** PKCS#8 PEM private key. */
export async function generateRsaKey(bits: number): Promise<string> {
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return privateKey;
}

const SHORT_NAMES = new Set(['CN', 'OU', 'O', 'L', 'ST', 'C', 'E']);

/**
 * ASN.1 string type per attribute. forge defaults to PrintableString, which cannot hold `_`
 * (`_internal_…_SAST_0`): strict DER parsers then refuse the certificate and the whole CTL.
 * RFC 5280 fixes countryName to PrintableString and emailAddress to IA5String; the rest UTF8String.
 */
function valueTag(shortName: string): forge.asn1.Class {
  const type =
    shortName === 'C'
      ? forge.asn1.Type.PRINTABLESTRING
      : shortName === 'E'
        ? forge.asn1.Type.IA5STRING
        : forge.asn1.Type.UTF8;
  // @types/node-forge says asn1.Class; forge reads and writes an asn1.Type there.
  return type as number as forge.asn1.Class;
}

/** `CN=phone-proxy,O=Example` (or `;`-separated, the CTL form) → forge attributes, in order. */
export function parseSubject(subject: string): forge.pki.CertificateField[] {
  return subject
    .split(/[,;]/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const eq = part.indexOf('=');
      const key = part.slice(0, eq).trim().toUpperCase();
      if (eq < 1 || !SHORT_NAMES.has(key)) {
        throw new Error(`subject "${subject}": "${part}" is not one of ${[...SHORT_NAMES].join(', ')}=value`);
      }
      return { shortName: key, value: part.slice(eq + 1).trim(), valueTagClass: valueTag(key) };
    });
}

/**
 * The issuer's subject as forge read it, to be written back byte for byte (issuer and subject
 * must match for chain building, PrintableString issuers of old state directories included).
 * forge keeps UTF8String values as raw bytes when reading but encodes them when writing.
 */
function sameName(attrs: forge.pki.CertificateField[]): forge.pki.CertificateField[] {
  return attrs.map((a) =>
    (a.valueTagClass as number | undefined) === forge.asn1.Type.UTF8 && typeof a.value === 'string'
      ? { ...a, value: forge.util.decodeUtf8(a.value) }
      : { ...a },
  );
}

export interface CertificateSpec {
  subject: string;
  /** PEM public key (SPKI) or private key (the public half is taken) of the certificate's subject. */
  subjectKeyPem: string;
  /** Signs the certificate: the issuer's certificate and key; absent = self-signed with subjectKeyPem. */
  issuer?: { certPem: string; keyPem: string };
  ca?: boolean;
  days?: number;
  now?: Date;
}

function serialHex(): string {
  const b = randomBytes(9);
  // Positive and of fixed length: top bit clear, first byte never zero.
  b[0] = ((b[0] as number) & 0x7f) | 0x01;
  return b.toString('hex');
}

export function createCertificate(spec: CertificateSpec): string {
  const now = spec.now ?? new Date();
  const publicPem = createPublicKey(spec.subjectKeyPem).export({ format: 'pem', type: 'spki' }) as string;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = serialHex();
  // A little slack for phones whose clock lags.
  cert.validity.notBefore = new Date(now.getTime() - 3600_000);
  cert.validity.notAfter = new Date(now.getTime() + (spec.days ?? 3650) * 86400_000);
  cert.setSubject(parseSubject(spec.subject));
  const issuerCert = spec.issuer ? forge.pki.certificateFromPem(spec.issuer.certPem) : undefined;
  cert.setIssuer(issuerCert ? sameName(issuerCert.subject.attributes) : parseSubject(spec.subject));
  cert.setExtensions(
    spec.ca
      ? [
          { name: 'basicConstraints', cA: true, critical: true },
          { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
          { name: 'subjectKeyIdentifier' },
        ]
      : [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
          { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
          { name: 'subjectKeyIdentifier' },
        ],
  );
  const signingKey = createPrivateKey(spec.issuer?.keyPem ?? spec.subjectKeyPem);
  // forge calls key.sign(md) after setting cert.tbsCertificate: sign those DER bytes natively.
  const nativeSigner = {
    sign: () =>
      sign('sha256', Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary'), signingKey).toString(
        'binary',
      ),
  };
  cert.sign(nativeSigner as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  // forge writes CRLF; node:crypto and OpenSSL write LF. One form, so PEMs compare equal.
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}
