/** build → parse → verify across SAST counts, digests, key sizes and optional items. */
import { createPublicKey, X509Certificate } from 'node:crypto';
import {
  buildCtl,
  buildSignedFile,
  type CtlRecordInput,
  type Digest,
  parseCtl,
  verifyCtl,
  wouldPhoneAccept,
} from '../../ctl';
import { credential, type TestCredential } from './helpers';

let sast2048: TestCredential[];
let sast4096: TestCredential;
let tftp2048: TestCredential;
let tftp4096: TestCredential;
let capf: TestCredential;

beforeAll(async () => {
  [sast2048, sast4096, tftp2048, tftp4096, capf] = await Promise.all([
    Promise.all([0, 1, 2, 3, 4].map((n) => credential(`CN=_internal_ctl_SAST_${n},OU=SAST,O=Test`))),
    credential('CN=_internal_big_SAST_0,O=Test', 4096),
    credential('CN=tftp.example.com,O=Test'),
    credential('CN=tftp4096.example.com,O=Test', 4096),
    credential('CN=CAPF-1234,OU=Voice,O=Test,L=Paris,ST=IDF,C=FR'),
  ]);
}, 120_000);

const T = 1_763_700_000;

function check(records: CtlRecordInput[], signer: TestCredential, digest: Digest) {
  const bytes = buildCtl({ records, signer, digest, timestamp: T });
  const ctl = parseCtl(bytes);
  expect(verifyCtl(ctl)).toMatchObject({ ok: true });
  expect(ctl.header.digest).toBe(digest);
  expect(ctl.header.signerVersion).toEqual({ major: 1, minor: digest === 'sha1' ? 0 : 1 });
  expect(ctl.header.headerLength % 4).toBe(0);
  expect(ctl.records).toHaveLength(records.length);
  records.forEach((input, n) => {
    if ('carry' in input) return;
    const rec = ctl.records[n];
    const cert = typeof input.certificate === 'string' ? input.certificate : '';
    const x = new X509Certificate(cert);
    expect(rec?.function).toBe(input.function);
    expect(rec?.serial.toString('hex').toUpperCase().replace(/^0+/, '')).toBe(x.serialNumber.replace(/^0+/, ''));
    expect(rec?.subject).toBe(x.subject.split('\n').join(';'));
    expect(rec?.publicKey).toEqual(createPublicKey(cert).export({ format: 'der', type: 'pkcs1' }));
    expect(rec?.certificate).toEqual(Buffer.from(x.raw));
    expect(rec?.ip).toBe(input.ip);
    expect(rec?.dnsName).toBe(input.dnsName);
  });
  return { bytes, ctl };
}

