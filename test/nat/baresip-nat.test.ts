/**
 * Issue 13's E2E proof with real SIP user agents through a real NAT: baresip phones inside the
 * phone namespace of topology.ts reach the appliance only at its advertised public addresses
 * (nftables DNAT/SNAT), Kamailio is the UCM stand-in (registrar + record-routing proxy) with
 * tftpd-hpa as its TFTP server, and a second baresip registered at Kamailio answers inside. The
 * appliance runs as `phone-proxy start`, as an operator runs it.
 *
 * Two phones, one call each to the inside phone, which hangs up (so an in-dialog request from
 * the appliance reaches the remote phone too):
 *  - encrypted (a hard phone): TLS with its manufacturer certificate, SRTP outside, RTP inside;
 *  - authenticated (CIPC under `cipc: { security-mode: authenticated }`): its configuration
 *    fetched through the appliance (TFTP from inside the namespace) says so, then TLS signaling
 *    and RTP on both legs.
 * Asserted per call: registration through the NAT, the call established at both ends, the media
 * session's modes (srtp↔rtp, then rtp↔rtp), packets both ways on both legs (appliance counters),
 * each side's recording holds the other side's tone, the outside leg on the wire (capture on
 * the veth: 10-byte SRTP tag and no clear tone, or clear RTP), and in the phone's own SIP trace
 * (baresip -s): the SDP c=/o= the phone got name the public media address, Record-Route and the
 * Via of the BYE the public interface address, and no bound or inside address ever appears.
 * Skipped (loudly) where namespaces cannot be made (topology.ts) or the peers are missing.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { cnfXml } from '../../lab/cnf-template';
import { carriesTone, isPcmu, udpPackets } from '../e2e/capture';
import {
  Baresip,
  missingBinaries,
  type Spawned,
  startCapture,
  startKamailio,
  stopPeer,
  stopPeers,
  until,
} from '../e2e/peers';
import { detectTone, readWav, toneWav } from '../e2e/wav';
import { ROOT, runCli, type Started, startCli, stopCli } from '../support/cli-process';
import { startTftpd, stopAll as stopTftpPeers } from '../tftp/peers';
import { testPki } from '../tls/harness';
import { createTopology, destroyTopology, type NatTopology, namespacesUnavailable } from './topology';

const why = namespacesUnavailable() ?? (missingBinaries().length ? `missing ${missingBinaries().join(', ')}` : '');
if (why) console.warn(`\n${'!'.repeat(78)}\n!! NAT E2E (baresip + Kamailio) SKIPPED: ${why}\n${'!'.repeat(78)}\n`);
const maybe = why ? describe.skip : describe;

// Inside: one 127.0.x subnet of its own. Ports: away from the other suites (e2e uses 17xxx).
const IN_IF = '127.0.214.1';
const IN_MTA = '127.0.214.10';
const UCM = '127.0.214.20';
const INSIDE_UA = '127.0.214.30';
const P = {
  tftp: 18069,
  sipTls: 18061,
  sccpTls: 18062,
  ucmTcp: 18060,
  ucmTftp: 18070,
  mediaMin: 18100,
  mediaMax: 18199,
  insideSip: 18030,
  insideCtrl: 18032,
  insideRtp: [18300, 18339] as [number, number],
};
const PHONES = {
  encrypted: { line: '1000', sip: 18010, ctrl: 18012, rtp: [18200, 18239] as [number, number], hz: 1100 },
  authenticated: { line: '1001', sip: 18020, ctrl: 18022, rtp: [18240, 18279] as [number, number], hz: 900 },
};
const INSIDE_HZ = 700;
const TALK_MS = 2500;
/** The CIPC's device: testPki's second phone certificate (CN=SEP0011223344AA). */
const CIPC = 'SEP0011223344AA';

/** The SIP messages of baresip's `-s` trace: what the phone sent and received, in order. */
function sipTrace(out: string, phone: string): Array<{ received: boolean; text: string }> {
  // Each entry is colour-framed: ESC[36;1m#, "<proto> <src> -> <dst>", the message, ESC[;m.
  const esc = String.fromCharCode(0x1b);
  const entry = new RegExp(`${esc}\\[36;1m#\\r?\\n\\S+ (\\S+) -> (\\S+)\\r?\\n([\\s\\S]*?)${esc}\\[;m`, 'g');
  return [...out.matchAll(entry)].map((m) => ({ received: (m[2] ?? '').startsWith(`${phone}:`), text: m[3] ?? '' }));
}

