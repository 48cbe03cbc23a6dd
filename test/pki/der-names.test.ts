/**
 * Generated certificate names are DER a strict parser accepts (issue 13): `_internal_ctl_SAST_0`
 * cannot be a PrintableString (no `_` in its alphabet), so generated attributes are UTF8String,
 * countryName stays PrintableString (RFC 5280), and old PrintableString certificates still load.
 *
 * OpenSSL 3.0 (`x509 -text`, `asn1parse`, `verify -x509_strict`) accepts a PrintableString with `_`,
 * so it proves nothing here: the tag bytes are checked explicitly with test/ctl/der.ts, and
 * Python's `cryptography` (Rust DER parser, refuses such a PrintableString) parses the
 * certificates when it is installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { certificateFields, parseCtl, verifyCtl } from '../../ctl';
import type { ApplianceState } from '../../src/contracts/state';
import { buildApplianceCtl } from '../../src/pki/ctl-instance';
import { mintLdc } from '../../src/pki/ldc';
import { openState, stateLayout } from '../../src/pki/state';
import { generateRsaKey } from '../../src/pki/x509';
import { nameAttributes, nameBytes, PRINTABLE_STRING, UTF8_STRING } from '../ctl/der';
import { writePolicy } from './helpers';

const SUBJECT = 'CN=tftp_server,OU=Voice,O=Example,C=US';

let work: string;
let state: ApplianceState;
let ctl: Buffer;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'dernames-'));
  const loaded = writePolicy(work, (p) => {
    p.trustpoints[0].subject = SUBJECT;
    // Non-ASCII: forge reads UTF8String values as raw bytes, so a careless copy double-encodes them.
    p.trustpoints[1].subject = 'CN=phone-proxy LDC issuer,O=Exémple';
  });
  state = await openState(path.join(work, 'var'), loaded);
  ctl = buildApplianceCtl(loaded, state, 1_763_700_000);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const der = (pem: string) => Buffer.from(new X509Certificate(pem).raw);
/** C must stay PrintableString (RFC 5280 X520countryName); every other attribute is UTF8String. */
const expectedTag = (type: string) => (type === 'C' ? PRINTABLE_STRING : UTF8_STRING);

function expectStrictNames(cert: Buffer, what: string) {
  for (const which of ['subject', 'issuer'] as const) {
    const attrs = nameAttributes(cert, which);
    expect(attrs.length).toBeGreaterThan(0);
    for (const a of attrs) {
      if (a.tag !== expectedTag(a.type))
        throw new Error(`${what} ${which} ${a.type}=${a.value} has tag 0x${a.tag.toString(16)}`);
    }
  }
}

function generated(): [string, Buffer][] {
  return [
    ...state.sast.map((s): [string, Buffer] => [s.name, der(s.certPem)]),
    ...[...state.trustpoints.values()].map((t): [string, Buffer] => [t.name, der(t.certPem)]),
    ['minted LDC', der(mintLdc(state, 'SEP001122334455', { subjectSuffix: 'OU=phones,O=Example' }).certPem)],
  ];
}

describe('generated certificates', () => {
  test('every subject and issuer attribute is UTF8String (0x0C), C is PrintableString (0x13)', () => {
    const certs = generated();
    expect(certs.map(([n]) => n)).toEqual([
      '_internal_ctl_SAST_0',
      '_internal_ctl_SAST_1',
      'pp-server',
      'ldc-issuer',
      'minted LDC',
    ]);
    for (const [name, cert] of certs) expectStrictNames(cert, name);
    const sast = nameAttributes(der(state.sast[0]?.certPem ?? ''), 'subject');
    expect(sast[0]).toEqual({ type: 'CN', tag: UTF8_STRING, value: '_internal_ctl_SAST_0' });
    expect(nameAttributes(der(state.trustpoints.get('pp-server')?.certPem ?? ''), 'subject')).toEqual([
      { type: 'CN', tag: UTF8_STRING, value: 'tftp_server' },
      { type: 'OU', tag: UTF8_STRING, value: 'Voice' },
      { type: 'O', tag: UTF8_STRING, value: 'Example' },
      { type: 'C', tag: PRINTABLE_STRING, value: 'US' },
    ]);
  });

  test('the CTL records carry those certificates, and their name strings read the same', () => {
    const parsed = parseCtl(ctl);
    expect(verifyCtl(parsed).ok).toBe(true);
    // The CTL's SUBJECT_NAME / ISSUER_NAME are strings (format doc), the DER is in CERTIFICATE.
    expect(parsed.records.map((r) => [r.function, r.subject])).toEqual([
      ['sast', 'CN=_internal_ctl_SAST_0;OU=SAST;O=phone-proxy'],
      ['sast', 'CN=_internal_ctl_SAST_1;OU=SAST;O=phone-proxy'],
      ['cucm-tftp', 'CN=tftp_server;OU=Voice;O=Example;C=US'],
    ]);
    for (const r of parsed.records) {
      expect(r.issuer).toBe(r.subject); // self-signed
      expectStrictNames(r.certificate as Buffer, `CTL ${r.function} record`);
    }
  });

  test('a minted LDC names its issuer with the issuer certificate subject bytes', () => {
    const ldc = der(mintLdc(state, 'SEP001122334455').certPem);
    const issuer = der(state.ldcIssuer?.certPem ?? '');
    expect(nameBytes(ldc, 'issuer')).toEqual(nameBytes(issuer, 'subject'));
    expect(nameAttributes(ldc, 'issuer')[1]).toEqual({ type: 'O', tag: UTF8_STRING, value: 'Exémple' });
  });

  // Python's `cryptography` parses names strictly from version 39 on (its Rust ASN.1 reader):
  // the probe proves this one refuses `_` in a PrintableString before trusting its verdict.
  // Debian 12's python3-cryptography (38) accepts it, as OpenSSL 3.0's parsers do.
  const strict = strictParserRefusesPrintableUnderscore();
  if (!strict)
    console.warn('SKIPPED: no strict DER parser (python3 with cryptography >= 39); the tag bytes are checked above');
  (strict ? test : test.skip)('a strict DER parser (Python cryptography) reads them all', () => {
    const dir = path.join(work, 'strict');
    mkdirSync(dir, { recursive: true });
    const files = generated().map(([name, cert], n) => {
      const f = path.join(dir, `${n}.der`);
      writeFileSync(f, cert);
      return [name, f];
    });
    const script =
      'import sys\nfrom cryptography import x509\nfor f in sys.argv[1:]:\n  c = x509.load_der_x509_certificate(open(f, "rb").read())\n  print(c.subject.rfc4514_string(), "|", c.issuer.rfc4514_string())';
    const out = execFileSync('python3', ['-c', script, ...files.map(([, f]) => f as string)]).toString();
    // RFC 4514 writes the most specific attribute first.
    expect(out).toContain('O=phone-proxy,OU=SAST,CN=_internal_ctl_SAST_0');
    expect(out.trim().split('\n')).toHaveLength(files.length);
  });
});