describe('CTL round trips', () => {
  for (const digest of ['sha1', 'sha512'] as const) {
    for (const count of [1, 2, 3, 4, 5]) {
      test(`${count} SAST(s), ${digest}, RSA 2048, with IP and DNS`, () => {
        const sast = sast2048.slice(0, count);
        check(
          [
            ...sast.map((s) => ({ function: 'sast' as const, certificate: s.certPem })),
            { function: 'cucm-tftp', certificate: tftp2048.certPem, ip: '198.51.100.7', dnsName: 'pp.example.com' },
            { function: 'capf', certificate: capf.certPem, ip: '198.51.100.7' },
          ],
          sast[0] as TestCredential,
          digest,
        );
      });
    }
    test(`RSA 4096 SAST signer and records, ${digest}, without IP or DNS`, () => {
      const { ctl } = check(
        [
          { function: 'sast', certificate: sast4096.certPem },
          { function: 'tftp', certificate: tftp4096.certPem },
          { function: 'cucm', certificate: tftp2048.certPem },
        ],
        sast4096,
        digest,
      );
      expect(ctl.header.keyBits).toBe(4096);
      expect(ctl.header.signature).toHaveLength(512);
    });
  }

  test('signing with a non-first SAST verifies too', () => {
    check(
      [
        ...sast2048.slice(0, 3).map((s) => ({ function: 'sast' as const, certificate: s.certPem })),
        { function: 'tftp', certificate: tftp2048.certPem },
      ],
      sast2048[2] as TestCredential,
      'sha1',
    );
  });

  test('carried records are copied unchanged', () => {
    const { ctl: first } = check(
      [
        { function: 'sast', certificate: sast2048[1]?.certPem ?? '' },
        { function: 'cucm', certificate: capf.certPem, ip: '10.1.1.1', dnsName: 'cucm1' },
      ],
      sast2048[1] as TestCredential,
      'sha1',
    );
    const carried = first.records[1];
    if (!carried) throw new Error('no record');
    const second = parseCtl(
      buildCtl({
        records: [{ function: 'sast', certificate: sast2048[0]?.certPem ?? '' }, { carry: carried }],
        signer: sast2048[0] as TestCredential,
        timestamp: T,
      }),
    );
    expect(verifyCtl(second).ok).toBe(true);
    expect(second.records[1]).toMatchObject({
      function: 'cucm',
      subject: carried.subject,
      ip: '10.1.1.1',
      dnsName: 'cucm1',
    });
    expect(second.records[1]?.certificate).toEqual(carried.certificate);
  });

  test('refuses a signer that is not among the SAST records', () => {
    expect(() =>
      buildCtl({
        records: [{ function: 'sast', certificate: sast2048[0]?.certPem ?? '' }],
        signer: tftp2048,
        timestamp: T,
      }),
    ).toThrow(/must be one of its SAST records/);
  });

  test('refuses SHA-256: no signer version goes with it, phones refuse the CTL', () => {
    const signer = sast2048[0] as TestCredential;
    expect(() =>
      buildCtl({
        records: [{ function: 'sast', certificate: signer.certPem }],
        signer,
        digest: 'sha256',
        timestamp: T,
      }),
    ).toThrow(/^digest sha256 cannot be carried by a Cisco signed file .*: use sha1 or sha512$/);
  });

  test('refuses a signer version that does not go with the digest', () => {
    const signer = sast2048[0] as TestCredential;
    const o = { version: { major: 1, minor: 2 }, signer, fileName: 'CTLFile.tlv', timestamp: T, body: Buffer.alloc(0) };
    expect(() => buildSignedFile({ ...o, digest: 'sha512', signerVersion: { major: 1, minor: 0 } })).toThrow(
      /^signer version 1\.0 does not go with sha512: it needs 1\.1$/,
    );
    expect(() => buildSignedFile({ ...o, digest: 'sha1', signerVersion: { major: 1, minor: 1 } })).toThrow(
      /signer version 1\.1 does not go with sha1: it needs 1\.0/,
    );
  });
});

describe('phone acceptance rule', () => {
  const ctlSignedBy = (sast: TestCredential[], signer: TestCredential) =>
    buildCtl({
      records: [
        ...sast.map((s) => ({ function: 'sast' as const, certificate: s.certPem })),
        { function: 'tftp', certificate: tftp2048.certPem },
      ],
      signer,
      timestamp: T,
    });

  test('accepts a new CTL signed by a SAST the installed one lists', () => {
    const old = ctlSignedBy([sast2048[0], sast2048[1]] as TestCredential[], sast2048[0] as TestCredential);
    // The replacement box kept SAST 1 and made a new SAST 0.
    const next = ctlSignedBy([sast2048[1], sast2048[3]] as TestCredential[], sast2048[1] as TestCredential);
    expect(wouldPhoneAccept(old, next)).toMatchObject({ accept: true });
  });

  test('refuses a new CTL signed by an unknown SAST', () => {
    const old = ctlSignedBy([sast2048[0], sast2048[1]] as TestCredential[], sast2048[0] as TestCredential);
    const next = ctlSignedBy([sast2048[2], sast2048[3]] as TestCredential[], sast2048[2] as TestCredential);
    const v = wouldPhoneAccept(old, next);
    expect(v.accept).toBe(false);
    expect(v.reason).toMatch(/not a SAST in the installed CTL/);
  });

  test('refuses a CTL whose signature was tampered with', () => {
    const old = ctlSignedBy([sast2048[0]] as TestCredential[], sast2048[0] as TestCredential);
    const next = Buffer.from(ctlSignedBy([sast2048[0]] as TestCredential[], sast2048[0] as TestCredential));
    next[next.length - 1] = (next[next.length - 1] as number) ^ 0xff;
    expect(wouldPhoneAccept(old, next).accept).toBe(false);
  });
});