const header = (msg: string, name: string) =>
  [...msg.matchAll(new RegExp(`^${name}:\\s*(.*)$`, 'gim'))].map((m) => (m[1] ?? '').trim());

maybe('E2E through a real NAT: baresip phones, Kamailio, the appliance at its public addresses', () => {
  const work = path.join(os.tmpdir(), `pp-nat-e2e-${process.pid}-${Date.now()}`);
  const stateDir = path.join(work, 'state');
  let topo: NatTopology;
  let daemon: Started | undefined;
  let kamailio: Spawned | undefined;
  let outsideCapture: Spawned | undefined;
  let inside: Baresip;
  const remotes: Partial<Record<keyof typeof PHONES, Baresip>> = {};
  const files = { mfgCa: '', encrypted: '', authenticated: '', insideTone: '' };

  const show = async (view: string) => {
    const r = await runCli(['show', ...view.split(' '), '--json', '--state', stateDir]);
    if (r.code !== 0) throw new Error(`show ${view}: ${r.stderr}`);
    return JSON.parse(r.stdout) as unknown;
  };
  type Leg = { leg: string; mode: string; counters: { rxPackets: number; txPackets: number } };
  const mediaSessions = async () => (await show('phone-proxy media-sessions')) as Array<{ legs: Leg[] }>;

  beforeAll(async () => {
    mkdirSync(work, { recursive: true, mode: 0o700 });
    topo = createTopology(1); // nat-phone.test.ts takes the other half
    const pki = await testPki();
    files.mfgCa = path.join(work, 'mfg-ca.pem');
    files.encrypted = path.join(work, 'phone.pem');
    files.authenticated = path.join(work, 'cipc.pem');
    files.insideTone = path.join(work, 'inside-tone.wav');
    writeFileSync(files.mfgCa, pki.manufacturerCa.certPem);
    writeFileSync(files.encrypted, `${pki.phone.certPem}${pki.phone.keyPem}`, { mode: 0o600 });
    writeFileSync(files.authenticated, `${pki.phone2.certPem}${pki.phone2.keyPem}`, { mode: 0o600 });
    writeFileSync(files.insideTone, toneWav(INSIDE_HZ, 60));

    const tftpRoot = path.join(work, 'tftproot');
    mkdirSync(tftpRoot, { recursive: true, mode: 0o755 });
    // A nonsecure UCM's configuration for it; a CIPC load makes the appliance treat it as a CIPC.
    const cnf = cnfXml({
      mac: CIPC.slice(3),
      ucmAddress: UCM,
      sipPort: P.ucmTcp,
      sipTlsPort: P.ucmTcp + 1,
      tftpAddress: UCM,
      line: PHONES.authenticated.line,
      displayName: 'CIPC',
    }).replace(/<loadInformation>[^<]*</, '<loadInformation>CIPC-8-6-5-1<');
    writeFileSync(path.join(tftpRoot, `${CIPC}.cnf.xml`), cnf, { mode: 0o644 });
    await startTftpd(tftpRoot, UCM, P.ucmTftp);

    const t = topo;
    const doc = parseDocument(readFileSync(path.join(ROOT, 'policies/default.yaml'), 'utf8'));
    doc.set('interfaces', [
      { name: 'outside', address: `${t.bound.interface}/24`, role: 'outside', 'public-address': t.public.interface },
      { name: 'inside', address: `${IN_IF}/24`, role: 'inside' },
    ]);
    doc.set('cluster', {
      mode: 'nonsecure',
      members: [{ name: 'kamailio', address: UCM, interface: 'inside', 'sip-port': P.ucmTcp }],
    });
    doc.set('tftp-server', { address: UCM, interface: 'inside', port: P.ucmTftp });
    doc.set('media-termination', {
      addresses: [
        { interface: 'outside', address: t.bound.media, 'public-address': t.public.media },
        { interface: 'inside', address: IN_MTA },
      ],
      'rtp-min-port': P.mediaMin,
      'rtp-max-port': P.mediaMax,
      workers: 1,
    });
    doc.set('trustpoints', [
      { name: 'pp-server', enroll: 'self', subject: 'CN=phone-proxy,O=phone-proxy' },
      { name: 'mfg-ca', certificate: files.mfgCa },
    ]);
    doc.set('ctl-file', {
      name: 'ctl',
      records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: t.public.interface }],
    });
    doc.set('tls-proxy', { 'server-trustpoint': 'pp-server', 'client-trustpoints': ['mfg-ca'] });
    doc.set('cipc', { 'security-mode': 'authenticated' });
    doc.set('listen', { tftp: P.tftp, 'sip-tls': P.sipTls, 'sccp-tls': P.sccpTls });
    doc.set('control', {});
    const policyFile = path.join(work, 'policy.yaml');
    writeFileSync(policyFile, doc.toString());
    daemon = await startCli(['--policy', policyFile, '--state', stateDir], 30_000);
    if (!daemon.output().includes('ready;')) throw new Error(`appliance did not start:\n${daemon.output()}`);

    kamailio = await startKamailio({ dir: path.join(work, 'kamailio'), address: UCM, tcpPort: P.ucmTcp });
    // The outside leg as it crosses the NAT's appliance side (bound addresses on the wire).
    outsideCapture = await startCapture(
      path.join(work, 'outside.pcap'),
      `udp portrange ${P.mediaMin}-${P.mediaMax}`,
      t.veth,
    );
    inside = new Baresip({
      name: 'inside',
      dir: path.join(work, 'inside'),
      address: INSIDE_UA,
      sipPort: P.insideSip,
      ctrlPort: P.insideCtrl,
      rtpPorts: P.insideRtp,
      toneFile: files.insideTone,
      // As in the loopback E2E: baresip's RTP socket (0.0.0.0) sends from 127.0.0.1, say so.
      netInterface: '127.0.0.1',
      account: `<sip:2000@${UCM}:${P.ucmTcp};transport=tcp>;regint=600;answermode=auto;audio_codecs=PCMU`,
    });
    await inside.start();
    await inside.registered();
  }, 60_000);

  afterAll(async () => {
    writeFileSync(path.join(work, 'appliance.log'), daemon?.output() ?? '');
    writeFileSync(path.join(work, 'kamailio.log'), kamailio?.output() ?? '');
    for (const [name, ua] of Object.entries({ ...remotes, inside }))
      writeFileSync(path.join(work, `${name}.log`), ua?.proc?.output() ?? '');
    for (const ua of [...Object.values(remotes), inside]) await ua?.stop();
    await stopPeer(outsideCapture);
    await stopPeer(kamailio);
    if (daemon) await stopCli(daemon);
    stopTftpPeers();
    stopPeers();
    const left = destroyTopology(topo);
    if (process.env.E2E_KEEP) console.warn(`NAT E2E: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
    if (left.length) throw new Error(`NAT topology not removed: ${left.join('; ')}`);
  }, 30_000);

  /** A remote baresip inside the phone namespace, registered over TLS at the public address. */
  async function remotePhone(kind: keyof typeof PHONES): Promise<Baresip> {
    const ph = PHONES[kind];
    const dir = path.join(work, kind);
    const tone = path.join(work, `${kind}-tone.wav`);
    writeFileSync(tone, toneWav(ph.hz, 60));
    const ua = new Baresip({
      name: kind,
      dir,
      netns: topo.ns,
      sipTrace: true,
      // baresip binds 0.0.0.0 in the namespace; it leaves from the home WAN address.
      address: topo.phone.natted,
      netInterface: topo.phone.natted,
      sipPort: ph.sip,
      ctrlPort: ph.ctrl,
      rtpPorts: ph.rtp,
      toneFile: tone,
      certificate: files[kind],
      account: `<sip:${ph.line}@${topo.public.interface}:${P.sipTls};transport=tls>;regint=600;answermode=auto;${kind === 'encrypted' ? 'mediaenc=srtp-mand;' : ''}audio_codecs=PCMU`,
    });
    remotes[kind] = ua;
    await ua.start();
    await ua.registered();
    return ua;
  }

  /** One call from the remote phone to the inside phone, which hangs up; what was seen. */
  async function call(remote: Baresip) {
    const before = new Set(readdirSync(remote.recordDir));
    const beforeIn = new Set(readdirSync(inside.recordDir));
    const dialAt = Date.now();
    const dial = await remote.command('dial', `sip:2000@${topo.public.interface}:${P.sipTls};transport=tls`);
    expect(dial.ok).toBe(true);
    await inside.waitEvent('CALL_ESTABLISHED', dialAt);
    await remote.waitEvent('CALL_ESTABLISHED', dialAt);
    await new Promise((r) => setTimeout(r, TALK_MS));
    const sessions = await mediaSessions();
    const endAt = Date.now();
    await inside.command('hangup');
    await remote.waitEvent('CALL_CLOSED', endAt);
    await inside.waitEvent('CALL_CLOSED', endAt);
    await until(async () => ((await mediaSessions()).length === 0 ? true : undefined), 'media session released', 5000);
    const recordings = (ua: Baresip, seen: Set<string>) =>
      readdirSync(ua.recordDir)
        .filter((f) => f.endsWith('-dec.wav') && !seen.has(f))
        .sort()
        .map((f) => readWav(readFileSync(path.join(ua.recordDir, f)), f));
    return {
      dialAt,
      endAt,
      sessions,
      remoteHeard: recordings(remote, before),
      insideHeard: recordings(inside, beforeIn),
      trace: sipTrace(remote.proc?.output() ?? '', topo.phone.natted).filter((m) => m.text.includes('Call-ID')),
    };
  }

  /** What every call through the NAT must show, whatever the phone's mode. */
  function expectThroughNat(c: Awaited<ReturnType<typeof call>>, hz: number, outsideMode: string) {
    const t = topo;
    // The appliance's media session: the outside leg in the phone's mode, RTP inside, packets
    // both ways on both legs (150 per direction per 3 s; half of that is plenty).
    expect(c.sessions).toHaveLength(1);
    const legs = (c.sessions[0] as { legs: Leg[] }).legs.map((l) => ({
      leg: l.leg,
      mode: l.mode,
      rx: l.counters.rxPackets > TALK_MS / 20 / 2,
      tx: l.counters.txPackets > TALK_MS / 20 / 2,
    }));
    expect(legs).toEqual([
      { leg: 'outside', mode: outsideMode, rx: true, tx: true },
      { leg: 'inside', mode: 'rtp', rx: true, tx: true },
    ]);
    // Audio both ways: each recording holds the other side's tone, for most of the talk time.
    for (const [label, pcms, want] of [
      ['remote heard inside', c.remoteHeard, INSIDE_HZ],
      ['inside heard remote', c.insideHeard, hz],
    ] as const) {
      const frames = pcms.reduce((n, pcm) => n + detectTone(pcm, want).toneFrames, 0);
      expect({ label, enough: frames * 0.02 >= TALK_MS / 1000 - 0.7 }).toEqual({ label, enough: true });
    }
    // What the phone saw (its own trace): the answer's c=/o= are the public media address, the
    // route set and the BYE's Via the public interface address.
    const received = c.trace.filter((m) => m.received).map((m) => m.text);
    const ok = received.find((m) => /^SIP\/2\.0 200/.test(m) && /^CSeq:\s*\d+ INVITE/im.test(m));
    expect(ok).toBeDefined();
    const sdp = (ok as string).split(/\r?\n\r?\n/)[1] ?? '';
    expect(sdp.match(/^c=.*$/gm)).toEqual([`c=IN IP4 ${t.public.media}`]);
    expect(sdp).toMatch(new RegExp(`^o=.* IN IP4 ${t.public.media.replace(/\./g, '\\.')}\\s*$`, 'm'));
    expect(sdp).toMatch(outsideMode === 'rtp' ? /^m=audio \d+ RTP\/AVP /m : /^m=audio \d+ RTP\/SAVP /m);
    const rr = header(ok as string, 'Record-Route').join(',');
    expect(rr).toContain(t.public.interface);
    const bye = received.find((m) => m.startsWith('BYE '));
    expect(bye).toBeDefined();
    expect(header(bye as string, 'Via')[0]).toContain(`${t.public.interface}:${P.sipTls}`);
    // Nothing the phone received names the appliance's bound addresses or anything inside, but
    // for the Vias under the appliance's own in requests from inside: a proxy keeps the Vias of
    // the hops before it (RFC 3261 §16.6), and the phone never sends to them.
    const seen = received.map((m) => m.replace(/^(Via:[^\n]*\n)((?:Via:[^\n]*\n)+)/m, (_all, top: string) => top));
    const leaks = [t.bound.interface, t.bound.media, IN_IF, IN_MTA, UCM, INSIDE_UA, '127.0.0.1'].filter((a) =>
      seen.some((m) => new RegExp(`(^|[^0-9.])${a.replace(/\./g, '\\.')}([^0-9]|$)`).test(m)),
    );
    expect(leaks).toEqual([]);
    return [c.dialAt, c.endAt] as const;
  }

  const outsideWire: Array<{ mode: 'srtp' | 'rtp'; hz: number; window: readonly [number, number] }> = [];

  test('an encrypted phone behind the NAT registers over TLS and calls: SRTP outside, RTP inside, public addresses only', async () => {
    const remote = await remotePhone('encrypted');
    const sessions = JSON.stringify(await show('tls-proxy sessions'));
    expect(sessions).toContain('SEP001122334455');
    // The appliance saw the phone at its NAT'd address, reaching the bound interface address.
    expect(sessions).toContain(topo.phone.natted);
    const c = await call(remote);
    const w = expectThroughNat(c, PHONES.encrypted.hz, 'srtp');
    outsideWire.push({ mode: 'srtp', hz: PHONES.encrypted.hz, window: w });
  }, 60_000);

  test('an authenticated CIPC behind the NAT: its configuration says so, TLS signaling, RTP on both legs', async () => {
    // The CIPC boots through the appliance from inside the namespace: its configuration is
    // rewritten to authenticated (deviceSecurityMode 2) and names the public address.
    const local = path.join(work, `${CIPC}.cnf.xml`);
    const tftp = ['-4', '-m', 'binary', topo.public.interface, String(P.tftp), '-c', 'get', `${CIPC}.cnf.xml`, local];
    const got = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile('ip', ['netns', 'exec', topo.ns, 'tftp', ...tftp], { timeout: 15_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      );
    });
    expect(got).toEqual({ code: 0, out: '' });
    const cnf = readFileSync(local, 'utf8');
    expect(cnf).toContain('<deviceSecurityMode>2</deviceSecurityMode>');
    expect(cnf).toContain(`<processNodeName>${topo.public.interface}</processNodeName>`);
    expect(JSON.stringify(await show('phone-proxy secure-phones'))).toContain(CIPC);

    const remote = await remotePhone('authenticated');
    expect(JSON.stringify(await show('tls-proxy sessions'))).toContain(CIPC);
    // The leg decision the appliance logged for it: TLS toward the phone, RTP outside.
    expect(daemon?.output()).toMatch(new RegExp(`"phone":"${CIPC}"[^\\n]*"outsideMedia":"rtp"`));
    const c = await call(remote);
    const w = expectThroughNat(c, PHONES.authenticated.hz, 'rtp');
    outsideWire.push({ mode: 'rtp', hz: PHONES.authenticated.hz, window: w });
  }, 60_000);

  test('on the wire behind the NAT: SRTP (10-byte tag, no clear tone) for the encrypted phone, clear RTP for the CIPC', async () => {
    expect(outsideWire.map((w) => w.mode)).toEqual(['srtp', 'rtp']);
    await stopPeer(outsideCapture);
    outsideCapture = undefined;
    const packets = udpPackets(path.join(work, 'outside.pcap'), P.mediaMin, P.mediaMax).filter((p) =>
      isPcmu(p.payload),
    );
    for (const w of outsideWire) {
      const label = `${w.mode} call`;
      const inCall = packets.filter(
        (p) => p.time * 1000 >= w.window[0] && p.time * 1000 <= w.window[1] + 500 && p.payload.length >= 172,
      );
      const fromPhone = inCall.filter((p) => p.src === topo.phone.natted && p.dst === topo.bound.media);
      const toPhone = inCall.filter((p) => p.src === topo.bound.media && p.dst === topo.phone.natted);
      expect({ label, from: fromPhone.length > 100, to: toPhone.length > 100 }).toEqual({
        label,
        from: true,
        to: true,
      });
      const sizes = [...new Set([...fromPhone, ...toPhone].map((p) => p.payload.length))];
      expect({ label, sizes }).toEqual({ label, sizes: [w.mode === 'srtp' ? 12 + 160 + 10 : 12 + 160] });
      const clear = (ps: typeof inCall, hz: number) => ps.filter((p) => carriesTone(p.payload, hz)).length / ps.length;
      if (w.mode === 'srtp') {
        expect({ label, clear: clear(fromPhone, w.hz) + clear(toPhone, INSIDE_HZ) }).toEqual({ label, clear: 0 });
      } else {
        expect({ label, clear: clear(fromPhone, w.hz) > 0.9 && clear(toPhone, INSIDE_HZ) > 0.9 }).toEqual({
          label,
          clear: true,
        });
      }
    }
  }, 30_000);
});
