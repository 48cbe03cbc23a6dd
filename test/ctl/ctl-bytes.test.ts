/**
 * A CTL assembled byte by byte from docs/ctl-and-sgn.md, independently of the
 * builder: it must parse to the expected records and verify, the builder must produce the
 * very same bytes, and a one-byte change anywhere must make it fail.
 */
import { createPublicKey, sign } from 'node:crypto';
import { buildCtl, parseCtl, TlvError, verifyCtl } from '../../ctl';
import { credential, flipped, type TestCredential } from './helpers';

type Bytes = number[];
const item = (tag: number, value: Bytes): Bytes => [tag, value.length >> 8, value.length & 0xff, ...value];
const str = (s: string): Bytes => [...Buffer.from(s, 'utf8'), 0];
const u16 = (n: number): Bytes => [n >> 8, n & 0xff];
const serialOf = (c: TestCredential): Bytes =>
  [...Buffer.from(c.cert.serialNumber, 'hex')].filter(
    (b, i, a) => i === a.length - 1 || b !== 0 || a.slice(0, i).some((x) => x !== 0),
  );
const pkcs1 = (c: TestCredential): Bytes => [...createPublicKey(c.certPem).export({ format: 'der', type: 'pkcs1' })];
const der = (c: TestCredential): Buffer => Buffer.from(c.cert.raw);
/** The certificate's signature BIT STRING is the last element of its DER: its last 256 bytes for RSA 2048. */
const certSignature = (c: TestCredential): Bytes => [...der(c).subarray(der(c).length - 256)];

function record(
  fn: number,
  c: TestCredential,
  subject: string,
  issuer: string,
  extra: { ip?: Bytes; dns?: string } = {},
  omit: number[] = [],
): Bytes {
  const items: [number, Bytes][] = [
    [2, extra.dns ? str(extra.dns) : []],
    [3, str(subject)],
    [4, u16(fn)],
    [5, str(issuer)],
    [6, serialOf(c)],
    [7, pkcs1(c)],
    [8, certSignature(c)],
    [9, [...der(c)]],
    [10, extra.ip ?? []],
  ];
  const body = items.filter(([tag, v]) => v.length > 0 && !omit.includes(tag)).flatMap(([tag, v]) => item(tag, v));
  return [...item(1, u16(3 + 2 + body.length)), ...body];
}

function assemble(
  signer: TestCredential,
  signerName: string,
  body: Bytes,
  timestamp: number,
  opts: { omitSignerId?: boolean } = {},
): Buffer {
  const before = (headerLength: number): Bytes => [
    ...item(1, [1, 2]),
    ...item(2, u16(headerLength)),
    ...item(28, [1, 0]),
    ...(opts.omitSignerId
      ? []
      : item(3, [...item(4, str(signerName)), ...item(5, serialOf(signer)), ...item(6, str(signerName))])),
    ...item(7, [...item(8, [1]), ...item(9, [...item(10, [0]), ...item(11, [2])])]),
  ];
  const after: Bytes = [
    ...item(14, str('CTLFile.tlv')),
    ...item(15, [timestamp >>> 24, (timestamp >> 16) & 0xff, (timestamp >> 8) & 0xff, timestamp & 0xff]),
  ];
  const unpadded = before(0).length + 3 + 256 + after.length;
  const padding: Bytes = new Array((4 - (unpadded % 4)) % 4).fill(13);
  const headerLength = unpadded + padding.length;
  const signed = Buffer.from([...before(headerLength), ...after, ...padding, ...body]);
  const signature = [...sign('sha1', signed, signer.keyPem)];
  return Buffer.from([...before(headerLength), ...item(12, signature), ...after, ...padding, ...body]);
}

const SAST_SUBJECT = 'CN=_internal_ctl_SAST_0,O=Example';
const SAST_NAME = 'CN=_internal_ctl_SAST_0;O=Example';
const TFTP_SUBJECT = 'CN=phone-proxy.example.com,OU=Voice,O=Example,C=US';
const TFTP_NAME = 'CN=phone-proxy.example.com;OU=Voice;O=Example;C=US';
const T = 1_763_700_000;

let sast: TestCredential;
let tftp: TestCredential;
let fixture: Buffer;

beforeAll(async () => {
  [sast, tftp] = await Promise.all([credential(SAST_SUBJECT), credential(TFTP_SUBJECT)]);
  const body = [
    ...record(0, sast, SAST_NAME, SAST_NAME),
    ...record(2, tftp, TFTP_NAME, TFTP_NAME, { ip: [192, 0, 2, 10], dns: 'pp.example.com' }),
  ];
  fixture = assemble(sast, SAST_NAME, body, T);
});

