/** .sgn signing and verification, with OpenSSL as the independent signature checker. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseSignedFile, signFile, TlvError, verifySignedFile } from '../../ctl';
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
  for (const digest of ['sha1', 'sha256', 'sha512'] as const) {
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

  test('a truncated file is a TlvError naming the offset', () => {
    const sgn = signFile(content, 'a.cnf.xml', tftp, 'sha1');
    expect(() => parseSignedFile(sgn.subarray(0, 40))).toThrow(
      /^offset 5, tag 2: HEADER_LENGTH \d+ runs past the file/,
    );
  });
});
