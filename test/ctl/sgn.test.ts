/** .sgn signing and verification, with OpenSSL as the independent signature checker. */
import { execFileSync } from 'node:child_process';
import { createSign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseSignedFile, signFile, TlvError, verifySignedFile } from '../../ctl';
import { main } from '../../src/cli';
import { captureIo } from '../pki/helpers';
import { credential, flipped, type TestCredential } from './helpers';

let tftp: TestCredential;
let other: TestCredential;
let dir: string;
const content = Buffer.from('<device><fullConfig>true</fullConfig>'.padEnd(10 * 1024, ' '));

beforeAll(async () => {
  [tftp, other] = await Promise.all([credential('CN=tftp.example.com,O=Test'), credential('CN=other,O=Test')]);
  dir = mkdtempSync(path.join(tmpdir(), 'sgn-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Walks the header per the format page (not with our parser) to cut out the SIGNATURE item. */
function splitBySpec(buf: Buffer): { signed: Buffer; signature: Buffer } {
  const headerLength = buf.readUInt16BE(8);
  let at = 0;
  while (at < headerLength) {
    const tag = buf[at] as number;
    if (tag === 13) {
      at++;
      continue;
    }
    const len = buf.readUInt16BE(at + 1);
    if (tag === 12) {
      return {
        signed: Buffer.concat([buf.subarray(0, at), buf.subarray(at + 3 + len)]),
        signature: buf.subarray(at + 3, at + 3 + len),
      };
    }
    at += 3 + len;
  }
  throw new Error('no SIGNATURE item');
}

describe('.sgn files', () => {
  for (const digest of ['sha1', 'sha512'] as const) {
    test(`${digest}: round trip, and OpenSSL verifies the signature`, () => {
      const sgn = signFile(content, 'SEP001122334455.cnf.xml', tftp, digest, { timestamp: 1_763_700_000 });
      const { header, content: body } = parseSignedFile(sgn);
      expect(header).toMatchObject({
        version: { major: 1, minor: 0 },
        signerVersion: undefined,
        signerName: 'CN=tftp.example.com;O=Test',
        digest,
        keyBits: 2048,
        fileName: 'SEP001122334455.cnf.xml',
        timestamp: 1_763_700_000,
      });
      expect(body).toEqual(content);
      expect(sgn.subarray(sgn.length - content.length)).toEqual(content);
      const v = verifySignedFile(sgn, [tftp.certPem]);
      expect(v).toMatchObject({ ok: true });
      expect(v.content).toEqual(content);

      const { signed, signature } = splitBySpec(sgn);
      writeFileSync(path.join(dir, 'signed.bin'), signed);
      writeFileSync(path.join(dir, 'sig.bin'), signature);
      writeFileSync(path.join(dir, 'pub.pem'), tftp.cert.publicKey.export({ format: 'pem', type: 'spki' }));
      const out = execFileSync(
        'openssl',
        ['dgst', `-${digest}`, '-verify', 'pub.pem', '-signature', 'sig.bin', 'signed.bin'],
        { cwd: dir },
      ).toString();
      expect(out.trim()).toBe('Verified OK');
    });
  }

  test('a one-byte change anywhere in the header or the first bytes of content fails', () => {
    const sgn = signFile(Buffer.from('short config'), 'a.cnf.xml', tftp, 'sha1');
    for (const [i, bad] of flipped(sgn)) {
      let ok = false;
      try {
        ok = verifySignedFile(bad, [tftp.certPem]).ok;
      } catch (err) {
        if (!(err instanceof TlvError)) throw err;
      }
      if (ok) throw new Error(`byte ${i} changed and the file still verifies`);
    }
  });

  test('a signer outside the trusted set is refused with its name', () => {
    const sgn = signFile(content, 'a.cnf.xml', other, 'sha1');
    const v = verifySignedFile(sgn, [tftp.certPem]);
    expect(v.ok).toBe(false);
    expect(v.reason).toMatch(/signer CN=other;O=Test .* is not among the 1 trusted certificate/);
  });

  test('SHA-256, which Cisco signed files cannot carry, is refused with the digests that can', () => {
    expect(() => signFile(content, 'a.cnf.xml', tftp, 'sha256')).toThrow(
      /^digest sha256 cannot be carried by a Cisco signed file \(SIGNATURE_INFO digest code\): use sha1 or sha512$/,
    );
    const untyped = 'md5' as Parameters<typeof signFile>[3];
    expect(() => signFile(content, 'a.cnf.xml', tftp, untyped)).toThrow(/^digest md5 cannot be carried/);
    expect(parseSignedFile(signFile(content, 'a.cnf.xml', tftp, 'sha512')).header.digestCode).toBe(3);
    expect(parseSignedFile(signFile(content, 'a.cnf.xml', tftp, 'sha1')).header.digestCode).toBe(1);
  });

  test('a truncated file is a TlvError naming the offset', () => {
    const sgn = signFile(content, 'a.cnf.xml', tftp, 'sha1');
    expect(() => parseSignedFile(sgn.subarray(0, 40))).toThrow(
      /^offset 5, tag 2: HEADER_LENGTH \d+ runs past the file/,
    );
  });
});

describe('signer matched by certificate, not by DN text', () => {
  const tlv = (tag: number, value: Buffer) => {
    const h = Buffer.alloc(3);
    h[0] = tag;
    h.writeUInt16BE(value.length, 1);
    return Buffer.concat([h, value]);
  };
  const str = (s: string) => Buffer.from(`${s}\0`, 'utf8');

  /**
   * A .sgn assembled from the format page by hand, with SIGNER_NAME and CA_NAME as another tool
   * writes them (`,` separated), which is not the text our builder derives from the certificate.
   */
  function foreignSgn(
    body: Buffer,
    signer: TestCredential,
    names: { signer: string; ca: string },
    digest: { name: string; code: number } = { name: 'sha1', code: 1 },
  ): Buffer {
    const serial = Buffer.from(signer.cert.serialNumber, 'hex');
    const headStart = (headerLength: number) =>
      Buffer.concat([
        tlv(1, Buffer.from([1, 0])),
        tlv(2, Buffer.from([headerLength >> 8, headerLength & 0xff])),
        tlv(3, Buffer.concat([tlv(4, str(names.signer)), tlv(5, serial), tlv(6, str(names.ca))])),
        tlv(
          7,
          Buffer.concat([
            tlv(8, Buffer.from([digest.code])),
            tlv(9, Buffer.concat([tlv(10, Buffer.from([0])), tlv(11, Buffer.from([2]))])),
          ]),
        ),
      ]);
    const tail = Buffer.concat([tlv(14, str('SEP001122334455.cnf.xml')), tlv(15, Buffer.from([0x69, 0x20, 0, 0]))]);
    const unpadded = headStart(0).length + 3 + 256 + tail.length;
    const padding = Buffer.alloc((4 - (unpadded % 4)) % 4, 13);
    const head = headStart(unpadded + padding.length);
    const after = Buffer.concat([tail, padding]);
    const signature = createSign(digest.name)
      .update(Buffer.concat([head, after, body]))
      .sign(signer.keyPem);
    return Buffer.concat([head, tlv(12, signature), after, body]);
  }

  let multi: TestCredential;
  beforeAll(async () => {
    multi = await credential('CN=tftp,OU=Voice,O=Example,C=US');
  });

  test('a header naming the signer CN=tftp,OU=Voice,O=Example,C=US verifies with that certificate', () => {
    const names = { signer: 'CN=tftp,OU=Voice,O=Example,C=US', ca: 'CN=tftp, OU=Voice, O=Example, C=US' };
    const sgn = foreignSgn(content, multi, names);
    expect(parseSignedFile(sgn).header).toMatchObject({ signerName: names.signer, caName: names.ca });
    const v = verifySignedFile(sgn, [other.certPem, multi.certPem]);
    expect(v).toMatchObject({
      ok: true,
      reason: 'signature verified (SHA1, RSA 2048) by CN=tftp,OU=Voice,O=Example,C=US',
    });
    expect(v.content).toEqual(content);
    // Still the certificate that decides: the same header does not verify with another key.
    expect(verifySignedFile(sgn, [other.certPem]).ok).toBe(false);
  });

  test('a SHA-256 (code 2) file whose signature checks out is still refused, as phones refuse it', () => {
    const names = { signer: 'CN=tftp;OU=Voice;O=Example;C=US', ca: 'CN=tftp;OU=Voice;O=Example;C=US' };
    const sgn = foreignSgn(content, multi, names, { name: 'sha256', code: 2 });
    expect(verifySignedFile(sgn, [multi.certPem])).toEqual({
      ok: false,
      reason:
        'DIGEST_ALGORITHM code 2: digest sha256 cannot be carried by a Cisco signed file (SIGNATURE_INFO digest code): use sha1 or sha512',
    });
  });

  test('sign --verify accepts it at the CLI, and our own file for that DN too', async () => {
    writeFileSync(path.join(dir, 'multi.pem'), multi.certPem);
    writeFileSync(
      path.join(dir, 'foreign.sgn'),
      foreignSgn(content, multi, { signer: 'CN=tftp,OU=Voice,O=Example,C=US', ca: 'CN=tftp,OU=Voice,O=Example,C=US' }),
    );
    writeFileSync(path.join(dir, 'own.sgn'), signFile(content, 'SEP001122334455.cnf.xml', multi));
    for (const f of ['foreign.sgn', 'own.sgn']) {
      const io = captureIo();
      const code = await main(['sign', '--verify', path.join(dir, f), '--cert', path.join(dir, 'multi.pem')], io);
      expect({ f, code, out: io.out(), err: io.err() }).toMatchObject({
        f,
        code: 0,
        out: expect.stringMatching(/: OK, signature verified/),
        err: '',
      });
    }
  });
});
