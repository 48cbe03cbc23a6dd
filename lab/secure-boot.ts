/**
 * What a Cisco phone checks while it boots the secure way (ASA phone proxy guide; docs/ctl-and-sgn.md),
 * done with the project's CTL library: the CTL must parse and verify with the SAST record its
 * header names; the `.sgn` configuration must be signed by the CTL's TFTP record and carry the
 * file name that was asked for; the TLS server later must present the CTL's CCM certificate.
 * Pure: bytes in, findings out; any failure is a BootError naming the file and the reason.
 */
import { X509Certificate } from 'node:crypto';
import { type CtlRecord, type ParsedCtl, parseCtl, parseSignedFile, verifyCtl, verifySignedFile } from '../ctl';
import { leafText, scanXml, walk } from '../src/tftp/xml-scan';

export class BootError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'BootError';
  }
}

export interface TrustList {
  ctl: ParsedCtl;
  /** verifyCtl's verdict text. */
  verdict: string;
  /** Certificate that signs configuration files (TFTP or CCM+TFTP record). */
  tftp: X509Certificate;
  /** Certificate the call-control server must present over TLS (CCM or CCM+TFTP record). */
  ccm: X509Certificate;
  records: { function: string; subject: string; ip?: string }[];
}

function certOf(r: CtlRecord | undefined): X509Certificate | undefined {
  return r?.certificate ? new X509Certificate(r.certificate) : undefined;
}

export function checkCtl(bytes: Buffer, file = 'CTLFile.tlv'): TrustList {
  let ctl: ParsedCtl;
  try {
    ctl = parseCtl(bytes);
  } catch (err) {
    throw new BootError(file, `does not parse (${(err as Error).message})`);
  }
  const v = verifyCtl(ctl);
  if (!v.ok) throw new BootError(file, `signature not accepted: ${v.reason}`);
  const find = (...fns: string[]) => ctl.records.find((r) => fns.includes(r.function) && r.certificate);
  const tftp = certOf(find('tftp', 'cucm-tftp'));
  const ccm = certOf(find('cucm', 'cucm-tftp'));
  if (!tftp)
    throw new BootError(file, 'no TFTP record with a certificate: signed configuration files cannot be checked');
  if (!ccm) throw new BootError(file, 'no CCM record with a certificate: the TLS server cannot be checked');
  return {
    ctl,
    verdict: v.reason,
    tftp,
    ccm,
    records: ctl.records.map((r) => ({ function: r.function, subject: r.subject, ...(r.ip ? { ip: r.ip } : {}) })),
  };
}

export interface PhoneConfig {
  /** Where the phone registers: callManager processNodeName and securedSipPort. */
  processNodeName: string;
  securedSipPort: number;
  /** 1 nonsecure, 2 authenticated, 3 encrypted. */
  deviceSecurityMode: string;
  /** 1 UDP, 2 TCP, 3 TLS, 4 UDP and TCP. */
  transportLayerProtocol: string;
}

export function checkConfig(sgn: Buffer, file: string, trust: TrustList): { config: PhoneConfig; verdict: string } {
  let named: string;
  try {
    named = parseSignedFile(sgn).header.fileName;
  } catch (err) {
    throw new BootError(file, `does not parse as a signed file (${(err as Error).message})`);
  }
  const v = verifySignedFile(sgn, [trust.tftp]);
  if (!v.ok || !v.content) throw new BootError(file, `signature not accepted: ${v.reason}`);
  const expected = file.replace(/\.sgn$/, '');
  if (named !== expected) throw new BootError(file, `signed for "${named}", not "${expected}"`);
  const doc = (() => {
    try {
      return scanXml(v.content.toString('latin1'));
    } catch (err) {
      throw new BootError(file, `configuration is not XML (${(err as Error).message})`);
    }
  })();
  const all = [...walk(doc.root)];
  const leaf = (name: string, parent?: string) => {
    const el = all.find((e) => e.name === name && (!parent || e.parent?.name === parent));
    return el ? leafText(doc, el) : undefined;
  };
  const processNodeName = leaf('processNodeName', 'callManager');
  const port = Number(leaf('securedSipPort'));
  if (!processNodeName || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BootError(file, 'no callManager processNodeName/securedSipPort to register with');
  }
  return {
    config: {
      processNodeName,
      securedSipPort: port,
      deviceSecurityMode: leaf('deviceSecurityMode') ?? '',
      transportLayerProtocol: leaf('transportLayerProtocol') ?? '',
    },
    verdict: v.reason,
  };
}

/** A phone only talks to the call-control server whose certificate is in its CTL. */
export function checkServerCertificate(presented: Buffer | undefined, trust: TrustList): string {
  if (!presented || presented.length === 0) throw new BootError('TLS', 'the server presented no certificate');
  if (!Buffer.from(trust.ccm.raw).equals(presented)) {
    const got = new X509Certificate(presented).subject.replace(/\n/g, ',');
    throw new BootError('TLS', `server certificate ${got} is not the CTL's CCM certificate`);
  }
  return trust.ccm.subject.replace(/\n/g, ',');
}
