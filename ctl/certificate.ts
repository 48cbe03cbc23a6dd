/**
 * The certificate facts a CTL record and a signed header carry, read straight from the DER
 * (forge's ASN.1 reader, not its X.509 object, so EC certificates from a cluster CTL parse too).
 */
import { createPublicKey } from 'node:crypto';
import forge from 'node-forge';

export interface CertificateFields {
  der: Buffer;
  /** `CN=…;OU=…;O=…;L=…;ST=…;C=…` in certificate order, only those six attribute kinds. */
  subject: string;
  issuer: string;
  /** Minimal big-endian bytes (the DER INTEGER without a sign-padding zero). */
  serial: Buffer;
  /** RSA: DER of SEQUENCE { n, e }; EC: the uncompressed point. */
  publicKey: Buffer;
  /** The certificate's own signature (BIT STRING contents without the unused-bits byte). */
  signature: Buffer;
  /** Modulus length in bits for RSA keys. */
  rsaBits?: number;
}

const DN_OIDS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.11': 'OU',
  '2.5.4.10': 'O',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.6': 'C',
};

const bin = (s: string): Buffer => Buffer.from(s, 'binary');

function asn1String(node: forge.asn1.Asn1): string {
  const raw = node.value as string;
  if (node.type === forge.asn1.Type.UTF8) return bin(raw).toString('utf8');
  if (node.type === forge.asn1.Type.BMPSTRING) return bin(raw).swap16().toString('utf16le');
  return bin(raw).toString('latin1');
}

/** Name ::= SEQUENCE OF SET OF SEQUENCE { OID, value } → CTL form. */
function ctlName(name: forge.asn1.Asn1): string {
  const parts: string[] = [];
  for (const rdn of name.value as forge.asn1.Asn1[]) {
    for (const atv of rdn.value as forge.asn1.Asn1[]) {
      const [oid, value] = atv.value as forge.asn1.Asn1[];
      if (!oid || !value) continue;
      const short = DN_OIDS[forge.asn1.derToOid(oid.value as string)];
      if (short) parts.push(`${short}=${asn1String(value)}`);
    }
  }
  return parts.join(';');
}

type FromDer = (bytes: forge.util.ByteBuffer, options: { decodeBitStrings: boolean }) => forge.asn1.Asn1;

/** DER → forge ASN.1 with bit strings left opaque: forge would otherwise try to parse signature bytes as ASN.1. */
export function fromDerOpaque(der: Buffer): forge.asn1.Asn1 {
  return (forge.asn1.fromDer as unknown as FromDer)(forge.util.createBuffer(der.toString('binary')), {
    decodeBitStrings: false,
  });
}

export function minimalUnsigned(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

/** PEM or DER in, DER out. */
export function certificateDer(cert: Buffer | string): Buffer {
  if (typeof cert === 'string') return pemToDer(cert);
  return cert;
}

function pemToDer(pem: string): Buffer {
  const body = pem.match(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/)?.[1];
  if (!body) throw new Error('no PEM certificate found');
  return Buffer.from(body.replace(/\s+/g, ''), 'base64');
}

interface TbsParts {
  serial: forge.asn1.Asn1;
  issuer: forge.asn1.Asn1;
  subject: forge.asn1.Asn1;
  spki: forge.asn1.Asn1;
  signature: forge.asn1.Asn1;
}

function tbsParts(der: Buffer): TbsParts {
  let root: forge.asn1.Asn1;
  try {
    root = fromDerOpaque(der);
  } catch (err) {
    throw new Error(`not a DER certificate: ${(err as Error).message}`);
  }
  const [tbs, , signature] = root.value as forge.asn1.Asn1[];
  if (!tbs || !signature)
    throw new Error('not a certificate: expected SEQUENCE { tbsCertificate, algorithm, signature }');
  const fields = tbs.value as forge.asn1.Asn1[];
  // version [0] EXPLICIT is optional (v1 certificates omit it).
  const base = fields[0]?.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  const [serial, , issuer, , subject, spki] = fields.slice(base);
  if (!serial || !issuer || !subject || !spki) throw new Error('not a certificate: tbsCertificate is incomplete');
  return { serial, issuer, subject, spki, signature };
}

/** What a signed header names about its signer, read cheaply (signFile runs per config file). */
export function signerIdentity(input: Buffer | string): {
  subject: string;
  issuer: string;
  serial: Buffer;
  rsaBits?: number;
} {
  const t = tbsParts(typeof input === 'string' ? pemToDer(input) : input);
  let rsaBits: number | undefined;
  try {
    // SubjectPublicKeyInfo { algorithm, BIT STRING { RSAPublicKey { n, e } } }
    const bits = bin(((t.spki.value as forge.asn1.Asn1[])[1]?.value as string) ?? '').subarray(1);
    const n = (fromDerOpaque(bits).value as forge.asn1.Asn1[])[0];
    rsaBits = minimalUnsigned(bin(n?.value as string)).length * 8;
  } catch {
    rsaBits = undefined;
  }
  return {
    subject: ctlName(t.subject),
    issuer: ctlName(t.issuer),
    serial: minimalUnsigned(bin(t.serial.value as string)),
    rsaBits,
  };
}

export function certificateFields(input: Buffer | string): CertificateFields {
  const der = certificateDer(input);
  const { serial, issuer, subject, spki, signature: sigBits } = tbsParts(der);
  const key = createPublicKey({ key: bin(forge.asn1.toDer(spki).getBytes()), format: 'der', type: 'spki' });
  let publicKey: Buffer;
  let rsaBits: number | undefined;
  if (key.asymmetricKeyType === 'rsa') {
    publicKey = key.export({ format: 'der', type: 'pkcs1' });
    rsaBits = key.asymmetricKeyDetails?.modulusLength;
  } else if (key.asymmetricKeyType === 'ec') {
    const jwk = key.export({ format: 'jwk' });
    publicKey = Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x ?? '', 'base64url'),
      Buffer.from(jwk.y ?? '', 'base64url'),
    ]);
  } else {
    throw new Error(`unsupported public key type ${key.asymmetricKeyType}`);
  }
  return {
    der,
    subject: ctlName(subject),
    issuer: ctlName(issuer),
    serial: minimalUnsigned(bin(serial.value as string)),
    publicKey,
    signature: bin(sigBits.value as string).subarray(1),
    rsaBits,
  };
}
