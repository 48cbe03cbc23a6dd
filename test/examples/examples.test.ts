/**
 * The six example policies (policies/examples/, one per ASA phone-proxy deployment example)
 * each start the real daemon and serve what their deployment needs. Each is rewritten to
 * loopback (outside 127.0.4<n>.0/24, inside 127.0.5<n>.0/24), unprivileged ports and throw-away
 * certificate files; nothing else in it changes. Per example: the TFTP CTL fetch (tftp-hpa) with
 * a SAST signature that verifies and the records the deployment needs, a TLS handshake with a
 * phone certificate chaining to the example's client trustpoints (SIP and SCCP), and for 5 and 6
 * a REGISTER over the nonsecure SIP listener reaching UCM (plain TCP) and answered. Where the
 * example relays CAPF (5 and 6, listen.capf): the CTL's capf record at the relay's address, a
 * phone's configuration fetched over TFTP from a UCM stand-in (tftpd-hpa) with capfList pointed
 * at the relay, and an LSC enrolment's TLS session (openssl s_client) reaching a CAPF stand-in
 * (openssl s_server with the example's CAPF certificate) through the relay, end to end.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { parseDocument } from 'yaml';
import { parseCtl, parseSignedFile, verifyCtl } from '../../ctl';
import { createCertificate, generateRsaKey } from '../../src/pki/x509';
import { phoneClient, startCapfServer, stopPeers } from '../capf/peers';
import { request, respond } from '../sip/sip-helpers';
import { ROOT, runCli, type Started, startCli, stopCli } from '../support/cli-process';
import { startTftpd, stopAll as stopTftpPeers, tftpHpaGet } from '../tftp/peers';
import { SipPeer, within } from '../tls/harness';

const EXAMPLES = path.join(ROOT, 'policies/examples');
const NAMES = [
  '1-nonsecure-cluster',
  '2-mixed-mode',
  '3-separate-tftp',
  '4-primary-secondary',
  '5-lsc-provisioning',
  '6-vlan-traversal-cipc',
];
const DEVICE = 'SEP00DE0A1AB0C1';

interface Prepared {
  dir: string;
  file: string;
  outside: string;
  insideNet: string;
  ports: {
    tftp: number;
    sipTls: number;
    sccpTls: number;
    sip?: number;
    sccp?: number;
    /** The CAPF relay (listen.capf) and the CAPF stand-in behind it: this helper's 64750-64769. */
    capf?: number;
    capfServer?: number;
    ucmTftp: number;
    ucmSip: number;
    ucmSccp: number;
  };
  phone: { certPem: string; keyPem: string };
  nonsecure: boolean;
  ctlFunctions: string[];
  /** Certificate and key files of each imported trustpoint, by name (the CAPF stand-in presents capf's). */
  keys: Map<string, { certFile: string; keyFile: string }>;
  member: { address: string; interface: string };
}

