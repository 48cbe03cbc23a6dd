/**
 * The lab phone's secure-boot checks refuse what a phone refuses: a CTL whose signature does not
 * verify, a configuration signed by anyone but the CTL's TFTP record or for another file, a
 * configuration that is not where a phone can register, and a TLS server outside the CTL.
 */
import { buildCtl, signFile } from '../../ctl';
import { cnfXml } from '../../lab/cnf-template';
import { BootError, checkConfig, checkCtl, checkServerCertificate } from '../../lab/secure-boot';
import { rewriteCnf } from '../../src/tftp/cnf-rewrite';
import { credential, type TestCredential } from '../ctl/helpers';

const T = 1_763_700_000;
const NAME = 'SEP00DE0A1AB001.cnf.xml';
let sast: TestCredential;
let server: TestCredential;
let stranger: TestCredential;
let ctl: Buffer;
let cnf: Buffer;

beforeAll(async () => {
  [sast, server, stranger] = await Promise.all([
    credential('CN=_internal_ctl_SAST_0,OU=SAST,O=lab'),
    credential('CN=phone-proxy,O=lab'),
    credential('CN=someone-else,O=evil'),
  ]);
  ctl = buildCtl({
    records: [
      { function: 'sast', certificate: sast.certPem },
      { function: 'cucm-tftp', certificate: server.certPem, ip: '127.0.1.1' },
    ],
    signer: sast,
    timestamp: T,
  });
  const plain = cnfXml({
    mac: '00DE0A1AB001',
    ucmAddress: '127.0.2.20',
    sipPort: 15060,
    sipTlsPort: 5061,
    tftpAddress: '127.0.2.20',
    line: '1000',
    displayName: 'Remote 1000',
  });
  // What the appliance serves: the UCM file rewritten by the TFTP interceptor's own rewriter.
  const rewritten = rewriteCnf(plain, {
    applianceAddress: '127.0.1.1',
    sipTlsPort: 15061,
    sccpTlsPort: 12443,
    disableServiceSettings: true,
  });
  expect(rewritten).toMatchObject({ deviceSecurityMode: 'nonsecure', forcedMode: 'encrypted', protocol: 'sip' });
  cnf = Buffer.from(rewritten.xml, 'latin1');
}, 30_000);

test('a CTL signed by its SAST and a configuration signed by its TFTP record are accepted', () => {
  const trust = checkCtl(ctl);
  expect(trust.records.map((r) => r.function)).toEqual(['sast', 'cucm-tftp']);
  const { config } = checkConfig(signFile(cnf, NAME, server), `${NAME}.sgn`, trust);
  expect(config).toEqual({
    processNodeName: '127.0.1.1',
    securedSipPort: 15061,
    deviceSecurityMode: '3',
    transportLayerProtocol: '3',
  });
  expect(checkServerCertificate(Buffer.from(server.cert.raw), trust)).toContain('CN=phone-proxy');
});

test('a CTL with any signed byte changed is refused', () => {
  // Bytes in the last record (its certificate): covered by the signature, not by the TLV framing.
  const bad = Buffer.from(ctl);
  const at = bad.length - 40;
  bad[at] = (bad[at] as number) ^ 0x01;
  expect(() => checkCtl(bad)).toThrow(BootError);
  expect(() => checkCtl(bad)).toThrow(/CTLFile\.tlv: signature not accepted/);
  expect(() => checkCtl(Buffer.from('not a CTL'))).toThrow(/CTLFile\.tlv: does not parse/);
});

test('a configuration signed by a key outside the CTL, changed after signing, or signed for another file is refused', () => {
  const trust = checkCtl(ctl);
  expect(() => checkConfig(signFile(cnf, NAME, stranger), `${NAME}.sgn`, trust)).toThrow(
    /SEP00DE0A1AB001\.cnf\.xml\.sgn: signature not accepted: signer CN=someone-else/,
  );
  const signed = signFile(cnf, NAME, server);
  const changed = Buffer.from(signed);
  const at = changed.indexOf('127.0.1.1');
  changed[at] = '9'.charCodeAt(0);
  expect(() => checkConfig(changed, `${NAME}.sgn`, trust)).toThrow(/signature not accepted/);
  expect(() => checkConfig(signFile(cnf, 'SEP000000000001.cnf.xml', server), `${NAME}.sgn`, trust)).toThrow(
    /signed for "SEP000000000001\.cnf\.xml"/,
  );
  const nowhere = Buffer.from('<device><deviceSecurityMode>3</deviceSecurityMode></device>');
  expect(() => checkConfig(signFile(nowhere, NAME, server), `${NAME}.sgn`, trust)).toThrow(
    /no callManager processNodeName\/securedSipPort/,
  );
});

test('a TLS server whose certificate is not the CTL record is refused', () => {
  const trust = checkCtl(ctl);
  expect(() => checkServerCertificate(Buffer.from(stranger.cert.raw), trust)).toThrow(
    /TLS: server certificate .*someone-else.* is not the CTL's CCM certificate/s,
  );
  expect(() => checkServerCertificate(undefined, trust)).toThrow(/presented no certificate/);
});
