/**
 * Recovery, end to end through the CLI commands: box A builds a CTL and exports its SASTs;
 * box B (a fresh state directory) imports them, makes its own appliance certificate and
 * builds a new CTL; a phone holding A's CTL accepts B's. Without the import it refuses.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseCtl } from '../../ctl';
import { run as ctl } from '../../src/commands/ctl';
import { run as sast } from '../../src/commands/sast';
import { run as sign } from '../../src/commands/sign';
import { captureIo, writePolicy } from './helpers';

let work: string;
let policy: string;
const PASS = 'recovery passphrase 1';
const at = (...p: string[]) => path.join(work, ...p);

/** Every file under dir with its bytes, to prove a failed import changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = readFileSync(p, 'hex');
    }
  };
  walk(dir);
  return out;
}

async function cli(command: typeof ctl, args: string[], stdin = '', env: NodeJS.ProcessEnv = {}) {
  const io = captureIo(stdin, env);
  const code = await command(args, io);
  return { code, out: io.out(), err: io.err() };
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'recovery-'));
  writePolicy(work);
  policy = at('policy.yaml');
  writeFileSync(at('pass.txt'), `${PASS}\n`);
  // Box A: first CTL, then SAST export (passphrase from a file).
  expect((await cli(ctl, ['build', '--policy', policy, '--state', at('A'), '--out', at('A.tlv')])).code).toBe(0);
  const exp = await cli(sast, [
    'export',
    '--state',
    at('A'),
    '--out',
    at('A-sast.p12'),
    '--passphrase-file',
    at('pass.txt'),
  ]);
  expect(exp).toMatchObject({ code: 0 });
  expect(exp.out).toMatch(/_internal_ctl_SAST_0, _internal_ctl_SAST_1/);
  expect(statSync(at('A-sast.p12')).mode & 0o777).toBe(0o600);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('replacing a box', () => {
  test("B imports A's SASTs and its new CTL is accepted by phones holding A's", async () => {
    const imp = await cli(
      sast,
      ['import', at('A-sast.p12'), '--state', at('B'), '--policy', policy, '--ctl', at('A.tlv')],
      `${PASS}\n`,
    );
    expect(imp).toMatchObject({ code: 0, err: '' });
    expect(statSync(at('B', 'sast', '_internal_ctl_SAST_0.key.pem')).mode & 0o777).toBe(0o600);
    expect((await cli(ctl, ['build', '--policy', policy, '--state', at('B'), '--out', at('B.tlv')])).code).toBe(0);

    const a = parseCtl(readFileSync(at('A.tlv')));
    const b = parseCtl(readFileSync(at('B.tlv')));
    // B made its own appliance certificate but signs with A's SAST 0.
    expect(b.records.find((r) => r.function === 'cucm-tftp')?.serial).not.toEqual(
      a.records.find((r) => r.function === 'cucm-tftp')?.serial,
    );
    expect(b.header.serial).toEqual(a.header.serial);

    const verdict = await cli(ctl, ['accept', '--installed', at('A.tlv'), '--new', at('B.tlv')]);
    expect(verdict.code).toBe(0);
    expect(verdict.out).toMatch(/^ACCEPT: signed by installed SAST CN=_internal_ctl_SAST_0/);
  });

  test("without the import, the phone refuses the new box's CTL", async () => {
    expect((await cli(ctl, ['build', '--policy', policy, '--state', at('C'), '--out', at('C.tlv')])).code).toBe(0);
    const verdict = await cli(ctl, ['accept', '--installed', at('A.tlv'), '--new', at('C.tlv')]);
    expect(verdict.code).toBe(1);
    expect(verdict.out).toMatch(
      /^REFUSE: new CTL is signed by CN=_internal_ctl_SAST_0;OU=SAST;O=phone-proxy \(serial [0-9a-f]+\), which is not a SAST in the installed CTL/,
    );
  });
});

describe('bad imports are clear errors and change nothing', () => {
  let before: Record<string, string>;
  beforeAll(async () => {
    // D is a running box with its own state: a failed import must leave it intact.
    expect((await cli(ctl, ['build', '--policy', policy, '--state', at('D'), '--out', at('D.tlv')])).code).toBe(0);
    before = snapshot(at('D'));
  });
  afterEach(() => expect(snapshot(at('D'))).toEqual(before));

  const importInto = (args: string[], stdin = PASS, env: NodeJS.ProcessEnv = {}) =>
    cli(sast, ['import', ...args, '--state', at('D'), '--policy', policy], stdin, env);

  test('wrong passphrase', async () => {
    const r = await importInto([at('A-sast.p12'), '--passphrase-env', 'P12_PASS'], '', { P12_PASS: 'wrong one' });
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `phone-proxy sast: EPX_SAST_IMPORT ${at('A-sast.p12')}: wrong passphrase (the PKCS#12 integrity MAC does not verify)\n`,
    );
  });

  test('a file without keys', async () => {
    // A PKCS#12 of certificates only, as `openssl pkcs12 -export -nokeys` writes.
    const { execFileSync } = await import('node:child_process');
    execFileSync(
      'openssl',
      [
        'pkcs12',
        '-export',
        '-nokeys',
        '-in',
        at('D', 'certs', 'pp-server.crt.pem'),
        '-passout',
        `pass:${PASS}`,
        '-out',
        at('nokeys.p12'),
      ],
      { stdio: 'pipe' },
    );
    const r = await importInto([at('nokeys.p12')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nokeys\.p12: the PKCS#12 file holds no private key/);
  });

  test('keys that match no SAST record of the installed CTL', async () => {
    const r = await importInto([at('A-sast.p12'), '--ctl', at('C.tlv')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/A-sast\.p12: _internal_ctl_SAST_0 does not match any SAST record of .*C\.tlv/);
  });

  test('keys of another CTL instance name', async () => {
    const other = writePolicy(
      work,
      (p) => {
        p['ctl-file'].name = 'branch';
      },
      'branch.yaml',
    );
    const r = await cli(sast, ['import', at('A-sast.p12'), '--state', at('D'), '--policy', other.file], PASS);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /_internal_ctl_SAST_0 belongs to CTL instance "ctl", the policy's ctl-file is named "branch"/,
    );
  });

  test('not a PKCS#12 file, and an empty passphrase', async () => {
    expect((await importInto([at('A.tlv')])).err).toMatch(/A\.tlv: not a PKCS#12 file/);
    expect((await importInto([at('A-sast.p12')], '\n')).err).toMatch(/the passphrase is empty/);
  });
});

describe('ctl show and sign at the CLI', () => {
  test('ctl show prints the records and exits 0 on a good CTL, 1 on a bad signature, 2 on garbage', async () => {
    const good = await cli(ctl, ['show', at('A.tlv')]);
    expect(good.code).toBe(0);
    expect(good.out).toMatch(/Record 1: SAST \(function 0\)/);
    expect(good.out).toMatch(/Record 3: CUCM-TFTP \(function 2\)\n {2}Subject: +CN=phone-proxy;O=phone-proxy/);
    expect(good.out).toMatch(/IP address: +127\.0\.1\.1/);
    expect(good.out).toMatch(/Signature: OK/);
    const bytes = readFileSync(at('A.tlv'));
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0x10;
    writeFileSync(at('bad.tlv'), bytes);
    const bad = await cli(ctl, ['show', at('bad.tlv')]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/Signature: FAILED, signature does not verify/);
    const garbage = await cli(ctl, ['show', policy]);
    expect(garbage.code).toBe(2);
    expect(garbage.err).toMatch(/^phone-proxy ctl: EPX_CTL_TLV .*policy\.yaml: not a valid CTL file: offset 0/);
  });

  test('sign writes FILE.sgn that verifies against the CTL, and a changed byte does not', async () => {
    writeFileSync(at('SEP001122334455.cnf.xml'), '<device><loadInformation>x</loadInformation></device>');
    const s = await cli(sign, [
      at('SEP001122334455.cnf.xml'),
      '--state',
      at('A'),
      '--policy',
      policy,
      '--digest',
      'sha512',
    ]);
    expect(s).toMatchObject({ code: 0, err: '' });
    const ok = await cli(sign, ['--verify', at('SEP001122334455.cnf.xml.sgn'), '--ctl', at('A.tlv')]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/OK, signature verified \(SHA512, RSA 2048\)/);
    // B's CTL names another appliance certificate: A's signature is not trusted there.
    expect((await cli(sign, ['--verify', at('SEP001122334455.cnf.xml.sgn'), '--ctl', at('B.tlv')])).code).toBe(1);
    const sgn = readFileSync(at('SEP001122334455.cnf.xml.sgn'));
    sgn[sgn.length - 5] = (sgn[sgn.length - 5] as number) ^ 1;
    writeFileSync(at('tampered.sgn'), sgn);
    const bad = await cli(sign, ['--verify', at('tampered.sgn'), '--state', at('A')]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/FAILED, signature does not verify/);
    expect((await cli(sign, [at('x.xml'), '--digest', 'md5'])).err).toMatch(
      /--digest md5: must be one of sha1, sha512/,
    );
    const sha256 = await cli(sign, [
      at('SEP001122334455.cnf.xml'),
      '--state',
      at('A'),
      '--policy',
      policy,
      '--digest',
      'sha256',
      '--out',
      at('no.sgn'),
    ]);
    expect(sha256.code).toBe(2);
    expect(sha256.err).toMatch(
      /^phone-proxy sign: EPX_COMMAND_INPUT --digest sha256: must be one of sha1, sha512; digest sha256 cannot be carried by a Cisco signed file/,
    );
    expect(existsSync(at('no.sgn'))).toBe(false);
  });

  test('sast export refuses short passphrases and never takes one from argv', async () => {
    expect((await cli(sast, ['export', '--state', at('A'), '--out', at('x.p12')], 'short')).err).toMatch(
      /at least 8 characters/,
    );
    const r = await cli(sast, ['export', '--state', at('A'), '--out', at('x.p12'), '--passphrase', 'in-argv']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Unknown option '--passphrase'/);
  });
});
