/**
 * Locally significant device certificates: on the TLS leg to a mixed-mode UCM the appliance
 * presents, for each phone, a certificate with the phone's identity, issued by the LDC
 * issuer (a CA the UCM trusts) for the one LDC key pair kept in the state directory.
 */
import { createPublicKey } from 'node:crypto';
import type { ApplianceState } from '../contracts/state';
import { StateError } from '../errors';
import { createCertificate } from './x509';

export interface MintLdcOptions {
  /** Validity in days (default 365). */
  days?: number;
  /** Extra subject attributes after the CN, e.g. `OU=phones,O=Example`. */
  subjectSuffix?: string;
  now?: Date;
}

/** `deviceName` is the phone's identity as UCM knows it, e.g. `SEP001122334455`. */
export function mintLdc(
  state: ApplianceState,
  deviceName: string,
  opts: MintLdcOptions = {},
): { certPem: string; keyPem: string } {
  if (!state.ldcIssuer || !state.ldcKeyPem) {
    throw new StateError('no LDC issuer configured (tls-proxy.ldc-issuer): cannot mint a device certificate');
  }
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(deviceName))
    throw new Error(`"${deviceName}" is not a device name (1-64 letters, digits, _ . -)`);
  const subject = `CN=${deviceName}${opts.subjectSuffix ? `,${opts.subjectSuffix}` : ''}`;
  const certPem = createCertificate({
    subject,
    subjectKeyPem: createPublicKey(state.ldcKeyPem).export({ format: 'pem', type: 'spki' }) as string,
    issuer: { certPem: state.ldcIssuer.certPem, keyPem: state.ldcIssuer.keyPem },
    days: opts.days ?? 365,
    now: opts.now,
  });
  return { certPem, keyPem: state.ldcKeyPem };
}
