/** The state directory: generation, permissions, reuse, and clear errors for bad files. */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run as ctlCommand } from '../../src/commands/ctl';
import type { ApplianceState } from '../../src/contracts/state';
import { StateError } from '../../src/errors';
import { openState, stateLayout } from '../../src/pki/state';
import { createCertificate, generateRsaKey } from '../../src/pki/x509';
import { captureIo, writePolicy } from './helpers';

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'state-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const mode = (file: string) => statSync(file).mode & 0o777;

async function stateError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StateError);
    return (err as Error).message;
  }
  throw new Error('openState succeeded');
}

describe('fresh state directory', () => {
  let dir: string;
  let first: ApplianceState;
  const policy = () => writePolicy(work);

  beforeAll(async () => {
    dir = path.join(work, 'fresh', 'var');
    first = await openState(dir, policy());
  });

  test('is created 0700 with keys 0600', () => {
    const l = stateLayout(dir);
    expect(mode(dir)).toBe(0o700);
    for (const sub of ['keys', 'certs', 'sast', 'ldc']) expect(mode(path.join(dir, sub))).toBe(0o700);
    for (const f of [
      l.key('pp-server'),
      l.key('ldc-issuer'),
      l.sastKey('_internal_ctl_SAST_0'),
      l.sastKey('_internal_ctl_SAST_1'),
      l.ldcKey,
    ]) {
      expect(mode(f)).toBe(0o600);
    }
    expect(mode(l.cert('pp-server'))).toBe(0o644);
  });

  test('holds what the policy asks for', () => {
    expect(first.sast.map((s) => s.name)).toEqual(['_internal_ctl_SAST_0', '_internal_ctl_SAST_1']);
    const server = first.trustpoints.get('pp-server');
    expect(server?.cert.subject).toBe('CN=phone-proxy\nO=phone-proxy');
    expect(server?.cert.checkPrivateKey(createPrivateKey(server?.keyPem ?? ''))).toBe(true);
    expect(server?.cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(first.ldcIssuer?.cert.ca).toBe(true);
    expect(first.ldcKeyPem).toMatch(/BEGIN PRIVATE KEY/);
    for (const s of first.sast) expect(s.cert.verify(s.cert.publicKey)).toBe(true);
  });

  test('a second open reuses every key', async () => {
    const again = await openState(dir, policy());
    expect(again.trustpoints.get('pp-server')?.keyPem).toBe(first.trustpoints.get('pp-server')?.keyPem);
    expect(again.trustpoints.get('ldc-issuer')?.certPem).toBe(first.trustpoints.get('ldc-issuer')?.certPem);
    expect(again.sast.map((s) => s.certPem)).toEqual(first.sast.map((s) => s.certPem));
    expect(again.ldcKeyPem).toBe(first.ldcKeyPem);
  });

  test('a larger sast-count adds SASTs and keeps the existing ones', async () => {
    const more = await openState(
      dir,
      writePolicy(
        work,
        (p) => {
          p['ctl-file']['sast-count'] = 3;
        },
        'three.yaml',
      ),
    );
    expect(more.sast).toHaveLength(3);
    expect(more.sast[0]?.certPem).toBe(first.sast[0]?.certPem);
  });
});

describe('broken state files', () => {
  let template: string;
  let dir: string;
  beforeAll(async () => {
    template = path.join(work, 'template');
    await openState(template, writePolicy(work));
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(work, 'broken-'));
    cpSync(template, dir, { recursive: true });
  });

  test('a corrupted key file is an error naming the file', async () => {
    const keyFile = stateLayout(dir).key('pp-server');
    writeFileSync(keyFile, '-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n');
    const msg = await stateError(openState(dir, writePolicy(work)));
    expect(msg).toContain(keyFile);
    expect(msg).toMatch(/not a valid private key/);
  });

  test('... and at the CLI it is one line on stderr, no stack trace', async () => {
    const keyFile = stateLayout(dir).sastKey('_internal_ctl_SAST_0');
    writeFileSync(keyFile, 'garbage');
    const io = captureIo();
    const code = await ctlCommand(
      ['build', '--policy', path.join(work, 'policy.yaml'), '--state', dir, '--out', path.join(dir, 'x.tlv')],
      io,
    );
    expect(code).not.toBe(0);
    expect(io.err().trim().split('\n')).toHaveLength(1);
    expect(io.err()).toContain(keyFile);
    expect(io.err()).not.toMatch(/\n\s+at /);
  });

  test('a key whose certificate was deleted is an error, not a silent new key', async () => {
    const l = stateLayout(dir);
    rmSync(l.sastCert('_internal_ctl_SAST_1'));
    const msg = await stateError(openState(dir, writePolicy(work)));
    expect(msg).toContain(l.sastKey('_internal_ctl_SAST_1'));
    expect(msg).toMatch(/is missing/);
  });

  test('a key that does not match its certificate is an error', async () => {
    const l = stateLayout(dir);
    writeFileSync(l.key('pp-server'), readFileSync(l.key('ldc-issuer')));
    const msg = await stateError(openState(dir, writePolicy(work)));
    expect(msg).toMatch(/pp-server\.key\.pem: the private key does not match certificate .*pp-server\.crt\.pem/);
  });
});

