/**
 * Issue 13, proven through a real NAT (topology.ts): the remote phone lives in a network
 * namespace and reaches the appliance only at public addresses that nftables translates to the
 * bound ones. The appliance runs here (root namespace) on a policy with those public addresses;
 * the UCM simulator and an inside phone run on loopback. The phone boots with the Debian TFTP
 * clients inside the namespace (tftp-hpa for the CTL, atftp for the signed configuration), then a
 * scripted TLS phone inside the namespace registers and calls the inside phone with SRTP.
 *
 * Asserted: the CTL's CCM+TFTP record and processNodeName name the public address (never the bound
 * one); SRST is disabled and TVS members are gone in what the phone got; TLS lands on the appliance
 * through the DNAT; the SDP answer's c=/o= name the public media address; the 200 OK's Contact the
 * public interface address; audio arrives intact both ways; the BYE aimed at the public address
 * reaches UCM; the appliance saw the phone at its home-NAT address.
 * Skipped (loudly) only where network namespaces cannot be made: not root, or no `ip netns`.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type pino from 'pino';
import { parseDocument } from 'yaml';
import { parseSignedFile } from '../../ctl';
import { compareAudio } from '../../lab/audio';
import { type LabCredentials, labCredentials } from '../../lab/lab-setup';
import { InsidePhone } from '../../lab/phones';
import { checkConfig, checkCtl } from '../../lab/secure-boot';
import { UcmSimulator } from '../../lab/ucm-sim';
import { parsePolicy } from '../../src/config/load-policy';
import { type Daemon, startDaemon } from '../../src/daemon';
import { createTopology, destroyTopology, type NatTopology, namespacesUnavailable } from './topology';

const ROOT = path.resolve(__dirname, '../..');
const CHILD = path.join(ROOT, 'dist-dev/test/nat/phone-child.js');
const MAC = '00562B0C1A2F'; // the CUCM-shaped SIP fixture with SRST and TVS
const PACKETS = 50;
const INSIDE = { ucm: '127.0.213.20', phone: '127.0.213.50', line: '1001', ssrc: 0x1d51de13 };

const unavailable = namespacesUnavailable();
if (unavailable) console.warn(`\n*** NAT TEST SKIPPED: ${unavailable} ***\n`);
const maybe = unavailable ? describe.skip : describe;

function execIn(t: NatTopology, cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', t.ns, cmd, ...args], { timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

function runPhone(t: NatTopology, input: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', t.ns, process.execPath, CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('exit', () => {
      clearTimeout(killer);
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as Record<string, unknown>);
      } catch {
        reject(new Error(`phone child printed no result: ${out}${err}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

maybe('a remote phone behind a real NAT (issue 13)', () => {
  let topo: NatTopology | undefined;
  let dir = '';
  let daemon: Daemon | undefined;
  let ucm: UcmSimulator | undefined;
  let inside: InsidePhone | undefined;
  let creds: LabCredentials;
  const logs: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHILD)) throw new Error(`${CHILD} missing: run \`npm run build:dev\` first`);
    const src = path.join(ROOT, 'test/nat/phone-child.ts');
    if (statSync(src).mtimeMs > statSync(CHILD).mtimeMs) throw new Error(`${CHILD} is stale: npm run build:dev`);
    topo = createTopology();
    dir = mkdtempSync(path.join(os.tmpdir(), 'pp-nat-'));
    creds = await labCredentials(`SEP${MAC}`);
    const caFile = path.join(dir, 'lab-ca.pem');
    writeFileSync(caFile, creds.manufacturerCa.certPem);

    const doc = parseDocument(readFileSync(path.join(ROOT, 'policies/default.yaml'), 'utf8'));
    const t = topo;
    doc.setIn(
      ['interfaces', 0],
      doc.createNode({
        name: 'outside',
        address: `${t.bound.interface}/24`,
        role: 'outside',
        'public-address': t.public.interface,
      }),
    );
    doc.setIn(['interfaces', 1], doc.createNode({ name: 'inside', address: '127.0.213.1/24', role: 'inside' }));
    doc.setIn(['cluster', 'members', 0, 'address'], INSIDE.ucm);
    doc.setIn(['cluster', 'members', 0, 'phone-interface'], 'outside');
    doc.setIn(['tftp-server', 'address'], INSIDE.ucm);
    doc.setIn(
      ['media-termination', 'addresses'],
      doc.createNode([
        { interface: 'outside', address: t.bound.media, 'public-address': t.public.media },
        { interface: 'inside', address: '127.0.213.10' },
      ]),
    );
    doc.setIn(['ctl-file', 'records', 0, 'address'], t.public.interface);
    doc.addIn(['trustpoints'], doc.createNode({ name: 'lab-ca', certificate: caFile }));
    doc.setIn(['tls-proxy', 'client-trustpoints'], doc.createNode(['lab-ca']));
    doc.deleteIn(['control', 'metrics']);
    const policyFile = path.join(dir, 'policy.yaml');
    writeFileSync(policyFile, doc.toString());
    const p = parsePolicy(doc.toString(), policyFile).policy;
    const member = p.cluster.members[0];
    const tftpServer = p['tftp-server'];
    if (!member || !tftpServer) throw new Error('no member or tftp-server');

    const cnf = readFileSync(path.join(ROOT, 'test/fixtures/tftp', `SEP${MAC}.cnf.xml`));
    ucm = new UcmSimulator(INSIDE.ucm, tftpServer.port, member['sip-port'], new Map([[`SEP${MAC}.cnf.xml`, cnf]]));
    await ucm.start();
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        logs.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    daemon = await startDaemon({
      policyFile,
      stateDir: path.join(dir, 'state'),
      logDestination: sink as unknown as pino.DestinationStream,
    });
    inside = new InsidePhone(
      INSIDE.phone,
      INSIDE.line,
      { address: INSIDE.ucm, port: member['sip-port'] },
      INSIDE.ssrc,
      660,
    );
    await inside.register();
  }, 60_000);

  afterAll(async () => {
    await inside?.close().catch(() => undefined);
    await daemon?.stop().catch(() => undefined);
    await ucm?.stop().catch(() => undefined);
    const left = destroyTopology(topo);
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (left.length) throw new Error(`NAT topology not removed: ${left.join('; ')}`);
  }, 30_000);

  test('boots through the NAT with tftp-hpa and atftp, registers over TLS and calls with SRTP, public addresses only', async () => {
    const t = topo as NatTopology;
    const listen = { tftp: 10069 };
    const ctlFile = path.join(dir, 'CTLFile.tlv');
    const sgnFile = path.join(dir, `SEP${MAC}.cnf.xml.sgn`);
    const hpa = await execIn(t, 'tftp', [
      '-4',
      '-m',
      'binary',
      t.public.interface,
      String(listen.tftp),
      '-c',
      'get',
      'CTLFile.tlv',
      ctlFile,
    ]);
    expect({ code: hpa.code, out: hpa.out }).toEqual({ code: 0, out: expect.not.stringMatching(/error|timed out/i) });
    const at = await execIn(t, 'atftp', [
      '--get',
      '-r',
      `SEP${MAC}.cnf.xml.sgn`,
      '-l',
      sgnFile,
      t.public.interface,
      String(listen.tftp),
    ]);
    expect(at).toEqual({ code: 0, out: '' });

    // What the phone holds: the CTL names the public address, the config points there.
    const trust = checkCtl(readFileSync(ctlFile));
    const ccm = trust.records.filter((r) => r.function !== 'sast');
    expect(ccm.map((r) => r.ip)).toEqual([t.public.interface]);
    const { config } = checkConfig(readFileSync(sgnFile), `SEP${MAC}.cnf.xml.sgn`, trust);
    expect(config.processNodeName).toBe(t.public.interface);
    const xml = parseSignedFile(readFileSync(sgnFile)).content.toString('latin1');
    expect([...xml.matchAll(/<processNodeName>([^<]*)</g)].map((m) => m[1])).toEqual([
      t.public.interface,
      t.public.interface,
      '10.10.20.10', // the CAPF entry: not call control, left as UCM wrote it
    ]);
    expect(xml).not.toContain(t.bound.interface);
    expect(xml).toContain('<srstOption>Disable</srstOption>');
    expect(xml).not.toMatch(/>10\.20\.30\.1<|<port>2445</);

    const callee = await (inside as InsidePhone).expectCall(PACKETS);
    const r = await runPhone(t, {
      mac: MAC,
      address: t.phone.address,
      line: '4711',
      callee: INSIDE.line,
      mic: creds.mic,
      ctlFile,
      sgnFile,
      packets: PACKETS,
    });
    expect(r.error).toBeUndefined();
    expect(r.registeredWith).toBe(`${t.public.interface}:15061`);
    const answer = r.answer as { address: string; proto: string };
    expect(answer).toMatchObject({ address: t.public.media, proto: 'RTP/SAVP' });
    expect(r.target).toMatch(new RegExp(`^sip:[^@]+@${t.public.interface.replace(/\./g, '\\.')}:15061`));
    expect(r.byeStatus).toBe(200);

    // Audio both ways, through both NATs.
    const sent = new Map((r.sent as [number, string][]).map(([s, h]) => [s, Buffer.from(h, 'hex')]));
    const received = new Map(
      (r.received as [number, number, string][]).map(([s, ssrc, h]) => [s, { ssrc, payload: Buffer.from(h, 'hex') }]),
    );
    const toInside = compareAudio(sent, callee.media.received, r.ssrc as number);
    const toRemote = compareAudio(callee.media.sent, received, callee.media.ssrc);
    expect({ toInside: toInside.intact >= PACKETS - 5, toRemote: toRemote.intact >= PACKETS - 10 }).toEqual({
      toInside: true,
      toRemote: true,
    });
    expect({ corrupted: toInside.corrupted + toRemote.corrupted }).toEqual({ corrupted: 0 });

    // The appliance saw the phone at its home-NAT address, never the private one.
    const registered = logs.filter((l) => l.includes('"phone connected"'));
    expect(registered.join('\n')).toContain(t.phone.natted);
    expect(logs.join('\n')).not.toContain(`"${t.phone.address}:`);
  }, 60_000);
});
