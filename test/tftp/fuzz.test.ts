/**
 * Mutation fuzzing of the pure parsers (seeded, bounded): whatever the bytes, the rewriter either
 * returns a file forced secure or throws CnfParseError, and the request parser either parses or
 * throws TftpRequestError. Nothing else may escape (a crash would take the listener down).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CnfParseError, TftpRequestError } from '../../src/errors';
import { rewriteCnf } from '../../src/tftp/cnf-rewrite';
import { checkName } from '../../src/tftp/names';
import { parseRequest } from '../../src/tftp/packet';

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

const PIECES = [
  '<',
  '>',
  '/',
  '&',
  '"',
  "'",
  '=',
  '<!--',
  '-->',
  '<![CDATA[',
  ']]>',
  '</device>',
  '<device>',
  '&amp;',
  '\0',
  'é',
];

function mutate(src: string, r: (n: number) => number): string {
  let s = src;
  const edits = 1 + r(4);
  for (let i = 0; i < edits; i++) {
    const at = r(s.length + 1);
    switch (r(4)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + r(20));
        break;
      case 1:
        s = s.slice(0, at) + (PIECES[r(PIECES.length)] as string) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at);
        break;
      default:
        s = s.slice(0, at) + String.fromCharCode(r(256)) + s.slice(at + 1);
    }
  }
  return s;
}

const opts = { applianceAddress: '198.51.100.1', sipTlsPort: 5061, sccpTlsPort: 2443, disableServiceSettings: true };

test.each(['SEP58971ECC97C1.cnf.xml', 'SEP000000000797.cnf.xml', 'SEP000000007960.cnf.xml'])(
  'rewriteCnf on 1500 mutations of %s: secure output or CnfParseError, nothing else',
  (name) => {
    const src = readFileSync(path.join(__dirname, '../fixtures/tftp', name), 'latin1');
    const r = rng(name.length * 7919);
    let parsed = 0;
    for (let i = 0; i < 1500; i++) {
      const input = mutate(src, r);
      try {
        const out = rewriteCnf(input, opts);
        parsed++;
        // Every <deviceSecurityMode> directly in <device> says 3: no insecure file leaves.
        expect(out.xml).toMatch(/<deviceSecurityMode>3<\/deviceSecurityMode>/);
        expect(out.xml).not.toMatch(/<deviceSecurityMode>[12]<\/deviceSecurityMode>/);
      } catch (err) {
        if (!(err instanceof CnfParseError)) throw new Error(`iteration ${i}: ${(err as Error).stack}`);
        expect(err.line).toBeGreaterThanOrEqual(1);
        expect(err.column).toBeGreaterThanOrEqual(1);
      }
    }
    // The mutations leave a share of documents well-formed, so both paths are exercised.
    expect(parsed).toBeGreaterThan(50);
  },
);

test('parseRequest + checkName on 5000 random and mutated packets: only TftpRequestError', () => {
  const r = rng(12345);
  const base = Buffer.from('\0\x01SEP001122334455.cnf.xml.sgn\0octet\0blksize\x001428\0tsize\x000\0', 'latin1');
  for (let i = 0; i < 5000; i++) {
    let b: Buffer;
    if (i % 2 === 0) {
      b = Buffer.from(base);
      for (let k = 0; k < 1 + r(3); k++) b[r(b.length)] = r(256);
      b = b.subarray(0, r(b.length + 1));
    } else {
      b = Buffer.from(Array.from({ length: r(600) }, () => r(256)));
    }
    try {
      const req = parseRequest(b);
      checkName(req.file);
    } catch (err) {
      if (!(err instanceof TftpRequestError)) throw new Error(`packet ${b.toString('hex')}: ${(err as Error).stack}`);
    }
  }
});
