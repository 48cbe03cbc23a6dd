/**
 * The TFTP interceptor between real peers: tftpd-hpa as the UCM TFTP server, the tftp-hpa and
 * atftp clients as phones, everything on 127.0.5x.x loopback addresses and free high ports.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { parseCtl, parseSignedFile, signFile, verifyCtl, verifySignedFile } from '../../ctl';
import type { LoadedPolicy } from '../../src/config/load-policy';
import type { ApplianceState } from '../../src/contracts/state';
import { ControlRegistry } from '../../src/control/registry';
import { openState } from '../../src/pki/state';
import { createCertificate, generateRsaKey } from '../../src/pki/x509';
import { Upstream } from '../../src/tftp/client';
import { rewriteCnf } from '../../src/tftp/cnf-rewrite';
import { decodeError } from '../../src/tftp/packet';
import { createTftpService, type TftpService } from '../../src/tftp/service';
import { serve, type TestContext } from '../support/serve';
import {
  ask,
  atftpGet,
  captureLogs,
  freeUdpPort,
  rawRequest,
  rrqPacket,
  spawnDist,
  startTftpd,
  stopAll,
  testPolicy,
  tftpHpaGet,
} from './peers';

const OUTSIDE = '127.0.51.1';
const INSIDE_TFTP = '127.0.52.20';
const SIP_MAC = '58971ECC97C1';
const SCCP_MAC = '000000000797';
const BAD_MAC = 'BAD000000001';
const FIRMWARE = 'SIP78xx.14-1-1-0001-136.loads';
const FIRMWARE_BYTES = 8 * 1024 * 1024 + 123;

const fixtures = path.join(__dirname, '../fixtures/tftp');
const RINGLIST = Buffer.from(
  '<CiscoIPPhoneRingList><Ring><DisplayName>Chirp</DisplayName></Ring></CiscoIPPhoneRingList>\n',
);
const TONES = Buffer.from('<tones country="NZ">\u00e9</tones>\n');
let ucmCert: string;
let work: string;
let upstreamDir: string;
let stateDir: string;
let tftpdPort: number;
let loaded: LoadedPolicy;
let state: ApplianceState;
let svc: TftpService;
let ctx: TestContext;
let port: number;
let logLines: Record<string, unknown>[];
let firmwareHash: string;
let smallFirmwareHash: string;
const SMALL_FIRMWARE = 'SCCP70.8-5-4S.sbn';

const local = (name: string) => path.join(work, 'out', name);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function policyFor(tftpPort: number, timeout = 5) {
  return testPolicy(
    (p) => {
      p.interfaces = [
        { name: 'outside', address: `${OUTSIDE}/24`, role: 'outside' },
        { name: 'inside', address: '127.0.52.1/24', role: 'inside' },
      ];
      p.cluster = {
        mode: 'nonsecure',
        members: [{ name: 'cucm1', address: INSIDE_TFTP, interface: 'inside', 'sip-port': 15060, 'sccp-port': 12000 }],
      };
      p['tftp-server'] = { address: INSIDE_TFTP, interface: 'inside', port: tftpPort, timeout };
      p['media-termination'] = {
        addresses: [
          { interface: 'outside', address: '127.0.51.10' },
          { interface: 'inside', address: '127.0.52.10' },
        ],
        'rtp-min-port': 20000,
        'rtp-max-port': 29999,
      };
      p['ctl-file'] = {
        name: 'ctl',
        'sast-count': 2,
        records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: OUTSIDE }],
      };
    },
    path.join(work, 'policy.yaml'),
  );
}

function newContext(l: LoadedPolicy): TestContext {
  const { logs, lines } = captureLogs();
  logLines = lines;
  return { loaded: l, state, logs, control: new ControlRegistry(), metrics: new Registry() };
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'tftp-it-'));
  upstreamDir = path.join(work, 'ucm');
  stateDir = path.join(work, 'state');
  for (const d of [upstreamDir, path.join(work, 'out')]) {
    require('node:fs').mkdirSync(d, { recursive: true });
  }
  chmodSync(work, 0o755);
  chmodSync(upstreamDir, 0o755);
  copyFileSync(path.join(fixtures, `SEP${SIP_MAC}.cnf.xml`), path.join(upstreamDir, `SEP${SIP_MAC}.cnf.xml`));
  copyFileSync(path.join(fixtures, `SEP${SCCP_MAC}.cnf.xml`), path.join(upstreamDir, `SEP${SCCP_MAC}.cnf.xml`));
  writeFileSync(
    path.join(upstreamDir, `SEP${BAD_MAC}.cnf.xml`),
    '<device>\n  <deviceSecurityMode>1</deviceSecurityMode>\n  <devicePool>\n</device>\n',
  );
  writeFileSync(path.join(upstreamDir, 'CTLFile.tlv'), 'UCM CTL: must never reach a phone through the proxy');
  writeFileSync(path.join(upstreamDir, 'XMLDefault.cnf.xml'), '<Default><callManagerGroup/></Default>\n');
  // Pseudo-random firmware: a repeating pattern would hide reordered blocks.
  const fw = Buffer.alloc(FIRMWARE_BYTES);
  let x = 0x12345678;
  for (let i = 0; i < fw.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    fw[i] = x & 0xff;
  }
  firmwareHash = sha(fw);
  const small = fw.subarray(0, 384 * 1024 + 7);
  smallFirmwareHash = sha(small);
  writeFileSync(path.join(upstreamDir, SMALL_FIRMWARE), small);
  writeFileSync(path.join(upstreamDir, 'Ringlist.xml'), RINGLIST);
  // A file UCM signed with its own TFTP key: the phone only trusts the appliance's.
  const ucmKey = await generateRsaKey(2048);
  ucmCert = createCertificate({ subject: 'CN=cucm-tftp,O=ucm', subjectKeyPem: ucmKey });
  writeFileSync(
    path.join(upstreamDir, 'g3-tones.xml.sgn'),
    signFile(TONES, 'g3-tones.xml', { certPem: ucmCert, keyPem: ucmKey }),
  );
  writeFileSync(path.join(upstreamDir, 'broken.xml.sgn'), Buffer.from('not a signed file at all'));
  writeFileSync(path.join(upstreamDir, FIRMWARE), fw);
  tftpdPort = await freeUdpPort(INSIDE_TFTP);
  await startTftpd(upstreamDir, INSIDE_TFTP, tftpdPort);
  loaded = policyFor(tftpdPort);
  state = await openState(stateDir, loaded);
  ctx = newContext(loaded);
  svc = createTftpService(ctx, { port: await freeUdpPort(OUTSIDE) });
  await serve(svc, ctx.control);
  port = (svc.listeners()[0] as { port: number }).port;
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  stopAll();
  rmSync(work, { recursive: true, force: true });
});

const signerCert = () => {
  const tp = state.trustpoints.get('pp-server');
  if (!tp) throw new Error('no pp-server trustpoint');
  return tp.cert;
};

test('CTLFile.tlv and CTLSEP<MAC>.tlv: the appliance CTL (verified), never the UCM one', async () => {
  const r = await tftpHpaGet(OUTSIDE, port, 'CTLFile.tlv', local('ctl1'));
  expect(r.stdout + r.stderr).toBe('');
  const a = await atftpGet(OUTSIDE, port, `CTLSEP${SIP_MAC}.tlv`, local('ctl2'), ['blksize 1428']);
  expect(a.code).toBe(0);
  const bytes = readFileSync(local('ctl1'));
  expect(readFileSync(local('ctl2'))).toEqual(bytes);
  const ctl = parseCtl(bytes);
  expect(verifyCtl(ctl).ok).toBe(true);
  expect(ctl.records.filter((rec) => rec.function === 'sast')).toHaveLength(2);
  const tftpRecord = ctl.records.find((rec) => rec.function === 'cucm-tftp');
  expect(tftpRecord?.ip).toBe(OUTSIDE);
  expect(new X509Certificate(tftpRecord?.certificate as Buffer).fingerprint256).toBe(signerCert().fingerprint256);
  expect(svc.counters['ctl-served']).toBe(2);
});

test('signed config: signature verifies, security mode 3, addresses and ports rewritten, untouched bytes identical', async () => {
  const a = await atftpGet(OUTSIDE, port, `SEP${SIP_MAC}.cnf.xml.sgn`, local('sip.sgn'), ['blksize 1428']);
  expect(a.code).toBe(0);
  const sgn = readFileSync(local('sip.sgn'));
  const v = verifySignedFile(sgn, [signerCert()]);
  expect(v.reason).toBe(v.ok ? v.reason : 'signature ok');
  expect(v.ok).toBe(true);
  const { header, content } = parseSignedFile(sgn);
  expect(header.fileName).toBe(`SEP${SIP_MAC}.cnf.xml`);
  const xml = content.toString('latin1');
  expect(xml).toContain('<deviceSecurityMode>3</deviceSecurityMode>');
  expect(xml).toContain('<transportLayerProtocol>3</transportLayerProtocol>');
  expect(xml).toContain(`<processNodeName>${OUTSIDE}</processNodeName>`);
  expect(xml).toContain(`<securedSipPort>${loaded.policy.listen['sip-tls']}</securedSipPort>`);
  // The default policy removes TVS members (remote-phones.tvs: remove, docs/cnf-xml.md §4 item 10).
  const upstreamText = readFileSync(path.join(upstreamDir, `SEP${SIP_MAC}.cnf.xml`), 'latin1');
  const tvsMembers = /<TVS>\n\s*<members>((?:\n\s*<member [\s\S]*?<\/member>)+)/.exec(upstreamText);
  expect(tvsMembers).not.toBeNull();
  expect(xml).toMatch(/<TVS>\n\s*<members>\n\s*<\/members>/);
  // Untouched parts: every other line but the rewritten ones is byte-identical to what UCM served.
  const withoutTvs = upstreamText.replace(tvsMembers?.[1] ?? '', '');
  const original = withoutTvs.split('\n');
  const served = xml.split('\n');
  expect(served).toHaveLength(original.length);
  const changed = served.map((l, i) => (l === original[i] ? null : /<(\w+)>/.exec(l)?.[1])).filter((t) => t !== null);
  expect(changed.sort()).toEqual(
    [
      'deviceSecurityMode',
      'garp',
      'pcPort',
      'processNodeName',
      'securedSipPort',
      'transportLayerProtocol',
      'voiceVlanAccess',
      'webAccess',
    ].sort(),
  );
  const phone = svc.securePhones.get(`SEP${SIP_MAC}`);
  expect(phone).toMatchObject({
    deviceName: `SEP${SIP_MAC}`,
    address: '127.0.0.1',
    originalMode: 'nonsecure',
    forcedMode: 'encrypted',
    protocol: 'sip',
    interface: 'outside',
  });
  const view = await ctx.control.findShow(['phone-proxy', 'secure-phones'])?.item.render([]);
  expect(JSON.stringify(view?.data)).toContain(`SEP${SIP_MAC}`);
});

test('the cache serves the same upstream file without signing again; a changed file is signed again', async () => {
  const signed0 = svc.signing().count;
  const r = await tftpHpaGet(OUTSIDE, port, `SEP${SIP_MAC}.cnf.xml.sgn`, local('sip2.sgn'));
  expect(r.stdout + r.stderr).toBe('');
  expect(svc.signing().count).toBe(signed0);
  expect(svc.cache.stats().hits).toBeGreaterThanOrEqual(1);
  const file = path.join(upstreamDir, `SEP${SCCP_MAC}.cnf.xml`);
  await tftpHpaGet(OUTSIDE, port, `SEP${SCCP_MAC}.cnf.xml.sgn`, local('sccp1.sgn'));
  expect(svc.signing().count).toBe(signed0 + 1);
  writeFileSync(file, readFileSync(file, 'latin1').replace('</device>', '<!-- edited --></device>'), 'latin1');
  const again = await tftpHpaGet(OUTSIDE, port, `SEP${SCCP_MAC}.cnf.xml.sgn`, local('sccp2.sgn'));
  expect(again.stdout + again.stderr).toBe('');
  expect(svc.signing().count).toBe(signed0 + 2);
  const xml = parseSignedFile(readFileSync(local('sccp2.sgn'))).content.toString('latin1');
  expect(verifySignedFile(readFileSync(local('sccp2.sgn')), [signerCert()]).ok).toBe(true);
  expect(xml).toContain('<!-- edited -->');
  expect(xml).toContain('<ethernetPhonePort>12000</ethernetPhonePort>');
  expect(svc.securePhones.get(`SEP${SCCP_MAC}`)?.protocol).toBe('sccp');
});

test('plain SEP<MAC>.cnf.xml is served rewritten (never as UCM wrote it) and logged as an unsigned request', async () => {
  await tftpHpaGet(OUTSIDE, port, `SEP${SIP_MAC}.cnf.xml`, local('sip.xml'));
  const xml = readFileSync(local('sip.xml'), 'latin1');
  const expected = rewriteCnf(readFileSync(path.join(upstreamDir, `SEP${SIP_MAC}.cnf.xml`), 'latin1'), {
    applianceAddress: OUTSIDE,
    sipTlsPort: loaded.policy.listen['sip-tls'],
    sccpTlsPort: loaded.policy.listen['sccp-tls'],
    disableServiceSettings: true,
  }).xml;
  expect(xml).toBe(expected);
  expect(logLines.some((l) => l.level === 40 && String(l.msg).includes('unsigned configuration'))).toBe(true);
});

test('multi-MB firmware relayed byte-identical to both clients at once, appliance memory flat', async () => {
  // The appliance runs alone in a child process (dist-dev/) so its live memory can be measured after GCs.
  const childPort = await freeUdpPort(OUTSIDE);
  const script = path.resolve(__dirname, '../../dist-dev/test/tftp/relay-child.js');
  const child = spawnDist(
    script,
    [JSON.stringify({ policyFile: loaded.file, stateDir, port: childPort })],
    ['--expose-gc'],
  );
  try {
    await ask(child, undefined, 'ready');
    // Warm-up: the first transfer loads and compiles code paths; measure from the second.
    await atftpGet(OUTSIDE, childPort, FIRMWARE, local('fw0'), ['blksize 1428']);
    await ask(child, 'baseline', 'baseline');
    const [h, a] = await Promise.all([
      tftpHpaGet(OUTSIDE, childPort, FIRMWARE, local('fw1')),
      atftpGet(OUTSIDE, childPort, FIRMWARE, local('fw2'), ['blksize 1428', 'windowsize 4']),
    ]);
    const { peak, detail, counters } = await ask<{
      peak: number;
      detail: { relay: { peakBufferedBytes: number } };
      counters: Record<string, number>;
    }>(child, 'peak', 'peak');
    expect(h.stdout + h.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(sha(readFileSync(local('fw1')))).toBe(firmwareHash);
    expect(sha(readFileSync(local('fw2')))).toBe(firmwareHash);
    expect(counters.relayed).toBe(3);
    // Two 8 MB files in flight at once: holding either whole would add more than 8 MB.
    expect(peak).toBeLessThan(2 * 1024 * 1024);
    // And per transfer, what was taken from UCM but not yet written to the phone stays small.
    expect(detail.relay.peakBufferedBytes).toBeGreaterThan(0);
    expect(detail.relay.peakBufferedBytes).toBeLessThan(256 * 1024);
  } finally {
    child.send('stop');
  }
}, 60_000);

test('1% loss and 1% late (duplicated, reordered) packets towards the phones: both clients get identical files', async () => {
  const childPort = await freeUdpPort(OUTSIDE);
  const script = path.resolve(__dirname, '../../dist-dev/test/tftp/relay-child.js');
  const loss = { share: 0.01, delayed: 0.01, address: OUTSIDE };
  const child = spawnDist(
    script,
    [JSON.stringify({ policyFile: loaded.file, stateDir, port: childPort, loss })],
    ['--expose-gc'],
  );
  try {
    await ask(child, undefined, 'ready');
    // atftp asks for windowsize 4 and gets it (RFC 7440: a lost block restarts the window). Late
    // packets make the clients send duplicate ACKs: the Sorcerer's Apprentice case.
    const [a, h] = await Promise.all([
      atftpGet(OUTSIDE, childPort, SMALL_FIRMWARE, local('lossy-a'), ['blksize 1428', 'windowsize 4']),
      tftpHpaGet(OUTSIDE, childPort, SMALL_FIRMWARE, local('lossy-h')),
    ]);
    const { dropped, counters } = await ask<{ dropped: number; counters: Record<string, number> }>(
      child,
      'peak',
      'peak',
    );
    expect(a.code).toBe(0);
    expect(h.stdout + h.stderr).toBe('');
    expect(sha(readFileSync(local('lossy-a')))).toBe(smallFirmwareHash);
    expect(sha(readFileSync(local('lossy-h')))).toBe(smallFirmwareHash);
    expect(dropped).toBeGreaterThan(0);
    expect(counters.relayed).toBe(2);
  } finally {
    child.send('stop');
  }
}, 90_000);

test('upstream client back-pressure: a consumer that stops reading stops the transfer from tftpd-hpa', async () => {
  const up = new Upstream({ host: INSIDE_TFTP, port: tftpdPort, timeoutMs: 30_000 });
  const g = up.get(FIRMWARE);
  expect(await g.size).toBe(FIRMWARE_BYTES);
  await new Promise((r) => setTimeout(r, 700));
  // Nothing read yet: only a few buffers' worth may have been taken from the server.
  expect(g.received()).toBeLessThan(256 * 1024);
  const hash = createHash('sha256');
  for await (const c of g.stream) hash.update(c as Buffer);
  expect(hash.digest('hex')).toBe(firmwareHash);
  expect(g.received()).toBe(FIRMWARE_BYTES);
}, 30_000);

test('upstream requests leave from the inside interface address', async () => {
  const dgram = require('node:dgram') as typeof import('node:dgram');
  const ucm = dgram.createSocket('udp4');
  await new Promise<void>((r) => ucm.bind(0, '127.0.52.21', () => r()));
  try {
    const seen = new Promise<{ address: string; file: string }>((resolve) =>
      ucm.once('message', (msg, rinfo) =>
        resolve({ address: rinfo.address, file: msg.toString('latin1', 2, msg.indexOf(0, 2)) }),
      ),
    );
    const up = new Upstream({
      host: '127.0.52.21',
      port: (ucm.address() as { port: number }).port,
      timeoutMs: 300,
      localAddress: '127.0.52.1',
    });
    const g = up.get('probe.bin');
    expect(await seen).toEqual({ address: '127.0.52.1', file: 'probe.bin' });
    g.abort();
  } finally {
    ucm.close();
  }
});

test('missing file: the phone gets error 1, logged with the file and cause', async () => {
  const r = await tftpHpaGet(OUTSIDE, port, 'Ringlist-missing.xml', local('missing'));
  expect(r.stdout + r.stderr).toContain('Error code 1: File not found');
  const a = await atftpGet(OUTSIDE, port, 'SEP0000000000AA.cnf.xml.sgn', local('missing2'));
  expect(a.code).not.toBe(0);
  expect(a.stderr + a.stdout).toContain('File not found');
  expect(svc.counters['upstream-not-found']).toBe(2);
  expect(
    logLines.some((l) => l.level === 20 && l.file === 'Ringlist-missing.xml' && String(l.cause).includes('not found')),
  ).toBe(true);
});

test('malformed XML: parsing error logged with device and position, the phone gets an error, nothing insecure served', async () => {
  const a = await atftpGet(OUTSIDE, port, `SEP${BAD_MAC}.cnf.xml.sgn`, local('bad.sgn'));
  expect(a.code).not.toBe(0);
  expect(a.stderr + a.stdout).toContain('Configuration file parsing error');
  const h = await tftpHpaGet(OUTSIDE, port, `SEP${BAD_MAC}.cnf.xml`, local('bad.xml'));
  expect(h.stdout + h.stderr).toContain('Configuration file parsing error');
  for (const f of ['bad.sgn', 'bad.xml']) expect(existsSync(local(f)) ? readFileSync(local(f)).length : 0).toBe(0);
  expect(svc.counters['config-parse-error']).toBe(2);
  const line = logLines.find((l) => l.level === 40 && l.device === `SEP${BAD_MAC}`);
  expect(line).toMatchObject({ line: 4, column: 1 });
  expect(String(line?.msg)).toContain('configuration file parsing error');
  expect(svc.securePhones.get(`SEP${BAD_MAC}`)).toBeUndefined();
});

test('path traversal, absolute paths, NUL bytes, long names and writes: access violation', async () => {
  const before = svc.counters['access-violation'];
  const r = await tftpHpaGet(OUTSIDE, port, '../../etc/passwd', local('trav'));
  expect(r.stdout + r.stderr).toContain('Error code 2: Access violation');
  const a = await atftpGet(OUTSIDE, port, '/etc/passwd', local('abs'));
  expect(a.code).not.toBe(0);
  expect(a.stderr + a.stdout).toContain('Access violation');
  const h = await tftpHpaGet(OUTSIDE, port, `Desktops/${'x'.repeat(300)}`, local('long'));
  expect(h.stdout + h.stderr).toContain('Error code 2');
  const nul = await rawRequest(OUTSIDE, port, rrqPacket('CTLFile.tlv\0../../etc/passwd'));
  expect(nul && decodeError(nul.msg)).toEqual({ code: 2, message: 'Access violation' });
  expect(svc.counters['access-violation']).toBe(before + 4);
  const wrq = await rawRequest(OUTSIDE, port, Buffer.concat([Buffer.from([0, 2]), Buffer.from('x.bin\0octet\0')]));
  expect(wrq && decodeError(wrq.msg)?.code).toBe(2);
  expect(svc.counters['write-refused']).toBe(1);
});

test('ITL requests get "file not found" and never reach UCM', async () => {
  const r = await tftpHpaGet(OUTSIDE, port, `ITLSEP${SIP_MAC}.tlv`, local('itl'));
  expect(r.stdout + r.stderr).toContain('Error code 1');
  expect(svc.counters['itl-refused']).toBe(1);
});

test('other .sgn files are re-signed with the appliance key (UCM-signed or plain upstream); unreadable ones refused', async () => {
  await tftpHpaGet(OUTSIDE, port, 'Ringlist.xml.sgn', local('ring.sgn'));
  const ring = readFileSync(local('ring.sgn'));
  expect(verifySignedFile(ring, [signerCert()]).ok).toBe(true);
  expect(parseSignedFile(ring).content).toEqual(RINGLIST);
  expect(parseSignedFile(ring).header.fileName).toBe('Ringlist.xml');
  const a = await atftpGet(OUTSIDE, port, 'g3-tones.xml.sgn', local('tones.sgn'), ['blksize 1428']);
  expect(a.code).toBe(0);
  const tones = readFileSync(local('tones.sgn'));
  expect(verifySignedFile(tones, [signerCert()]).ok).toBe(true);
  expect(verifySignedFile(tones, [ucmCert]).ok).toBe(false);
  expect(parseSignedFile(tones).content).toEqual(TONES);
  expect(svc.counters['resigned-served']).toBe(2);
  const bad = await tftpHpaGet(OUTSIDE, port, 'broken.xml.sgn', local('broken'));
  expect(bad.stdout + bad.stderr).toContain('File parsing error');
  expect(svc.counters['file-parse-error']).toBe(1);
  expect(
    logLines.some(
      (l) => l.level === 40 && String(l.msg).startsWith('non-configuration file parsing error: broken.xml.sgn'),
    ),
  ).toBe(true);
});

test('XMLDefault.cnf.xml is relayed unchanged', async () => {
  await tftpHpaGet(OUTSIDE, port, 'XMLDefault.cnf.xml', local('default.xml'));
  expect(readFileSync(local('default.xml'), 'utf8')).toBe('<Default><callManagerGroup/></Default>\n');
});

test('a burst over the per-source rate limit is dropped and counted; other sources still served', async () => {
  const dgram = require('node:dgram') as typeof import('node:dgram');
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.77', () => r()));
  let replies = 0;
  s.on('message', () => replies++);
  const before = svc.counters['rate-limited-source'];
  const burst = loaded.policy.tftp['rate-limit'].burst;
  const N = 100;
  for (let i = 0; i < N; i++) s.send(rrqPacket(`../probe${i}`), port, OUTSIDE);
  await new Promise((r) => setTimeout(r, 500));
  s.close();
  const dropped = svc.counters['rate-limited-source'] - before;
  // Refill at 20/s adds at most a few tokens during the burst.
  expect(replies).toBeGreaterThanOrEqual(burst);
  expect(replies).toBeLessThanOrEqual(burst + 5);
  expect(replies + dropped).toBe(N);
  const r = await tftpHpaGet(OUTSIDE, port, 'CTLFile.tlv', local('ctl-after-burst'));
  expect(r.stdout + r.stderr).toBe('');
  const view = await ctx.control.findShow(['phone-proxy', 'tftp'])?.item.render([]);
  expect((view?.data as { outcomes: Record<string, number> } | undefined)?.outcomes['rate-limited-source']).toBe(
    dropped,
  );
  // One warning for the whole burst (the rest are held back by the 15 s limiter), with its id.
  const warned = logLines.filter((l) => l.msgId === 'PPX-4-120003' && l.from === '127.0.0.77');
  expect(warned).toHaveLength(1);
  expect(warned[0]?.msg).toBe('TFTP request from 127.0.0.77 refused: rate limit (per-source)');
});

test('a source that never ACKs gets one packet per request it sends, never a retransmission: at most 12x on the wire', async () => {
  const dgram = require('node:dgram') as typeof import('node:dgram');
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.88', () => r()));
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  const rrq = rrqPacket('CTLFile.tlv');
  const N = 5;
  try {
    // The request, then the client's retransmissions of it (300 ms apart), never an ACK.
    for (let i = 0; i < N; i++) {
      s.send(rrq, port, OUTSIDE);
      await new Promise((r) => setTimeout(r, 300));
    }
    // Well past the 1 s retransmission timeout towards phones: nothing more may come.
    await new Promise((r) => setTimeout(r, 2500));
  } finally {
    s.close();
  }
  const bytesIn = N * rrq.length;
  const bytesOut = got.reduce((n, m) => n + m.length, 0);
  // IPv4 (20) + UDP (8) headers: what the victim of a spoofed source receives on its link.
  const wire = (bytesOut + 28 * got.length) / (bytesIn + 28 * N);
  expect(got.length).toBeGreaterThan(0);
  expect(got.length).toBeLessThanOrEqual(N);
  for (const m of got) expect(m.length).toBeLessThanOrEqual(516);
  expect(wire).toBeLessThanOrEqual(12);
  console.log(
    `never-ACKing source, CTLFile.tlv without options: ${N} RRQs (${bytesIn} B) in, ${got.length} packets (${bytesOut} B) out; ` +
      `payload ratio ${(bytesOut / bytesIn).toFixed(1)}x, on the wire ${wire.toFixed(1)}x`,
  );
}, 10_000);

test('mail mode is refused with an ERROR packet and counted', async () => {
  const before = svc.counters['bad-request'];
  const r = await rawRequest(OUTSIDE, port, Buffer.concat([Buffer.from([0, 1]), Buffer.from('CTLFile.tlv\0mail\0')]));
  expect(r && decodeError(r.msg)).toEqual({ code: 4, message: 'Mail mode not supported' });
  expect(svc.counters['bad-request']).toBe(before + 1);
});

test('replies come from the address the phone sent to', async () => {
  const r = await rawRequest(OUTSIDE, port, rrqPacket('CTLFile.tlv'));
  expect(r?.from.address).toBe(OUTSIDE);
  expect(r?.from.port).not.toBe(port);
});

test('secure-phones survive a restart and can be cleared', async () => {
  await svc.stop();
  const saved = JSON.parse(readFileSync(path.join(stateDir, 'secure-phones.json'), 'utf8')) as {
    phones: { deviceName: string }[];
  };
  expect(saved.phones.map((p) => p.deviceName)).toContain(`SEP${SIP_MAC}`);
  ctx = newContext(loaded);
  svc = createTftpService(ctx, { port: await freeUdpPort(OUTSIDE) });
  await serve(svc, ctx.control);
  port = (svc.listeners()[0] as { port: number }).port;
  expect(svc.securePhones.get(`SEP${SIP_MAC}`)?.originalMode).toBe('nonsecure');
  const out = await ctx.control
    .findClear(['phone-proxy', 'secure-phones', `SEP${SIP_MAC}`])
    ?.item.run([`SEP${SIP_MAC}`]);
  expect(out).toBe('cleared 1 secure-phone entry');
  expect(svc.securePhones.get(`SEP${SIP_MAC}`)).toBeUndefined();
});

describe('other upstream behaviours', () => {
  let other: TftpService | undefined;
  const after: (() => void)[] = [];
  afterEach(async () => {
    await other?.stop();
    other = undefined;
    for (const f of after.splice(0)) f();
  });

  test('upstream timeout: the phone gets an error and the log names the file and the cause', async () => {
    // A UCM that never answers, and notes where the requests come from.
    const dgram = require('node:dgram') as typeof import('node:dgram');
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, INSIDE_TFTP, () => r()));
    const sources = new Set<string>();
    silent.on('message', (_m, rinfo) => sources.add(rinfo.address));
    after.push(() => silent.close());
    const c = newContext(policyFor((silent.address() as { port: number }).port, 1));
    other = createTftpService(c, { port: await freeUdpPort(OUTSIDE) });
    await other.start();
    const p = (other.listeners()[0] as { port: number }).port;
    const r = await tftpHpaGet(OUTSIDE, p, `SEP${SIP_MAC}.cnf.xml.sgn`, local('timeout.sgn'));
    expect(r.stdout + r.stderr).toContain('Error code 0: TFTP server timeout');
    expect(other.counters['upstream-timeout']).toBe(1);
    // Requests left from the inside interface address (127.0.52.1), retransmitted meanwhile.
    expect([...sources]).toEqual(['127.0.52.1']);
    expect(logLines.some((l) => l.file === `SEP${SIP_MAC}.cnf.xml` && String(l.cause).includes('no answer'))).toBe(
      true,
    );
  }, 20_000);

  test('upstream without tsize: relayed through a spool file, bytes identical', async () => {
    const p2 = await freeUdpPort(INSIDE_TFTP);
    await startTftpd(upstreamDir, INSIDE_TFTP, p2, ['--refuse', 'tsize']);
    const c = newContext(policyFor(p2));
    other = createTftpService(c, { port: await freeUdpPort(OUTSIDE) });
    await other.start();
    const p = (other.listeners()[0] as { port: number }).port;
    const a = await atftpGet(OUTSIDE, p, FIRMWARE, local('fw-spool'), ['blksize 1428']);
    expect(a.code).toBe(0);
    expect(sha(readFileSync(local('fw-spool')))).toBe(firmwareHash);
  }, 30_000);
});