const dirs: string[] = [];
afterAll(() => {
  stopPeers();
  stopTftpPeers();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The example on loopback: addresses, ports and certificate files; its structure untouched. */
async function prepare(n: number, name: string): Promise<Prepared> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `pp-example-${n}-`));
  dirs.push(dir);
  const outsideNet = `127.0.${40 + n}`;
  const insideNet = `127.0.${50 + n}`;
  const text = readFileSync(path.join(EXAMPLES, `${name}.yaml`), 'utf8')
    .replaceAll('198.51.100.', `${outsideNet}.`)
    .replaceAll('10.20.0.', `${outsideNet}.`)
    .replaceAll('10.10.0.', `${insideNet}.`)
    .replaceAll('10.30.0.', `${insideNet}.`)
    .replaceAll('/16', '/24');
  const doc = parseDocument(text);
  const base = 27000 + n * 20;
  const ports = {
    tftp: base,
    sipTls: base + 1,
    sccpTls: base + 2,
    ...(doc.getIn(['listen', 'sip']) !== undefined ? { sip: base + 3 } : {}),
    ...(doc.getIn(['listen', 'sccp']) !== undefined ? { sccp: base + 4 } : {}),
    ...(doc.getIn(['listen', 'capf']) !== undefined
      ? { capf: 64750 + (n - 5) * 10, capfServer: 64751 + (n - 5) * 10 }
      : {}),
    ucmTftp: base + 14,
    ucmSip: base + 10,
    ucmSccp: base + 11,
  };
  doc.setIn(['listen', 'tftp'], ports.tftp);
  doc.setIn(['listen', 'sip-tls'], ports.sipTls);
  doc.setIn(['listen', 'sccp-tls'], ports.sccpTls);
  if (ports.sip) doc.setIn(['listen', 'sip'], ports.sip);
  if (ports.sccp) doc.setIn(['listen', 'sccp'], ports.sccp);
  const member = (doc.toJS().cluster.members as { address: string; interface: string }[])[0] as {
    address: string;
    interface: string;
  };
  if (ports.capf) {
    doc.setIn(['listen', 'capf'], ports.capf);
    // Where CAPF is: the example's capf-server, else (its default) the first member, on a test port.
    if (doc.hasIn(['capf-server'])) doc.setIn(['capf-server', 'port'], ports.capfServer);
    else
      doc.setIn(
        ['capf-server'],
        doc.createNode({ address: member.address, interface: member.interface, port: ports.capfServer }),
      );
  }
  const members = doc.getIn(['cluster', 'members']) as { items: unknown[] };
  members.items.forEach((_m, i) => {
    doc.setIn(['cluster', 'members', i, 'sip-port'], ports.ucmSip);
    doc.setIn(['cluster', 'members', i, 'sip-tls-port'], base + 12);
    doc.setIn(['cluster', 'members', i, 'sccp-port'], ports.ucmSccp);
    doc.setIn(['cluster', 'members', i, 'sccp-tls-port'], base + 13);
  });
  doc.setIn(['tftp-server', 'port'], ports.ucmTftp);
  doc.setIn(['media-termination', 'rtp-min-port'], 63300 + (n - 1) * 100);
  doc.setIn(['media-termination', 'rtp-max-port'], 63399 + (n - 1) * 100);
  doc.setIn(['media-termination', 'workers'], 1);
  if (doc.hasIn(['control', 'metrics'])) doc.setIn(['control', 'metrics', 'port'], base + 15);

  // Throw-away certificate files for every imported trustpoint: CAs for the ones phones chain
  // to (client trustpoints), self-signed certificates for the UCM servers.
  const trustpoints = (doc.toJS().trustpoints as { name: string; certificate?: string }[]).filter((t) => t.certificate);
  const clientCas = (doc.getIn(['tls-proxy', 'client-trustpoints']) as { toJSON(): string[] }).toJSON();
  let issuer: { certPem: string; keyPem: string } | undefined;
  const keys = new Map<string, { certFile: string; keyFile: string }>();
  for (const t of trustpoints) {
    const keyPem = await generateRsaKey(2048);
    const ca = clientCas.includes(t.name);
    const certPem = createCertificate({ subject: `CN=${t.name} test,O=example-test`, subjectKeyPem: keyPem, ca });
    // At the path the example names (certs/…, relative to the policy file).
    mkdirSync(path.dirname(path.join(dir, t.certificate as string)), { recursive: true });
    writeFileSync(path.join(dir, t.certificate as string), certPem);
    // Kept outside the policy's files: only the stand-ins (CAPF) present these certificates.
    const keyFile = path.join(dir, `${t.name}.stand-in.key`);
    writeFileSync(keyFile, keyPem, { mode: 0o600 });
    keys.set(t.name, { certFile: path.join(dir, t.certificate as string), keyFile });
    if (ca && !issuer) issuer = { certPem, keyPem };
  }
  if (!issuer) throw new Error(`${name}: no client trustpoint to issue a phone certificate from`);
  const phoneKey = await generateRsaKey(2048);
  // A MIC's subject: model and device name (an LSC would carry the device name alone).
  const phone = {
    certPem: createCertificate({
      subject: `CN=CP-8865-${DEVICE},O=Cisco Systems Inc.`,
      subjectKeyPem: phoneKey,
      issuer,
    }),
    keyPem: phoneKey,
  };
  const file = path.join(dir, 'policy.yaml');
  if (doc.hasIn(['ctl-file', 'import'])) {
    // The cluster's own CTL: built by the ctl toolkit from a copy of this policy without the import.
    const own = doc.clone();
    own.deleteIn(['ctl-file', 'import']);
    writeFileSync(path.join(dir, 'cluster.yaml'), own.toString());
    const built = await runCli([
      'ctl',
      'build',
      '--policy',
      path.join(dir, 'cluster.yaml'),
      '--state',
      path.join(dir, 'cluster-state'),
      '--out',
      path.join(dir, String(doc.getIn(['ctl-file', 'import', 'file']))),
    ]);
    if (built.code !== 0) throw new Error(`ctl build: ${built.stderr}`);
  }
  writeFileSync(file, doc.toString());
  const records = doc.toJS()['ctl-file'].records as { function: string }[];
  return {
    dir,
    file,
    outside: `${outsideNet}.1`,
    insideNet,
    ports,
    phone,
    nonsecure: ports.sip !== undefined,
    ctlFunctions: records.map((r) => r.function),
    keys,
    member,
  };
}

