/**
 * What the lab needs before the appliance starts: a throw-away "manufacturing CA" with the
 * remote phone's certificate (a MIC: CN=<model>-SEP<MAC>), and a copy of the default policy in
 * the lab's temp directory that trusts that CA for phone certificates. policies/default.yaml
 * itself is left as it is: it trusts no phone until an operator names the real CAs.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { type LoadedPolicy, parsePolicy } from '../src/config/load-policy';
import { createCertificate, generateRsaKey } from '../src/pki/x509';

export interface Credential {
  certPem: string;
  keyPem: string;
}

export interface LabCredentials {
  manufacturerCa: Credential;
  /** The remote phone's manufacturer-installed certificate. */
  mic: Credential;
}

export const LAB_CA_TRUSTPOINT = 'lab-manufacturing-ca';
const LAB_CA_FILE = 'lab-manufacturing-ca.pem';

export async function labCredentials(deviceName: string, model = 'CP-8865'): Promise<LabCredentials> {
  const [caKey, phoneKey] = await Promise.all([generateRsaKey(2048), generateRsaKey(2048)]);
  const caCert = createCertificate({
    subject: 'CN=Lab Manufacturing CA,O=phone-proxy lab',
    subjectKeyPem: caKey,
    ca: true,
  });
  const manufacturerCa = { certPem: caCert, keyPem: caKey };
  const mic = {
    certPem: createCertificate({
      subject: `CN=${model}-${deviceName},O=phone-proxy lab`,
      subjectKeyPem: phoneKey,
      issuer: manufacturerCa,
      days: 1,
    }),
    keyPem: phoneKey,
  };
  return { manufacturerCa, mic };
}

/**
 * Writes `<dir>/policy.yaml`: the default policy plus the lab CA as a client trustpoint, and the
 * CA certificate next to it (the policy names it relative to itself). Returns it loaded.
 */
export function writeLabPolicy(defaultText: string, defaultFile: string, dir: string, caCertPem: string): LoadedPolicy {
  writeFileSync(path.join(dir, LAB_CA_FILE), caCertPem);
  const doc = parseDocument(defaultText);
  doc.addIn(['trustpoints'], doc.createNode({ name: LAB_CA_TRUSTPOINT, certificate: LAB_CA_FILE }));
  doc.setIn(['tls-proxy', 'client-trustpoints'], doc.createNode([LAB_CA_TRUSTPOINT]));
  doc.commentBefore = ` Written by npm run demo: ${defaultFile} plus the lab's manufacturing CA as a trust anchor\n for phone certificates (tls-proxy client-trustpoints).\n${doc.commentBefore ?? ''}`;
  const text = doc.toString();
  const file = path.join(dir, 'policy.yaml');
  writeFileSync(file, text);
  return parsePolicy(text, file);
}
