import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CnfParseError } from '../../src/errors';
import { rewriteCnf } from '../../src/tftp/cnf-rewrite';

const fixture = (name: string) => readFileSync(path.join(__dirname, '../fixtures/tftp', name), 'latin1');
const opts = { applianceAddress: '198.51.100.1', sipTlsPort: 15061, sccpTlsPort: 12443, disableServiceSettings: true };

/** Lines that differ between a and b (same line count required). */
function changedLines(a: string, b: string): { line: number; before: string; after: string }[] {
  const la = a.split('\n');
  const lb = b.split('\n');
  expect(lb.length).toBe(la.length);
  return la.flatMap((l, i) => (l === lb[i] ? [] : [{ line: i + 1, before: l, after: lb[i] as string }]));
}

describe('rewriteCnf', () => {
  test('SIP fixture: encrypted mode, appliance address and TLS port, service settings off, rest byte-identical', () => {
    const src = fixture('SEP58971ECC97C1.cnf.xml');
    // SRST and TVS kept here: their rules have their own tests below.
    const r = rewriteCnf(src, { ...opts, srst: 'keep', tvs: 'keep' });
    expect(r.deviceSecurityMode).toBe('nonsecure');
    expect(r.forcedMode).toBe('encrypted');
    expect(r.protocol).toBe('sip');
    expect(r.xml).toContain('<deviceSecurityMode>3</deviceSecurityMode>');
    expect(r.xml).toContain('<processNodeName>198.51.100.1</processNodeName>');
    expect(r.xml).toContain('<securedSipPort>15061</securedSipPort>');
    const diff = changedLines(src, r.xml);
    const tags = diff.map((d) => /<(\w+)>/.exec(d.after)?.[1]).sort();
    expect(tags).toEqual([
      'deviceSecurityMode',
      'garp',
      'pcPort',
      'processNodeName',
      'securedSipPort',
      'transportLayerProtocol',
      'voiceVlanAccess',
      'webAccess',
    ]);
    for (const d of diff) expect(d.before.replace(/>[^<]*</, '><')).toBe(d.after.replace(/>[^<]*</, '><'));
    // TVS address and URLs stay as UCM wrote them.
    expect(r.xml).toContain('<address>192.0.2.10</address>');
    expect(r.xml).toContain('<servicesURL>http://192.0.2.10:6972/services</servicesURL>');
    expect(r.changes).toContain('deviceSecurityMode 1 -> 3 (line 268)');
  });

  test('SCCP fixture: ethernetPhonePort = SCCP TLS port - 443, transport forced to TLS', () => {
    const src = fixture('SEP000000000797.cnf.xml');
    const r = rewriteCnf(src, { ...opts, srst: 'keep', tvs: 'keep' });
    expect(r.protocol).toBe('sccp');
    expect(r.xml).toContain('<ethernetPhonePort>12000</ethernetPhonePort>');
    expect(r.xml).toContain('<transportLayerProtocol>3</transportLayerProtocol>');
    expect(r.xml).toContain('<processNodeName>198.51.100.1</processNodeName>');
    const diff = changedLines(src, r.xml);
    expect(diff.map((d) => /<(\w+)>/.exec(d.after)?.[1]).sort()).toEqual(
      [
        'deviceSecurityMode',
        'ethernetPhonePort',
        'pcPort',
        'processNodeName',
        'spanToPCPort',
        'transportLayerProtocol',
        'webAccess',
      ].sort(),
    );
  });

  test('preserve-net-config keeps service settings; proxy server inserted', () => {
    const src = fixture('SEP000000007960.cnf.xml');
    const r = rewriteCnf(src, { ...opts, disableServiceSettings: false, proxyServer: '198.51.100.9:3128' });
    expect(r.xml).toContain('<pcPort>0</pcPort>');
    expect(r.xml).toContain('<proxyServerURL>198.51.100.9:3128</proxyServerURL>');
    expect(r.xml).not.toContain('<proxyServerURL/>');
  });

  test('CUCM quirks: undeclared xsi/axl prefixes, FQDN node names, transport 4, self-closing values, CRLF', () => {
    const src =
      '<?xml version="1.0" encoding="UTF-8"?>\r\n<device xsi:type="axl:XIPPhone" ctiid="94" uuid="{AB}">\r\n' +
      '<fullConfig>true</fullConfig>\r\n<deviceProtocol>SIP</deviceProtocol>\r\n<devicePool uuid="{1}"><callManagerGroup><members>' +
      '<member priority="0"><callManager><name>cm1.example.com</name><ports><sipPort>5060</sipPort><securedSipPort>5061</securedSipPort>' +
      '</ports><processNodeName>cm1.example.com</processNodeName></callManager></member>' +
      '<member priority="1"><callManager><ports><sipPort>5060</sipPort></ports><processNodeName/></callManager></member>' +
      '</members></callManagerGroup></devicePool>\r\n<loadInformation>sip78xx.14-1-1</loadInformation>\r\n' +
      '<vendorConfig><loadServer>10.1.1.1</loadServer><garp>0</garp></vendorConfig>\r\n' +
      '<deviceSecurityMode>2</deviceSecurityMode>\r\n<transportLayerProtocol>4</transportLayerProtocol>\r\n' +
      '<directoryURL>http://cucm.example.com:8080/ccmcip/xmldirectory.jsp?a=1&amp;b=2</directoryURL>\r\n</device>\r\n';
    const r = rewriteCnf(src, opts);
    expect(r.deviceSecurityMode).toBe('authenticated');
    expect(
      r.xml.startsWith(
        '<?xml version="1.0" encoding="UTF-8"?>\r\n<device xsi:type="axl:XIPPhone" ctiid="94" uuid="{AB}">',
      ),
    ).toBe(true);
    expect(r.xml).toContain('<name>cm1.example.com</name>');
    expect(r.xml).toContain('<processNodeName>198.51.100.1</processNodeName></callManager></member><member');
    expect(r.xml).toContain(
      '<ports><sipPort>5060</sipPort><securedSipPort>15061</securedSipPort></ports><processNodeName>198.51.100.1</processNodeName>',
    );
    expect(r.xml).toContain('<transportLayerProtocol>3</transportLayerProtocol>');
    expect(r.xml).toContain('<loadServer>198.51.100.1</loadServer>');
    expect(r.xml).toContain('xmldirectory.jsp?a=1&amp;b=2');
  });

  test("missing deviceSecurityMode / transportLayerProtocol are inserted with the file's indentation", () => {
    const src = '<device>\n  <deviceProtocol>SIP</deviceProtocol>\n  <fullConfig>true</fullConfig>\n</device>\n';
    const r = rewriteCnf(src, opts);
    expect(r.xml).toBe(
      '<device>\n  <deviceProtocol>SIP</deviceProtocol>\n  <fullConfig>true</fullConfig>\n' +
        '  <deviceSecurityMode>3</deviceSecurityMode>\n  <transportLayerProtocol>3</transportLayerProtocol>\n</device>\n',
    );
    const withMode =
      '<device>\n  <deviceProtocol>SIP</deviceProtocol>\n  <deviceSecurityMode>1</deviceSecurityMode>\n</device>';
    expect(rewriteCnf(withMode, opts).xml).toBe(
      '<device>\n  <deviceProtocol>SIP</deviceProtocol>\n  <deviceSecurityMode>3</deviceSecurityMode>\n  <transportLayerProtocol>3</transportLayerProtocol>\n</device>',
    );
  });

  test('CIPC gets authenticated mode only when the policy says so', () => {
    const src =
      '<device><deviceProtocol>SCCP</deviceProtocol><loadInformation>CIPC-8-6-5-0</loadInformation><deviceSecurityMode>1</deviceSecurityMode></device>';
    expect(rewriteCnf(src, { ...opts, cipcAuthenticated: true }).xml).toContain(
      '<deviceSecurityMode>2</deviceSecurityMode>',
    );
    expect(rewriteCnf(src, opts).xml).toContain('<deviceSecurityMode>3</deviceSecurityMode>');
  });

  test.each([
    ['<device><a></b></device>', 1, 12, 'does not match'],
    ['<device>\n  <deviceSecurityMode>1</deviceSecurityMode>\n', 1, 1, 'not closed'],
    ['<device a=1></device>', 1, 11, 'not quoted'],
    ['<device>&bogus</device>', 1, 9, 'entity'],
    ['<!DOCTYPE x [<!ENTITY a "b">]><device/>', 1, 1, 'DOCTYPE'],
    ['<Default><x/></Default>', 1, 1, 'expected <device>'],
    ['<device>\n<encrConfig>true</encrConfig></device>', 2, 1, 'encrConfig'],
    ['<device><deviceSecurityMode>7</deviceSecurityMode></device>', 1, 29, 'unexpected value'],
    ['<device></device><device></device>', 1, 18, 'second root'],
  ])('malformed %j -> CnfParseError at %i:%i', (src, line, column, words) => {
    let err: unknown;
    try {
      rewriteCnf(src, opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CnfParseError);
    expect((err as CnfParseError).line).toBe(line);
    expect((err as CnfParseError).column).toBe(column);
    expect((err as CnfParseError).message).toContain(words);
  });

  test('non-ASCII bytes outside the edits survive a latin1 round trip', () => {
    const bytes = Buffer.concat([
      Buffer.from('<device><userLocale><name>'),
      Buffer.from('Fran\u00e7ais \u65e5\u672c', 'utf8'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('</name></userLocale><deviceSecurityMode>1</deviceSecurityMode></device>'),
    ]);
    const out = Buffer.from(rewriteCnf(bytes.toString('latin1'), opts).xml, 'latin1');
    expect(out.subarray(0, out.indexOf('<deviceSecurityMode>'))).toEqual(
      bytes.subarray(0, bytes.indexOf('<deviceSecurityMode>')),
    );
  });
});

/** The text of every <name> element under `parent` (first occurrence of parent), in order. */
function values(xml: string, parent: string, name: string): string[] {
  const block = new RegExp(`<${parent}[ >][\\s\\S]*?</${parent}>`).exec(xml)?.[0] ?? '';
  return [...block.matchAll(new RegExp(`<${name}>([^<]*)</${name}>`, 'g'))].map((m) => m[1] as string);
}

describe('rewriteCnf for remote phones (issue 13): what a phone outside must not see', () => {
  const SIP = 'SEP00562B0C1A2F.cnf.xml';
  const SCCP = 'SEP0024C4E1B2D3.cnf.xml';
  const members = [
    { match: ['10.10.20.11', 'cucm-sub1'], address: '203.0.113.11' },
    { match: ['10.10.20.12', 'cucm-sub2'], address: '203.0.113.12' },
  ];

  test.each([SIP, SCCP])('%s: by default SRST is disabled with every address slot emptied', (file) => {
    const src = fixture(file);
    expect(values(src, 'srstInfo', 'ipAddr1')).toEqual(['10.20.30.1']);
    const r = rewriteCnf(src, opts);
    const srst = /<srstInfo[\s\S]*?<\/srstInfo>/.exec(r.xml)?.[0] ?? '';
    expect(srst).toContain('<srstOption>Disable</srstOption>');
    expect(srst).not.toMatch(/10\.20\.30\./);
    for (const slot of ['ipAddr1', 'ipAddr2', 'ipAddr3', 'sipIpAddr1', 'sipIpAddr2', 'sipIpAddr3'])
      expect(values(r.xml, 'srstInfo', slot)).toEqual(['']);
    // Ports and the rest of srstInfo stay as UCM wrote them.
    expect(values(r.xml, 'srstInfo', 'port1')).toEqual(['2000']);
    expect(values(r.xml, 'srstInfo', 'name')).toEqual(['SRST-Branch1']);
    const line = src.split('\n').indexOf('<srstOption>User Specific</srstOption>') + 1;
    expect(r.changes).toContain(`srstInfo/srstOption User Specific -> Disable (line ${line})`);
  });

  test('srst keep: srstInfo byte for byte', () => {
    const src = fixture(SIP);
    const block = (x: string) => /<srstInfo[\s\S]*?<\/srstInfo>/.exec(x)?.[0];
    expect(block(rewriteCnf(src, { ...opts, srst: 'keep' }).xml)).toBe(block(src));
  });

  test('srst at an outside address: first slot of each protocol, the others emptied (SCCP had two routers)', () => {
    const r = rewriteCnf(fixture(SCCP), { ...opts, srst: { address: '198.51.100.30' } });
    expect(values(r.xml, 'srstInfo', 'srstOption')).toEqual(['User Specific']);
    expect(values(r.xml, 'srstInfo', 'ipAddr1')).toEqual(['198.51.100.30']);
    expect(values(r.xml, 'srstInfo', 'ipAddr2')).toEqual(['']);
    expect(values(r.xml, 'srstInfo', 'sipIpAddr1')).toEqual(['198.51.100.30']);
  });

  test.each([SIP, SCCP])('%s: by default every TVS member is removed, no blank lines left', (file) => {
    const src = fixture(file);
    const r = rewriteCnf(src, opts);
    expect(r.xml).toContain('<TVS>\n<members>\n</members>\n</TVS>');
    expect(r.xml).not.toContain('2445');
    expect(r.xml).not.toMatch(/\n\s*\n/);
    expect(r.changes.filter((c) => c.startsWith('TVS/member removed'))).toHaveLength(file === SIP ? 2 : 1);
    // The result is still a document the scanner (and so the phone) reads.
    expect(() => rewriteCnf(r.xml, opts)).not.toThrow();
  });

  test('tvs at an outside address: the first member rewritten, the second removed', () => {
    const r = rewriteCnf(fixture(SIP), { ...opts, tvs: { address: '198.51.100.40', port: 12445 } });
    const tvs = /<TVS>[\s\S]*?<\/TVS>/.exec(r.xml)?.[0];
    expect(tvs).toBe(
      '<TVS>\n<members>\n<member  priority="0">\n<port>12445</port>\n<address>198.51.100.40</address>\n</member>\n</members>\n</TVS>',
    );
  });

  test('tvs keep: TVS byte for byte', () => {
    const src = fixture(SIP);
    const block = (x: string) => /<TVS>[\s\S]*?<\/TVS>/.exec(x)?.[0];
    expect(block(rewriteCnf(src, { ...opts, tvs: 'keep' }).xml)).toBe(block(src));
  });

  test('service URLs are left as UCM wrote them unless a policy prefix maps them', () => {
    const src = fixture(SCCP);
    const urls = (x: string) => [...x.matchAll(/<(\w*URL)>([^<]*)</g)].map((m) => `${m[1]}=${m[2]}`);
    expect(urls(rewriteCnf(src, opts).xml)).toEqual(urls(src));
    const r = rewriteCnf(src, {
      ...opts,
      serviceUrls: [
        // Not a boundary of http://10.10.20.30/...: must not touch idleURL.
        { from: 'http://10.10.20.3', to: 'http://wrong.example' },
        { from: 'http://cucm-pub.corp.example:8080/', to: 'https://phones.example.net/cucm/' },
      ],
    });
    expect(urls(r.xml)).toEqual([
      'authenticationURL=https://phones.example.net/cucm/ccmcip/authenticate.jsp',
      'directoryURL=https://phones.example.net/cucm/ccmcip/xmldirectory.jsp',
      'idleURL=http://10.10.20.30/idle/clock.xml',
      'informationURL=https://phones.example.net/cucm/ccmcip/GetTelecasterHelpText.jsp',
      'messagesURL=',
      'proxyServerURL=',
      'servicesURL=https://phones.example.net/cucm/ccmcip/getservicesmenu.jsp',
    ]);
  });

  test("a mapped host at a boundary: the SIP file's secure URLs map by host and port", () => {
    const r = rewriteCnf(fixture(SIP), {
      ...opts,
      serviceUrls: [{ from: 'https://cucm-pub.corp.example:8443', to: 'https://phones.example.net' }],
    });
    expect(values(r.xml, 'device', 'secureServicesURL')).toEqual([
      'https://phones.example.net/ccmcip/getservicesmenu.jsp',
    ]);
    expect(values(r.xml, 'device', 'servicesURL')).toEqual([
      'http://cucm-pub.corp.example:8080/ccmcip/getservicesmenu.jsp',
    ]);
  });

  test.each([SIP, SCCP])(
    '%s: each UCM member gets its own appliance address, failover order kept (by address or by name)',
    (file) => {
      const r = rewriteCnf(fixture(file), { ...opts, members });
      expect(values(r.xml, 'callManagerGroup', 'processNodeName')).toEqual(['203.0.113.11', '203.0.113.12']);
    },
  );

  test('an unmapped member falls back to the address the phone reached', () => {
    const first = members[0] as (typeof members)[number];
    const r = rewriteCnf(fixture(SIP), { ...opts, members: [first] });
    expect(values(r.xml, 'callManagerGroup', 'processNodeName')).toEqual(['203.0.113.11', '198.51.100.1']);
    // The CAPF entry is not a call manager: untouched (docs/cnf-xml.md §4 item 10).
    expect(values(r.xml, 'capfList', 'processNodeName')).toEqual(['10.10.20.10']);
  });
});