/** A UCM stand-in on one member address: plain TCP on its SIP and SCCP ports, peers kept. */
async function fakeUcm(address: string, ports: number[]): Promise<{ peers: SipPeer[]; close(): Promise<void> }> {
  const peers: SipPeer[] = [];
  const servers = await Promise.all(
    ports.map(
      (port) =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer((sock) => void peers.push(new SipPeer(sock)));
          s.once('error', reject);
          s.listen(port, address, () => resolve(s));
        }),
    ),
  );
  return {
    peers,
    close: async () => {
      for (const p of peers) p.sock.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

/** Mutual TLS to a listener, kept open: the appliance checks the certificate after the handshake. */
function handshake(host: string, port: number, cred: { certPem: string; keyPem: string }): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host, port, cert: cred.certPem, key: cred.keyPem, rejectUnauthorized: false });
    sock.on('error', reject);
    sock.once('secureConnect', () => resolve(sock));
  });
}

const connectedLines = (out: string) =>
  out.split('\n').filter((l) => l.includes('"msg":"phone connected"') && l.includes(DEVICE)).length;

describe.each(NAMES.map((name, i) => [name, i + 1] as const))('example %s', (name, n) => {
  let p: Prepared;
  let daemon: Started | undefined;
  let ucm: Awaited<ReturnType<typeof fakeUcm>> | undefined;

  beforeAll(async () => {
    p = await prepare(n, name);
    const checked = await runCli(['check', '--policy', p.file]);
    if (checked.code !== 0) throw new Error(`check ${name}: ${checked.stdout}${checked.stderr}`);
    const member = (parseDocument(readFileSync(p.file, 'utf8')).toJS().cluster.members as { address: string }[])[0];
    ucm = await fakeUcm(member?.address ?? '', [p.ports.ucmSip, p.ports.ucmSccp]);
    daemon = await startCli(['--policy', p.file, '--state', path.join(p.dir, 'state')], 40_000);
    if (!daemon.output().includes('ready;')) throw new Error(`${name} did not start:\n${daemon.output()}`);
  }, 90_000);

  afterAll(async () => {
    if (daemon) await stopCli(daemon);
    await ucm?.close();
  });

  it('serves its own signed CTL over TFTP, with the records the deployment needs', async () => {
    const local = path.join(p.dir, 'fetched-CTLFile.tlv');
    const r = await tftpHpaGet(p.outside, p.ports.tftp, 'CTLFile.tlv', local);
    expect(r.stdout + r.stderr).toBe('');
    const ctl = parseCtl(readFileSync(local));
    expect(verifyCtl(ctl)).toMatchObject({ ok: true });
    const functions = new Set(ctl.records.map((rec) => rec.function));
    for (const f of p.ctlFunctions) expect(functions).toContain(f);
  }, 20_000);

  it('accepts a phone certificate on the SIP and SCCP TLS listeners', async () => {
    for (const port of [p.ports.sipTls, p.ports.sccpTls]) {
      const before = connectedLines(daemon?.output() ?? '');
      const sock = await within(handshake(p.outside, port, p.phone), 10_000, `TLS handshake on ${port}`);
      try {
        // Accepted, not refused after the handshake: the proxy logs the phone by its device name.
        await within(
          (async () => {
            while (connectedLines(daemon?.output() ?? '') === before) await new Promise((r) => setTimeout(r, 50));
          })(),
          5000,
          `"phone connected" for ${DEVICE} on ${port} in the daemon's log:\n${daemon?.output()}`,
        );
      } finally {
        sock.destroy();
      }
    }
    expect(daemon?.output()).not.toMatch(/phone refused/);
  }, 30_000);

  if (n === 5 || n === 6) {
    it('relays CAPF: the CTL names the relay, the configuration points capfList at it, and an enrolment reaches CAPF', async () => {
      const capfPort = p.ports.capf as number;
      // The CTL's capf record holds the CAPF certificate at the relay's (outside) address.
      const local = path.join(p.dir, 'capf-CTLFile.tlv');
      await tftpHpaGet(p.outside, p.ports.tftp, 'CTLFile.tlv', local);
      const capfRecords = parseCtl(readFileSync(local)).records.filter((r) => r.function === 'capf');
      expect(capfRecords.map((r) => r.ip)).toEqual([p.outside]);

      // The phone's configuration, from a UCM stand-in: capfList now names the relay.
      const root = path.join(p.dir, 'ucm-tftp');
      mkdirSync(root, { recursive: true });
      const cnf = readFileSync(path.join(ROOT, 'test/fixtures/tftp/SEP0024C4E1B2D3.cnf.xml'));
      writeFileSync(path.join(root, `${DEVICE}.cnf.xml`), cnf);
      await startTftpd(root, p.member.address, p.ports.ucmTftp);
      const got = path.join(p.dir, `${DEVICE}.cnf.xml.sgn`);
      const r = await tftpHpaGet(p.outside, p.ports.tftp, `${DEVICE}.cnf.xml.sgn`, got);
      expect(r.stdout + r.stderr).toBe('');
      const xml = parseSignedFile(readFileSync(got)).content.toString('latin1');
      const capfList = /<capfList>[\s\S]*<\/capfList>/.exec(xml)?.[0] ?? '';
      expect(capfList).toContain(`<processNodeName>${p.outside}</processNodeName>`);
      expect(capfList).toContain(`<phonePort>${capfPort}</phonePort>`);

      // The enrolment: a TLS session with the CAPF stand-in (the example's CAPF certificate), through the relay.
      const capf = p.keys.get('capf');
      if (!capf) throw new Error(`${name}: no capf trustpoint`);
      await startCapfServer(p.member.address, p.ports.capfServer as number, {
        ...capf,
        certPem: readFileSync(capf.certFile, 'utf8'),
        fingerprint256: '',
      });
      const lines = ['capf-hello', 'lsc-request-0123456789'];
      const run = await phoneClient(p.outside, capfPort, capf.certFile, lines);
      expect(run.stdout).toMatch(/Verify return code: 0 \(ok\)/);
      expect(run.stdout).toMatch(/subject=.*CN ?= ?capf test/);
      for (const l of lines) expect(run.stdout).toContain([...l].reverse().join(''));
      const shown = await runCli(['show', 'phone-proxy', 'capf', '--json', '--state', path.join(p.dir, 'state')]);
      const view = JSON.parse(shown.stdout) as {
        enabled: boolean;
        counters: Record<string, number>;
        capf: { address: string };
      };
      expect(view).toMatchObject({ enabled: true, capf: { address: p.member.address } });
      expect(view.counters.relayed).toBe(1);

      // Something that is not a phone's TLS: refused before CAPF is dialled, in show phone-proxy drops.
      const probe = net.connect({ host: p.outside, port: capfPort });
      probe.on('error', () => undefined);
      probe.once('connect', () => probe.write('GET / HTTP/1.0\r\n\r\n'));
      await new Promise((r) => probe.once('close', r));
      const drops = await runCli(['show', 'phone-proxy', 'drops', '--json', '--state', path.join(p.dir, 'state')]);
      expect((JSON.parse(drops.stdout) as { rows: unknown[] }).rows).toContainEqual({
        area: 'capf',
        reason: 'not-tls',
        code: 'EPX_CAPF_NOT_TLS',
        count: 1,
      });
    }, 30_000);

    it('takes a REGISTER on the nonsecure SIP listener and relays it to UCM over TCP', async () => {
      expect(p.ports.sip).toBeDefined();
      // Counted before connecting: on the plain listener the upstream leg opens as soon as the
      // phone connects, which on loopback can be before this test's next line runs.
      const before = ucm?.peers.length ?? 0;
      const sock = net.connect({ host: p.outside, port: p.ports.sip as number });
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', () => resolve());
        sock.once('error', reject);
      });
      const phone = new SipPeer(sock);
      try {
        const mac = DEVICE.slice(3).toLowerCase();
        phone.send(
          request('REGISTER', `sip:${p.outside}`, {
            via: `SIP/2.0/TCP ${p.outside}:5060;branch=z9hG4bKex${n}`,
            from: `<sip:1000@${p.outside}>;tag=x`,
            to: `<sip:1000@${p.outside}>`,
            callId: `example-${n}`,
            cseq: 1,
            contact: `<sip:9f1c@127.0.${40 + n}.100:5060;transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-${mac}>";+u.sip!devicename.ccm.cisco.com="${DEVICE}"`,
          }),
        );
        await within(
          (async () => {
            while ((ucm?.peers.length ?? 0) <= before) await new Promise((r) => setTimeout(r, 20));
          })(),
          5000,
          'a connection at UCM',
        ).catch((err: Error) => {
          throw new Error(`${err.message}\n--- daemon output ---\n${daemon?.output().slice(-4000)}`);
        });
        const up = ucm?.peers[before] as SipPeer;
        const atUcm = await up.waitFor((m) => m.startsWith('REGISTER'), 'REGISTER at UCM');
        expect(atUcm).toMatch(new RegExp(`^Via: SIP/2\\.0/TCP ${p.insideNet.replaceAll('.', '\\.')}\\.1:`, 'm'));
        up.send(respond(atUcm, 200, 'OK', { toTag: 'u' }));
        expect(await phone.waitFor((m) => m.startsWith('SIP/2.0'), 'answer')).toMatch(/^SIP\/2\.0 200 /);
      } finally {
        sock.destroy();
      }
    }, 20_000);
  }
});

