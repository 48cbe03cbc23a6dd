/** SAST PKCS#12 export/import; OpenSSL reads what we write and writes what we read. */
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportSast, importSast, SastImportError } from '../../ctl';
import { credential, type TestCredential } from './helpers';

let s0: TestCredential;
let s1: TestCredential;
let dir: string;
const PASS = 'correct horse battery staple';

beforeAll(async () => {
  [s0, s1] = await Promise.all([
    credential('CN=_internal_ctl_SAST_0,O=Test'),
    credential('CN=_internal_ctl_SAST_1,O=Test'),
  ]);
  dir = mkdtempSync(path.join(tmpdir(), 'p12-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entries = () => [
  { name: '_internal_ctl_SAST_0', certPem: s0.certPem, keyPem: s0.keyPem },
  { name: '_internal_ctl_SAST_1', certPem: s1.certPem, keyPem: s1.keyPem },
];

function importError(p12: Buffer, pass: string): SastImportError {
  try {
    importSast(p12, pass);
  } catch (err) {
    if (err instanceof SastImportError) return err;
    throw err;
  }
  throw new Error('import succeeded');
}

describe('SAST PKCS#12', () => {
  let p12: Buffer;
  beforeAll(() => {
    p12 = exportSast(entries(), PASS);
  });

  test('round trip keeps names, certificates and keys', () => {
    const back = importSast(p12, PASS);
    expect(back.map((e) => e.name)).toEqual(['_internal_ctl_SAST_0', '_internal_ctl_SAST_1']);
    expect(back[0]?.certPem).toBe(s0.certPem);
    expect(s0.cert.checkPrivateKey(createPrivateKey(back[0]?.keyPem ?? ''))).toBe(true);
    expect(s1.cert.checkPrivateKey(createPrivateKey(back[1]?.keyPem ?? ''))).toBe(true);
  });

  test('OpenSSL reads it: AES-256-CBC key bags, PBKDF2-HMAC-SHA256, SHA-256 MAC', () => {
    const file = path.join(dir, 'ours.p12');
    writeFileSync(file, p12);
    const info = execFileSync('openssl', ['pkcs12', '-info', '-in', file, '-passin', `pass:${PASS}`, '-nodes'], {
      stdio: 'pipe',
    }).toString();
    expect(info).toMatch(/friendlyName: _internal_ctl_SAST_0/);
    expect(info).toMatch(/friendlyName: _internal_ctl_SAST_1/);
    expect(info.match(/BEGIN PRIVATE KEY/g)).toHaveLength(2);
    // openssl prints the algorithm details on stderr
    const details = execFileSync('sh', [
      '-c',
      `openssl pkcs12 -info -in '${file}' -passin 'pass:${PASS}' -noout 2>&1`,
    ]).toString();
    expect(details).toMatch(/MAC: sha256/);
    expect(details).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 100000, PRF hmacWithSHA256/);
  });

  test('non-ASCII passphrases agree with OpenSSL', () => {
    const pass = 'pässwörd-ünïcode';
    const file = path.join(dir, 'utf8.p12');
    writeFileSync(file, exportSast(entries().slice(0, 1), pass));
    execFileSync('openssl', ['pkcs12', '-in', file, '-passin', `pass:${pass}`, '-nodes', '-noout'], { stdio: 'pipe' });
    expect(importSast(readFileSync(file), pass)).toHaveLength(1);
  });

  test('imports a PKCS#12 written by OpenSSL', () => {
    writeFileSync(path.join(dir, 'k.pem'), s1.keyPem);
    writeFileSync(path.join(dir, 'c.pem'), s1.certPem);
    execFileSync(
      'openssl',
      [
        'pkcs12',
        '-export',
        '-inkey',
        'k.pem',
        '-in',
        'c.pem',
        '-name',
        '_internal_ctl_SAST_1',
        '-passout',
        `pass:${PASS}`,
        '-out',
        'openssl.p12',
      ],
      { cwd: dir, stdio: 'pipe' },
    );
    const back = importSast(readFileSync(path.join(dir, 'openssl.p12')), PASS);
    expect(back).toHaveLength(1);
    expect(back[0]?.name).toBe('_internal_ctl_SAST_1');
    expect(back[0]?.certPem).toBe(s1.certPem);
  });

  test('wrong passphrase', () => {
    const e = importError(p12, 'not the passphrase');
    expect(e.reason).toBe('WRONG_PASSPHRASE');
    expect(e.message).toMatch(/wrong passphrase/);
  });

  test('a file without keys', () => {
    execFileSync(
      'openssl',
      ['pkcs12', '-export', '-nokeys', '-in', 'c.pem', '-passout', `pass:${PASS}`, '-out', 'nokeys.p12'],
      {
        cwd: dir,
        stdio: 'pipe',
      },
    );
    const e = importError(readFileSync(path.join(dir, 'nokeys.p12')), PASS);
    expect(e.reason).toBe('NO_KEYS');
    expect(e.message).toMatch(/holds no private key/);
  });

  test('a key that does not match its certificate', () => {
    const bad = exportSast([{ name: '_internal_ctl_SAST_0', certPem: s0.certPem, keyPem: s1.keyPem }], PASS);
    const e = importError(bad, PASS);
    expect(e.reason).toBe('KEY_MISMATCH');
    expect(e.message).toMatch(/_internal_ctl_SAST_0: the private key does not match its certificate/);
  });

  test('not a PKCS#12 file at all', () => {
    expect(importError(Buffer.from('hello world, not DER'), PASS).reason).toBe('NOT_PKCS12');
    expect(importError(p12.subarray(0, p12.length - 100), PASS).reason).toBe('NOT_PKCS12');
  });
});