describe('imported trustpoints', () => {
  let ucmKey: string;
  let valid: string;
  let expired: string;
  beforeAll(async () => {
    ucmKey = await generateRsaKey(2048);
    valid = createCertificate({ subject: 'CN=cucm1.example.com', subjectKeyPem: ucmKey });
    expired = createCertificate({
      subject: 'CN=old-ucm',
      subjectKeyPem: ucmKey,
      now: new Date('2020-01-01'),
      days: 30,
    });
    writeFileSync(path.join(work, 'ucm.pem'), valid);
    writeFileSync(path.join(work, 'ucm.der'), new X509Certificate(valid).raw);
    writeFileSync(path.join(work, 'ucm.key'), ucmKey);
    writeFileSync(path.join(work, 'expired.pem'), expired);
    writeFileSync(path.join(work, 'garbage.pem'), 'this is not a certificate');
  });

  const withTrustpoint = (tp: Record<string, string>, name: string) =>
    writePolicy(work, (p) => p.trustpoints.push({ name: 'ucm', ...tp }), name);

  test('PEM and DER certificates load, with their key', async () => {
    const dir = mkdtempSync(path.join(work, 'imp-'));
    const pem = await openState(dir, withTrustpoint({ certificate: 'ucm.pem', key: 'ucm.key' }, 'imp-pem.yaml'));
    expect(pem.trustpoints.get('ucm')?.keyPem).toBe(ucmKey);
    const derState = await openState(dir, withTrustpoint({ certificate: 'ucm.der' }, 'imp-der.yaml'));
    expect(derState.trustpoints.get('ucm')?.certPem).toBe(new X509Certificate(valid).toString());
  });

  test.each([
    ['expired.pem', /expired\.pem: certificate CN=old-ucm expired on /],
    ['garbage.pem', /garbage\.pem: not a PEM or DER X\.509 certificate/],
    ['missing.pem', /missing\.pem: cannot read certificate \(ENOENT\)/],
  ])('%s is an error naming the file and the reason', async (file, reason) => {
    const dir = mkdtempSync(path.join(work, 'bad-'));
    const msg = await stateError(openState(dir, withTrustpoint({ certificate: file }, `bad-${file}.yaml`)));
    expect(msg).toContain(path.join(work, file));
    expect(msg).toMatch(reason);
  });

  test('a key that does not belong to the certificate', async () => {
    writeFileSync(path.join(work, 'other.key'), await generateRsaKey(2048));
    const dir = mkdtempSync(path.join(work, 'bad-'));
    const msg = await stateError(
      openState(dir, withTrustpoint({ certificate: 'ucm.pem', key: 'other.key' }, 'bad-key.yaml')),
    );
    expect(msg).toMatch(/other\.key: the private key does not match certificate .*ucm\.pem/);
  });
});