describe('old certificates with PrintableString names', () => {
  /** What forge wrote before the fix: no valueTagClass, so PrintableString even with `_`. */
  async function oldCert(subject: forge.pki.CertificateField[], ca: boolean) {
    const keyPem = await generateRsaKey(2048);
    const key = forge.pki.privateKeyFromPem(keyPem);
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
    cert.serialNumber = '0badc0de';
    cert.validity.notBefore = new Date(Date.now() - 3600_000);
    cert.validity.notAfter = new Date(Date.now() + 86400_000);
    cert.setSubject(subject);
    cert.setIssuer(subject);
    if (ca) cert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }]);
    cert.sign(key, forge.md.sha256.create());
    return { keyPem, certPem: forge.pki.certificateToPem(cert) };
  }

  test('an old state directory still opens, signs its CTL and mints LDCs its issuer matches', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dernames-old-'));
    try {
      const layout = stateLayout(path.join(dir, 'var'));
      const sast = await oldCert(
        [
          { shortName: 'CN', value: '_internal_ctl_SAST_0' },
          { shortName: 'OU', value: 'SAST' },
          { shortName: 'O', value: 'phone-proxy' },
        ],
        false,
      );
      const issuer = await oldCert([{ shortName: 'CN', value: 'old LDC issuer' }], true);
      for (const [key, cert, c] of [
        [layout.sastKey('_internal_ctl_SAST_0'), layout.sastCert('_internal_ctl_SAST_0'), sast],
        [layout.key('ldc-issuer'), layout.cert('ldc-issuer'), issuer],
      ] as const) {
        mkdirSync(path.dirname(key), { recursive: true });
        mkdirSync(path.dirname(cert), { recursive: true });
        writeFileSync(key, c.keyPem, { mode: 0o600 });
        writeFileSync(cert, c.certPem);
      }
      expect(nameAttributes(der(sast.certPem), 'subject')[0]?.tag).toBe(PRINTABLE_STRING);
      const loaded = writePolicy(dir);
      const old = await openState(path.join(dir, 'var'), loaded);
      expect(old.sast[0]?.certPem).toBe(new X509Certificate(sast.certPem).toString());
      const parsed = parseCtl(buildApplianceCtl(loaded, old));
      expect(verifyCtl(parsed)).toMatchObject({ ok: true });
      expect(parsed.header.signerName).toBe('CN=_internal_ctl_SAST_0;OU=SAST;O=phone-proxy');
      expect(certificateFields(sast.certPem).subject).toBe('CN=_internal_ctl_SAST_0;OU=SAST;O=phone-proxy');

      const ldc = der(mintLdc(old, 'SEP001122334455').certPem);
      expect(nameAttributes(ldc, 'issuer')).toEqual([{ type: 'CN', tag: PRINTABLE_STRING, value: 'old LDC issuer' }]);
      expect(nameAttributes(ldc, 'subject')[0]?.tag).toBe(UTF8_STRING);
      expect(new X509Certificate(ldc).checkIssued(new X509Certificate(issuer.certPem))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** True when `python3`'s cryptography refuses a certificate whose CN is a PrintableString with `_`. */
function strictParserRefusesPrintableUnderscore(): boolean {
  if (spawnSync('python3', ['-c', 'import cryptography.x509']).status !== 0) return false;
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const name = [{ name: 'commonName', value: '_internal_probe' }]; // forge's default: PrintableString
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(keys.privateKey);
  const script =
    'import sys\nfrom cryptography import x509\nx509.load_pem_x509_certificate(sys.stdin.buffer.read()).subject';
  return spawnSync('python3', ['-c', script], { input: forge.pki.certificateToPem(cert) }).status !== 0;
}
