/**
 * `crypto key generate rsa`, `crypto ca trustpoint` and `crypto ca certificate chain` → what the
 * policy's trustpoints need: how each certificate comes to exist (generated here, or imported),
 * its subject and key size, and the certificates a running-config carries in hex.
 */
import { X509Certificate } from 'node:crypto';
import type { Ledger } from './ledger';
import { type ConfigLine, startsWith } from './parse-config';

export interface AsaKeyPair {
  label: string;
  bits: number;
  node: ConfigLine;
}

export interface AsaTrustpoint {
  name: string;
  /** self: the ASA made the certificate; terminal: pasted in (a CA or peer certificate); url: a CA enrolled it. */
  enrollment: 'self' | 'terminal' | 'url' | undefined;
  keypair: string | undefined;
  fqdn: string | undefined;
  subject: string | undefined;
  /** `proxy-ldc-issuer`: the local CA that signs the phones' LDCs. */
  ldcIssuer: boolean;
  node: ConfigLine;
  /** Certificates from `crypto ca certificate chain NAME` (PEM), CA certificates first. */
  certificates: string[];
}

export interface AsaCrypto {
  keyPairs: Map<string, AsaKeyPair>;
  trustpoints: AsaTrustpoint[];
}

function wordAfter(node: ConfigLine, keyword: string): string | undefined {
  const i = node.words.findIndex((w) => w.toLowerCase() === keyword);
  return i >= 0 ? node.words[i + 1] : undefined;
}

/** The rest of the line after the first `n` words, quotes as written removed. */
function restOf(node: ConfigLine, n: number): string {
  return node.words.slice(n).join(' ');
}

function readKeyPair(node: ConfigLine, ledger: Ledger): AsaKeyPair | undefined {
  const label = wordAfter(node, 'label');
  const bits = Number(wordAfter(node, 'modulus') ?? 2048);
  if (!label || !Number.isInteger(bits) || bits < 512) {
    ledger.unmapped(node, 'malformed: expected crypto key generate rsa label LABEL modulus BITS');
    return undefined;
  }
  ledger.use(node);
  return { label, bits, node };
}

function readTrustpoint(node: ConfigLine, ledger: Ledger): AsaTrustpoint | undefined {
  const name = node.words[3];
  if (!name) {
    ledger.unmapped(node, 'malformed: expected crypto ca trustpoint NAME');
    return undefined;
  }
  ledger.use(node);
  const tp: AsaTrustpoint = {
    name,
    enrollment: undefined,
    keypair: undefined,
    fqdn: undefined,
    subject: undefined,
    ldcIssuer: false,
    node,
    certificates: [],
  };
  for (const c of node.children) {
    if (startsWith(c, 'enrollment', 'self')) {
      tp.enrollment = 'self';
      ledger.use(c);
    } else if (startsWith(c, 'enrollment', 'terminal')) {
      tp.enrollment = 'terminal';
      ledger.use(c);
    } else if (startsWith(c, 'enrollment', 'url')) {
      tp.enrollment = 'url';
      ledger.use(c);
    } else if (startsWith(c, 'keypair') && c.words[1]) {
      tp.keypair = c.words[1];
      ledger.use(c);
    } else if (startsWith(c, 'fqdn') && c.words[1]) {
      // `fqdn none` is the ASA saying there is none; a real one is placed by the importer.
      if (c.words[1].toLowerCase() !== 'none') tp.fqdn = c.words[1];
      else ledger.use(c);
    } else if (startsWith(c, 'subject-name') && c.words.length > 1) {
      tp.subject = restOf(c, 1);
      ledger.use(c);
    } else if (startsWith(c, 'proxy-ldc-issuer')) {
      tp.ldcIssuer = true;
      ledger.use(c);
    } else if (startsWith(c, 'crl')) {
      ledger.unmapped(c, 'CRL checking: the policy has no revocation settings');
    } else if (startsWith(c, 'revocation-check')) {
      ledger.unmapped(c, 'revocation checking: the policy has no revocation settings');
    }
  }
  return tp;
}

/** Hex words under `certificate [ca] SERIAL`, up to `quit` → PEM; undefined if it is not a certificate. */
function certificateFromHex(node: ConfigLine): string | undefined {
  const hex = node.children
    .filter((c) => !startsWith(c, 'quit'))
    .flatMap((c) => c.words)
    .join('');
  if (hex.length === 0 || !/^[0-9a-fA-F]+$/.test(hex) || hex.length % 2 !== 0) return undefined;
  try {
    return new X509Certificate(Buffer.from(hex, 'hex')).toString();
  } catch {
    return undefined;
  }
}

function readChain(node: ConfigLine, byName: Map<string, AsaTrustpoint>, ledger: Ledger): void {
  const name = node.words[4];
  const tp = name ? byName.get(name) : undefined;
  if (!tp) {
    ledger.unmapped(node, `certificate chain of a trustpoint that is not defined (${name ?? 'no name'})`);
    return;
  }
  ledger.use(node);
  const ca: string[] = [];
  const others: string[] = [];
  for (const c of node.children) {
    if (!startsWith(c, 'certificate')) continue;
    const pem = certificateFromHex(c);
    if (!pem) {
      ledger.unmapped(c, 'malformed: the hex under this certificate is not a DER X.509 certificate');
      continue;
    }
    ledger.useAll(c);
    (startsWith(c, 'certificate', 'ca') ? ca : others).push(pem);
  }
  tp.certificates = [...ca, ...others];
}

export function mapCrypto(commands: ConfigLine[], ledger: Ledger): AsaCrypto {
  const keyPairs = new Map<string, AsaKeyPair>();
  const trustpoints: AsaTrustpoint[] = [];
  const byName = new Map<string, AsaTrustpoint>();
  for (const node of commands) {
    if (startsWith(node, 'crypto', 'key', 'generate', 'rsa')) {
      const k = readKeyPair(node, ledger);
      if (k) keyPairs.set(k.label, k);
    } else if (startsWith(node, 'crypto', 'ca', 'trustpoint')) {
      const tp = readTrustpoint(node, ledger);
      if (!tp) continue;
      if (byName.has(tp.name)) ledger.warn(`trustpoint ${tp.name} is defined twice; the last one counts`, node);
      byName.set(tp.name, tp);
    }
  }
  trustpoints.push(...byName.values());
  for (const node of commands) {
    if (startsWith(node, 'crypto', 'ca', 'certificate', 'chain')) readChain(node, byName, ledger);
  }
  return { keyPairs, trustpoints };
}