describe('hand-assembled CTL', () => {
  test('parses to the expected header and records', () => {
    const ctl = parseCtl(fixture);
    expect(ctl.header).toMatchObject({
      version: { major: 1, minor: 2 },
      signerVersion: { major: 1, minor: 0 },
      signerName: SAST_NAME,
      caName: SAST_NAME,
      digest: 'sha1',
      keyBits: 2048,
      fileName: 'CTLFile.tlv',
      timestamp: T,
    });
    expect(ctl.header.headerLength % 4).toBe(0);
    expect(ctl.records).toHaveLength(2);
    const [r0, r1] = ctl.records;
    expect(r0).toMatchObject({
      function: 'sast',
      functionCode: 0,
      subject: SAST_NAME,
      issuer: SAST_NAME,
      ip: undefined,
    });
    expect(r0?.certificate).toEqual(der(sast));
    expect(r1).toMatchObject({
      function: 'cucm-tftp',
      functionCode: 2,
      subject: TFTP_NAME,
      ip: '192.0.2.10',
      dnsName: 'pp.example.com',
    });
    expect(r1?.serial.toString('hex')).toBe(Buffer.from(serialOf(tftp)).toString('hex'));
    expect(r1?.publicKey).toEqual(Buffer.from(pkcs1(tftp)));
    expect(r1?.certificate).toEqual(der(tftp));
  });

  test('verifies against its SAST record', () => {
    expect(verifyCtl(parseCtl(fixture))).toMatchObject({ ok: true });
  });

  test('the builder produces exactly the same bytes', () => {
    const built = buildCtl({
      records: [
        { function: 'sast', certificate: sast.certPem },
        { function: 'cucm-tftp', certificate: tftp.certPem, ip: '192.0.2.10', dnsName: 'pp.example.com' },
      ],
      signer: sast,
      digest: 'sha1',
      timestamp: T,
    });
    expect(built.toString('hex')).toBe(fixture.toString('hex'));
  });

  test('a one-byte change anywhere fails verification', () => {
    let parsed = 0;
    for (const [i, bad] of flipped(fixture)) {
      let ok: boolean;
      try {
        ok = verifyCtl(parseCtl(bad)).ok;
        parsed++;
      } catch (err) {
        if (!(err instanceof TlvError)) throw new Error(`byte ${i}: ${(err as Error).stack}`);
        ok = false;
      }
      if (ok) throw new Error(`byte ${i} changed and the CTL still verifies`);
    }
    // Most changes parse fine and are caught by the signature, not by the parser.
    expect(parsed).toBeGreaterThan(fixture.length / 2);
  });
});

test('every truncation is a TlvError or a failed verification, never a crash', () => {
  for (let n = 0; n < fixture.length; n++) {
    try {
      expect(verifyCtl(parseCtl(fixture.subarray(0, n))).ok).toBe(false);
    } catch (err) {
      if (!(err instanceof TlvError)) throw new Error(`truncated to ${n}: ${(err as Error).stack}`);
    }
  }
});

function tlvError(buf: Buffer): TlvError {
  try {
    parseCtl(buf);
  } catch (err) {
    if (err instanceof TlvError) return err;
    throw err;
  }
  throw new Error('parsed without error');
}

describe('bad CTL inputs each give their specific error', () => {
  test('truncated file', () => {
    const e = tlvError(fixture.subarray(0, fixture.length - 10));
    expect(e.reason).toBe('OVERRUN');
    expect(e.tag).toBe(1);
    expect(e.message).toMatch(/RECORD_LENGTH \d+ runs past the file/);
    expect(tlvError(fixture.subarray(0, 2)).reason).toBe('TRUNCATED');
  });

  test('header length past the end of the file', () => {
    const e = tlvError(fixture.subarray(0, 100));
    expect(e).toMatchObject({ reason: 'OVERRUN', offset: 5, tag: 2 });
  });

  test('unknown tag inside a record', () => {
    const ctl = parseCtl(fixture);
    const at = ctl.header.headerLength + 5; // first item after RECORD_LENGTH in record 1
    const bad = Buffer.from(fixture);
    bad[at] = 99;
    expect(tlvError(bad)).toMatchObject({ reason: 'UNKNOWN_TAG', offset: at, tag: 99 });
  });

  test('unknown tag in the header', () => {
    const bad = Buffer.from(fixture);
    bad[10] = 77; // SIGNER_VERSION's tag
    expect(tlvError(bad)).toMatchObject({ reason: 'UNKNOWN_TAG', offset: 10, tag: 77 });
  });

  test('record without a mandatory item', () => {
    const body = record(0, sast, SAST_NAME, SAST_NAME, {}, [3]);
    const buf = assemble(sast, SAST_NAME, body, T);
    const e = tlvError(buf);
    expect(e.reason).toBe('MISSING');
    expect(e.tag).toBe(3);
    expect(e.offset).toBe(parseHeaderLength(buf));
    expect(e.message).toMatch(/SUBJECT_NAME missing from record/);
  });

  test('header without SIGNER_ID', () => {
    const buf = assemble(sast, SAST_NAME, record(0, sast, SAST_NAME, SAST_NAME), T, { omitSignerId: true });
    expect(tlvError(buf)).toMatchObject({ reason: 'MISSING', tag: 3 });
  });

  test('signer that is not a SAST record', () => {
    const buf = assemble(tftp, TFTP_NAME, record(0, sast, SAST_NAME, SAST_NAME), T);
    const v = verifyCtl(parseCtl(buf));
    expect(v.ok).toBe(false);
    expect(v.reason).toMatch(/no SAST record has the signer's serial/);
  });
});

function parseHeaderLength(buf: Buffer): number {
  return buf.readUInt16BE(8);
}
