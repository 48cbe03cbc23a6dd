/** LDC minting, the appliance CTL built from a policy, and import of a cluster's CTL. */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCtl, parseCtl, verifyCtl } from '../../ctl';
import type { ApplianceState } from '../../src/contracts/state';
import { StateError } from '../../src/errors';
import { buildApplianceCtl, tftpSigner } from '../../src/pki/ctl-instance';
import { mintLdc } from '../../src/pki/ldc';
import { openState } from '../../src/pki/state';
import { credential, type TestCredential } from '../ctl/helpers';
import { writePolicy } from './helpers';

let work: string;
let state: ApplianceState;
const stateDir = () => path.join(work, 'var');

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'ctlinst-'));
  state = await openState(stateDir(), writePolicy(work));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('mintLdc', () => {
  test('issues a certificate for the phone identity, signed by the LDC issuer, for the LDC key', () => {
    const { certPem, keyPem } = mintLdc(state, 'SEP001122334455');
    const cert = new X509Certificate(certPem);
    expect(cert.subject).toBe('CN=SEP001122334455');
    expect(cert.issuer).toBe(state.ldcIssuer?.cert.subject);
    expect(cert.verify(state.ldcIssuer?.cert.publicKey as never)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(keyPem).toBe(state.ldcKeyPem);
    // OpenSSL, as an independent peer, accepts the chain for TLS client use.
    writeFileSync(path.join(work, 'issuer.pem'), state.ldcIssuer?.certPem ?? '');
    writeFileSync(path.join(work, 'ldc.pem'), certPem);
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', 'issuer.pem', 'ldc.pem'], {
      cwd: work,
    }).toString();
    expect(out.trim()).toBe('ldc.pem: OK');
  });

  test('refuses without an LDC issuer and with a bad device name', () => {
    expect(() => mintLdc({ ...state, ldcIssuer: undefined }, 'SEP001122334455')).toThrow(StateError);
    expect(() => mintLdc(state, 'SEP 00/11')).toThrow(/not a device name/);
  });
});

describe('appliance CTL', () => {
  test('SAST records, then one record per address the phones use, signed by SAST 0', async () => {
    const loaded = writePolicy(
      work,
      (p) => {
        p.interfaces.push({ name: 'branch', address: '127.0.3.1/24', role: 'outside' });
        p['ctl-file'].records = [
          {
            function: 'cucm-tftp',
            trustpoint: 'pp-server',
            address: ['127.0.1.1', '127.0.3.1'],
            'domain-name': 'pp.example.com',
          },
          { function: 'capf', trustpoint: 'ldc-issuer' },
        ];
      },
      'multi.yaml',
    );
    const s = await openState(stateDir(), loaded);
    const ctl = parseCtl(buildApplianceCtl(loaded, s, 1_763_700_000));
    expect(verifyCtl(ctl).ok).toBe(true);
    expect(ctl.header.signerName).toBe('CN=_internal_ctl_SAST_0;OU=SAST;O=phone-proxy');
    expect(ctl.header.digest).toBe('sha1');
    expect(ctl.records.map((r) => [r.function, r.ip, r.dnsName])).toEqual([
      ['sast', undefined, undefined],
      ['sast', undefined, undefined],
      ['cucm-tftp', '127.0.1.1', 'pp.example.com'],
      ['cucm-tftp', '127.0.3.1', 'pp.example.com'],
      ['capf', undefined, undefined],
    ]);
    expect(ctl.records[2]?.certificate).toEqual(Buffer.from(s.trustpoints.get('pp-server')?.cert.raw ?? []));
  });

  test('digest from the policy', async () => {
    const loaded = writePolicy(
      work,
      (p) => {
        p['ctl-file'].digest = 'sha512';
      },
      'sha512.yaml',
    );
    const ctl = parseCtl(buildApplianceCtl(loaded, state));
    expect(ctl.header).toMatchObject({ digest: 'sha512', signerVersion: { major: 1, minor: 1 } });
    expect(verifyCtl(ctl).ok).toBe(true);
  });

  test('tftpSigner prefers the tftp record over cucm-tftp', async () => {
    expect(tftpSigner(writePolicy(work), state).name).toBe('pp-server');
    const loaded = writePolicy(
      work,
      (p) => {
        p.trustpoints.push({ name: 'tftp-only', enroll: 'self', subject: 'CN=tftp' });
        p['ctl-file'].records.push({ function: 'tftp', trustpoint: 'tftp-only', address: '127.0.1.1' });
      },
      'tftp.yaml',
    );
    const s = await openState(stateDir(), loaded);
    expect(tftpSigner(loaded, s).name).toBe('tftp-only');
  });
});

describe('existing cluster CTL import (mixed mode)', () => {
  let clusterSast: TestCredential;
  let cucm: TestCredential;
  let capf: TestCredential;
  beforeAll(async () => {
    [clusterSast, cucm, capf] = await Promise.all([
      credential('CN=SAST-ADN123,OU=IPCBU,O=Cisco Systems'),
      credential('CN=cucm1.example.com,OU=Voice,O=Example'),
      credential('CN=CAPF-abc,OU=Voice,O=Example'),
    ]);
    const cluster = buildCtl({
      records: [
        { function: 'sast', certificate: clusterSast.certPem },
        { function: 'cucm', certificate: cucm.certPem, ip: '203.0.113.5', dnsName: 'cucm1.example.com' },
        { function: 'capf', certificate: capf.certPem, ip: '203.0.113.5' },
      ],
      signer: clusterSast,
      timestamp: 1_700_000_000,
    });
    writeFileSync(path.join(work, 'cluster-ctl.tlv'), cluster);
    const tampered = Buffer.from(cluster);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
    writeFileSync(path.join(work, 'tampered-ctl.tlv'), tampered);
  });

  const importing = (file: string, carry: string[], name: string) =>
    writePolicy(
      work,
      (p) => {
        p['ctl-file'].import = { file, carry };
      },
      name,
    );

  test('its certificates become trust anchors and chosen records are carried', async () => {
    const loaded = importing('cluster-ctl.tlv', ['cucm'], 'import.yaml');
    const s = await openState(stateDir(), loaded);
    expect([...s.trustpoints.keys()]).toEqual(expect.arrayContaining(['ctl-import-cucm-1', 'ctl-import-capf-2']));
    expect(s.clientTrustAnchors).toContain(capf.cert.toString());
    const ctl = parseCtl(buildApplianceCtl(loaded, s));
    expect(verifyCtl(ctl).ok).toBe(true);
    const carried = ctl.records.filter((r) => r.function === 'cucm');
    expect(carried).toHaveLength(1);
    expect(carried[0]).toMatchObject({ subject: 'CN=cucm1.example.com;OU=Voice;O=Example', ip: '203.0.113.5' });
    expect(ctl.records.some((r) => r.function === 'capf')).toBe(false);
  });

  test('a CTL that does not verify is refused, naming the file', async () => {
    await expect(openState(stateDir(), importing('tampered-ctl.tlv', [], 'tampered.yaml'))).rejects.toThrow(
      /tampered-ctl\.tlv: CTL signature check failed/,
    );
    await expect(openState(stateDir(), importing('policy.yaml', [], 'notctl.yaml'))).rejects.toThrow(
      /policy\.yaml: not a valid CTL file \(offset 0/,
    );
  });
});
