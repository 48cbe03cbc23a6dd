/** Test credentials: real RSA keys and certificates, generated once per test file. */
import { X509Certificate } from 'node:crypto';
import { createCertificate, generateRsaKey } from '../../src/pki/x509';

export interface TestCredential {
  name: string;
  certPem: string;
  keyPem: string;
  cert: X509Certificate;
}

export async function credential(
  subject: string,
  bits = 2048,
  issuer?: { certPem: string; keyPem: string },
): Promise<TestCredential> {
  const keyPem = await generateRsaKey(bits);
  const certPem = createCertificate({ subject, subjectKeyPem: keyPem, issuer });
  return { name: subject, certPem, keyPem, cert: new X509Certificate(certPem) };
}

/** Every position in [from, to) with the byte changed. */
export function* flipped(buf: Buffer, from = 0, to = buf.length): Generator<[number, Buffer]> {
  for (let i = from; i < to; i++) {
    const copy = Buffer.from(buf);
    copy[i] = (copy[i] as number) ^ 0x01;
    yield [i, copy];
  }
}
