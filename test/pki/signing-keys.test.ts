/**
 * Keys that sign CTL and .sgn files must have a size the signed header's SIGNATURE_MODULUS
 * names (512, 1024, 2048, 4096): an RSA 3072 TFTP key used to pass `check` and the start, then
 * every .sgn failed (issue 13). Refused wherever such a key enters: policy, state, CLI, SAST import.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportSast, importSast, SastImportError, signFile } from '../../ctl';
import { main } from '../../src/cli';
import { loadPolicy } from '../../src/config/load-policy';
import { PolicyError, StateError } from '../../src/errors';
import { tftpSigner } from '../../src/pki/ctl-instance';
import { openState } from '../../src/pki/state';
import { credential, type TestCredential } from '../ctl/helpers';
import { captureIo, writePolicy } from './helpers';

let work: string;
let big: TestCredential;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'signkeys-'));
  big = await credential('CN=ucm-tftp,O=Example', 3072);
  writeFileSync(path.join(work, 'tftp3072.pem'), big.certPem);
  writeFileSync(path.join(work, 'tftp3072.key'), big.keyPem);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The default policy with an imported RSA 3072 trustpoint as the tftp record. */
function policyWithImported3072(name = 'imported.yaml'): string {
  writePolicy(
    work,
    (p) => {
      p.trustpoints.push({ name: 'ucm-tftp', certificate: 'tftp3072.pem', key: 'tftp3072.key' });
      p['ctl-file'].records.push({ function: 'tftp', trustpoint: 'ucm-tftp', address: '127.0.1.1' });
    },
    name,
  );
  return path.join(work, name);
}

const WHY =
  /trustpoint "ucm-tftp" \(ctl-file tftp record\) cannot sign configuration files: its key is RSA 3072-bit; the signed header \(SIGNATURE_MODULUS\) only describes 512, 1024, 2048 and 4096-bit keys/;

test('check refuses an imported RSA 3072 TFTP certificate, naming the trustpoint and the size', async () => {
  const io = captureIo();
  expect(await main(['check', '--policy', policyWithImported3072()], io)).toBe(1);
  expect(io.err()).toMatch(WHY);
  expect(io.err()).toContain('tftp3072.pem');
  expect(io.out()).not.toContain('OK');
});

test('check refuses a generated RSA 3072 TFTP trustpoint', async () => {
  try {
    writePolicy(work, (p) => (p.trustpoints[0]['key-size'] = 3072), 'gen3072.yaml');
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err; // written, then refused: the CLI is what is tested
  }
  const io = captureIo();
  expect(await main(['check', '--policy', path.join(work, 'gen3072.yaml')], io)).toBe(1);
  expect(io.err()).toMatch(
    /trustpoints\[0\]\.key-size: trustpoint "pp-server" signs configuration files .* key-size 3072/,
  );
});

test('opening the state refuses it before anything is generated, and tftpSigner refuses it too', async () => {
  const file = policyWithImported3072('state.yaml');
  const loaded = loadPolicy(file);
  await expect(openState(path.join(work, 'var-refused'), loaded)).rejects.toThrow(WHY);
  // A state assembled some other way (or an older appliance's) still cannot hand it out for signing.
  const ok = await openState(
    path.join(work, 'var-ok'),
    writePolicy(work, () => {}, 'plain.yaml'),
  );
  ok.trustpoints.set('ucm-tftp', { name: 'ucm-tftp', certPem: big.certPem, keyPem: big.keyPem, cert: big.cert });
  expect(() => tftpSigner(loaded, ok)).toThrow(StateError);
  expect(() => tftpSigner(loaded, ok)).toThrow(WHY);
});

test('the library names the signer and the size', () => {
  expect(() => signFile(Buffer.from('x'), 'a.cnf.xml', big)).toThrow(
    /signer CN=ucm-tftp;O=Example cannot sign: RSA 3072-bit; the signed header .* 4096-bit keys/,
  );
});

test('a SAST PKCS#12 with an RSA 3072 key is refused at import', () => {
  const p12 = exportSast([{ name: '_internal_ctl_SAST_0', certPem: big.certPem, keyPem: big.keyPem }], 'passphrase!');
  let err: unknown;
  try {
    importSast(p12, 'passphrase!');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SastImportError);
  expect(err).toMatchObject({ reason: 'UNSIGNABLE_KEY', code: 'EPX_SAST_IMPORT' });
  expect((err as Error).message).toMatch(/^_internal_ctl_SAST_0: cannot sign a CTL: the key is RSA 3072-bit/);
});
