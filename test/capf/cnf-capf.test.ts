/**
 * With the CAPF relay on (listen.capf), a phone's configuration points its CAPF (capfList) at
 * the relay: the address the phone reached (public behind a NAT) and the relay's port. Without
 * it, capfList stays as UCM wrote it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { rewriteCnf } from '../../src/tftp/cnf-rewrite';

const FIXTURES = path.resolve(__dirname, '../fixtures/tftp');
const opts = { applianceAddress: '198.51.100.1', sipTlsPort: 5061, sccpTlsPort: 2443, disableServiceSettings: true };
const capfOf = (xml: string) => /<capfList>[\s\S]*?<\/capfList>/.exec(xml)?.[0] ?? '';

test.each(['SEP0024C4E1B2D3.cnf.xml', 'SEP58971ECC97C1.cnf.xml'])('%s: capfList names the relay', (file) => {
  const xml = readFileSync(path.join(FIXTURES, file), 'latin1');
  const r = rewriteCnf(xml, { ...opts, capf: { address: '203.0.113.10', port: 13804 } });
  expect(capfOf(r.xml)).toMatch(/<phonePort>13804<\/phonePort>\s*<processNodeName>203\.0\.113\.10<\/processNodeName>/);
  expect(r.changes).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^capfList\/capf\/processNodeName .* -> 203\.0\.113\.10/),
      expect.stringMatching(/^capfList\/capf\/phonePort 3804 -> 13804/),
    ]),
  );
  // Nothing else of the CAPF settings moves.
  expect(r.xml.match(/<capfAuthMode>[^<]*<\/capfAuthMode>/)?.[0]).toBe(
    xml.match(/<capfAuthMode>[^<]*<\/capfAuthMode>/)?.[0],
  );
  const off = rewriteCnf(xml, opts);
  expect(capfOf(off.xml)).toBe(capfOf(xml));
});