/**
 * A SIP edge only (issue 13): example 1 without TFTP. `listen.tftp: false` and no `tftp-server`
 * is a valid policy; TFTP on without a `tftp-server` is not. The appliance opens no TFTP listener
 * and relays a REGISTER over SIP-TLS to UCM.
 */
describe('a SIP edge without TFTP (example 1 with listen.tftp: false, no tftp-server)', () => {
  let p: Prepared;
  let daemon: Started | undefined;
  let ucm: Awaited<ReturnType<typeof fakeUcm>> | undefined;

  beforeAll(async () => {
    p = await prepare(7, '1-nonsecure-cluster');
    const doc = parseDocument(readFileSync(p.file, 'utf8'));
    doc.deleteIn(['tftp-server']);
    writeFileSync(path.join(p.dir, 'tftp-on.yaml'), doc.toString());
    doc.setIn(['listen', 'tftp'], false);
    writeFileSync(p.file, doc.toString());
    const member = (doc.toJS().cluster.members as { address: string }[])[0];
    ucm = await fakeUcm(member?.address ?? '', [p.ports.ucmSip, p.ports.ucmSccp]);
  }, 30_000);

  afterAll(async () => {
    if (daemon) await stopCli(daemon);
    await ucm?.close();
  });

  it('check accepts it, and refuses the same policy with TFTP still on, naming tftp-server', async () => {
    const ok = await runCli(['check', '--policy', p.file]);
    expect({ code: ok.code, out: ok.stdout + ok.stderr }).toEqual({ code: 0, out: expect.stringMatching(/OK/) });
    const on = await runCli(['check', '--policy', path.join(p.dir, 'tftp-on.yaml')]);
    expect(on.code).toBe(1);
    expect(on.stdout + on.stderr).toMatch(/tftp-server: required while listen\.tftp is on/);
  });

  it('starts with no TFTP listener and relays a REGISTER over SIP-TLS to UCM', async () => {
    daemon = await startCli(['--policy', p.file, '--state', path.join(p.dir, 'state')], 40_000);
    // What it announces before "ready": one line per listener.
    const out = daemon.output();
    const listening = out.slice(out.indexOf('phone-proxy running policy'), out.indexOf('ready;'));
    expect(listening).toMatch(new RegExp(`sip over TLS \\(outside\\) +tls +${p.outside}:${p.ports.sipTls}`));
    expect(listening).not.toMatch(/tftp/);
    const shown = await runCli(['show', 'phone-proxy', 'tftp', '--json', '--state', path.join(p.dir, 'state')]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ listeners: [], upstream: null });

    const before = ucm?.peers.length ?? 0;
    const sock = await within(handshake(p.outside, p.ports.sipTls, p.phone), 10_000, 'TLS handshake');
    const phone = new SipPeer(sock);
    try {
      phone.send(
        request('REGISTER', `sip:${p.outside}`, {
          via: `SIP/2.0/TLS 127.0.47.100:5061;branch=z9hG4bKedge`,
          from: `<sip:1000@${p.outside}>;tag=x`,
          to: `<sip:1000@${p.outside}>`,
          callId: 'sip-edge',
          cseq: 1,
          contact: `<sip:9f1c@127.0.47.100:5061;transport=tls>;+u.sip!devicename.ccm.cisco.com="${DEVICE}"`,
        }),
      );
      await within(
        (async () => {
          while ((ucm?.peers.length ?? 0) <= before) await new Promise((r) => setTimeout(r, 20));
        })(),
        5000,
        'a connection at UCM',
      );
      const up = ucm?.peers[before] as SipPeer;
      const atUcm = await up.waitFor((m) => m.startsWith('REGISTER'), 'REGISTER at UCM');
      up.send(respond(atUcm, 200, 'OK', { toTag: 'u' }));
      expect(await phone.waitFor((m) => m.startsWith('SIP/2.0'), 'answer')).toMatch(/^SIP\/2\.0 200 /);
    } finally {
      sock.destroy();
    }
  }, 60_000);
});
