/**
 * Issue 9, E2E acceptance: a secure call through the whole appliance with peers no one here
 * wrote. Kamailio is the UCM stand-in (registrar + record-routing proxy), tftpd-hpa its TFTP
 * server, baresip the phones: the remote one over TLS with a client certificate from a test
 * manufacturing CA and mandatory SDES-SRTP, the inside one over TCP with plain RTP. The real
 * daemon runs as a child process (`phone-proxy start`), as an operator runs it.
 *
 * Per cluster mode (nonsecure, then mixed, on one state directory): TFTP boot through the
 * appliance, both phones registered, a call each way with hold/resume, recordings checked for
 * the other side's tone, a capture checked for SRTP outside / RTP inside / TLS without clear
 * SIP, and the media session released at hang-up. In mixed mode the policy lets the appliance
 * offer GCM to the remote phone (issue 17): the inside-placed call runs AEAD_AES_256_GCM there,
 * decrypted by baresip (its recording), by the appliance (the inside phone's) and by capture.ts.
 *
 * Run: `npx tsc -p . && npx jest test/e2e` (about 30 s). E2E_KEEP=1 keeps the temp dir (peer
 * logs, capture, recordings). baresip 1.0 binds
 * 0.0.0.0, so its packets leave from 127.0.0.1 whatever address it is given; the remote one is
 * latched by the appliance, the inside one advertises 127.0.0.1 (see peers.ts for Kamailio's
 * stand-in behaviour).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { ROOT, runCli, type Started, startCli, stopCli } from '../support/cli-process';
import { startTftpd, stopAll as stopTftpPeers, tftpHpaGet } from '../tftp/peers';
import { testPki } from '../tls/harness';
import { callKeys, carriesTone, isPcmu, seqOf, ssrcOf, type UdpPacket, udpPackets, unprotectAll } from './capture';
import {
  Baresip,
  missingBinaries,
  type Spawned,
  sipOverTls,
  socketsOnPorts,
  startCapture,
  startKamailio,
  stopPeer,
  stopPeers,
  tcpListening,
  tsharkFields,
  until,
} from './peers';
import { detectTone, readWav, toneWav } from './wav';

const missing = missingBinaries();
if (missing.length > 0) {
  // Loud on purpose: CI installs these (see .ci/run), so a skip there is a setup bug.
  console.warn(
    `\n${'!'.repeat(78)}\n!! E2E SKIPPED: missing ${missing.join(', ')} (Debian: kamailio kamailio-tls-modules baresip-core tshark tftpd-hpa tftp-hpa)\n${'!'.repeat(78)}\n`,
  );
}
const maybe = missing.length > 0 ? describe.skip : describe;
// Addresses: one 127.0.x subnet per side, one address per peer, so captures read well.
const OUT_IF = '127.0.61.1';
const OUT_MTA = '127.0.61.10';
const REMOTE_UA = '127.0.61.100';
const IN_IF = '127.0.62.1';
const IN_MTA = '127.0.62.10';
const UCM = '127.0.62.20';
const INSIDE_UA = '127.0.62.30';
// Ports: below the ephemeral range and away from the other suites.
const P = {
  tftp: 17069,
  sipTls: 17061,
  sccpTls: 17062,
  ucmTcp: 17060,
  ucmTls: 17065,
  ucmTftp: 17070,
  mediaMin: 17100,
  mediaMax: 17199,
  remoteSip: 17010,
  remoteCtrl: 17012,
  remoteRtp: [17200, 17239] as [number, number],
  insideSip: 17020,
  insideCtrl: 17022,
  insideRtp: [17300, 17339] as [number, number],
};
const MAC = '001122334455';
const DEVICE = `SEP${MAC}`;
/** Tones: the remote phone sends REMOTE_HZ, the inside phone INSIDE_HZ (not harmonics). */
const REMOTE_HZ = 1100;
const INSIDE_HZ = 700;
/** Talk time per call segment (ms). */
const TALK_MS = 2500;

/** Created when the suite runs (not when it is skipped), removed after unless E2E_KEEP is set. */
const work = path.join(os.tmpdir(), `pp-e2e-${process.pid}-${Date.now()}`);
const stateDir = path.join(work, 'state');

const show = async (view: string) => {
  const r = await runCli(['show', ...view.split(' '), '--json', '--state', stateDir]);
  if (r.code !== 0) throw new Error(`show ${view}: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
};
const mediaSessions = async () => (await show('phone-proxy media-sessions')) as Array<{ id: string; legs: unknown[] }>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A minimal SEP<MAC>.cnf.xml as UCM serves it (SIP phone, security mode as given). */
function cnfXml(securityMode: 1 | 2 | 3): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<device>
  <fullConfig>true</fullConfig>
  <deviceProtocol>SIP</deviceProtocol>
  <devicePool>
    <callManagerGroup>
      <members>
        <member priority="0">
          <callManager>
            <ports><sipPort>${P.ucmTcp}</sipPort><securedSipPort>${P.ucmTls}</securedSipPort></ports>
            <processNodeName>${UCM}</processNodeName>
          </callManager>
        </member>
      </members>
    </callManagerGroup>
  </devicePool>
  <deviceSecurityMode>${securityMode}</deviceSecurityMode>
  <loadInformation>SIP88xx.12-8-1-0001-455</loadInformation>
</device>
`;
}

interface CallRecord {
  /** Which UA placed the call. */
  caller: 'remote' | 'inside';
  /** ms since the epoch (capture timestamps are compared with these). */
  dialAt: number;
  establishedAt: number;
  holdAt?: number;
  resumeAt?: number;
  /** The remote phone's SDES keys (its own, the appliance's) after set-up and after resume. */
  keys: Array<{ at: number; local: Buffer; remote: Buffer; suite: string }>;
  endAt: number;
  /** Decoded-audio recordings written during the call, oldest first. */
  remoteFiles: string[];
  insideFiles: string[];
}

/** Recordings the sndfile filter wrote since `before` (decoded = what the UA received). */
function newRecordings(dir: string, before: Set<string>): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('-dec.wav') && !before.has(f))
    .sort()
    .map((f) => path.join(dir, f));
}

function scenario(mode: 'nonsecure' | 'mixed') {
  const dir = path.join(work, mode);
  const pcap = path.join(dir, 'capture.pcap');
  let daemon: Started | undefined;
  let kamailio: Spawned | undefined;
  let capture: Spawned | undefined;
  let remote: Baresip;
  let inside: Baresip;
  const calls: CallRecord[] = [];
  let packets: UdpPacket[] = [];

  beforeAll(async () => {
    const pki = await testPki();
    const files = {
      mfgCa: path.join(work, 'mfg-ca.pem'),
      ucmCert: path.join(work, 'ucm.crt.pem'),
      ucmKey: path.join(work, 'ucm.key.pem'),
      phone: path.join(work, 'phone.pem'),
      remoteTone: path.join(work, 'remote-tone.wav'),
      insideTone: path.join(work, 'inside-tone.wav'),
    };
    writeFileSync(files.mfgCa, pki.manufacturerCa.certPem);
    writeFileSync(files.ucmCert, pki.ucm.certPem);
    writeFileSync(files.ucmKey, pki.ucm.keyPem, { mode: 0o600 });
    writeFileSync(files.phone, `${pki.phone.certPem}${pki.phone.keyPem}`, { mode: 0o600 });
    // Longer than the whole scenario: a WAV source ends the call when the file ends.
    writeFileSync(files.remoteTone, toneWav(REMOTE_HZ, 40));
    writeFileSync(files.insideTone, toneWav(INSIDE_HZ, 40));

    // UCM's TFTP server with the phone's configuration file.
    const tftpRoot = path.join(dir, 'tftproot');
    mkdirSync(tftpRoot, { recursive: true, mode: 0o755 });
    writeFileSync(path.join(tftpRoot, `${DEVICE}.cnf.xml`), cnfXml(mode === 'mixed' ? 2 : 1), { mode: 0o644 });
    await startTftpd(tftpRoot, UCM, P.ucmTftp);

    // The policy: the default one with this test's addresses, ports and trust anchors.
    const doc = parseDocument(readFileSync(path.join(ROOT, 'policies/default.yaml'), 'utf8'));
    doc.set('interfaces', [
      { name: 'outside', address: `${OUT_IF}/24`, role: 'outside' },
      { name: 'inside', address: `${IN_IF}/24`, role: 'inside' },
    ]);
    doc.set('cluster', {
      mode,
      members: [
        {
          name: 'kamailio',
          address: UCM,
          interface: 'inside',
          'sip-port': P.ucmTcp,
          'sip-tls-port': P.ucmTls,
          ...(mode === 'mixed' ? { trustpoint: 'ucm' } : {}),
        },
      ],
    });
    doc.set('tftp-server', { address: UCM, interface: 'inside', port: P.ucmTftp });
    doc.set('media-termination', {
      addresses: [
        { interface: 'outside', address: OUT_MTA },
        { interface: 'inside', address: IN_MTA },
      ],
      'rtp-min-port': P.mediaMin,
      'rtp-max-port': P.mediaMax,
      workers: 1,
      // Issue 17: in mixed mode the remote phone is offered GCM first (baresip takes AEAD_AES_256_GCM
      // when offered; its own offers carry AES_CM_128_HMAC_SHA1_80 only).
      ...(mode === 'mixed' ? { 'srtp-gcm-sides': ['outside'] } : {}),
    });
    doc.set('trustpoints', [
      { name: 'pp-server', enroll: 'self', subject: 'CN=phone-proxy,O=phone-proxy' },
      { name: 'ldc-issuer', enroll: 'local-ca', subject: 'CN=phone-proxy LDC issuer,O=phone-proxy' },
      { name: 'mfg-ca', certificate: files.mfgCa },
      { name: 'ucm', certificate: files.ucmCert },
    ]);
    doc.set('ctl-file', {
      name: 'ctl',
      records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: OUT_IF }],
    });
    doc.set('tls-proxy', {
      'server-trustpoint': 'pp-server',
      'ldc-issuer': 'ldc-issuer',
      'client-trustpoints': ['mfg-ca'],
    });
    doc.set('listen', { tftp: P.tftp, 'sip-tls': P.sipTls, 'sccp-tls': P.sccpTls });
    doc.set('control', {});
    const policyFile = path.join(dir, 'policy.yaml');
    writeFileSync(policyFile, doc.toString());
    daemon = await startCli(['--policy', policyFile, '--state', stateDir], 30_000);
    if (!daemon.output().includes('ready;')) throw new Error(`appliance did not start:\n${daemon.output()}`);

    kamailio = await startKamailio({
      dir: path.join(dir, 'kamailio'),
      address: UCM,
      tcpPort: P.ucmTcp,
      tls:
        mode === 'mixed'
          ? {
              port: P.ucmTls,
              certFile: files.ucmCert,
              keyFile: files.ucmKey,
              // The appliance mints the phone's LDC with this issuer; Kamailio trusts it.
              caFile: path.join(stateDir, 'certs', 'ldc-issuer.crt.pem'),
            }
          : undefined,
    });
    capture = await startCapture(
      pcap,
      `tcp port ${P.sipTls} or tcp port ${P.ucmTcp} or tcp port ${P.ucmTls} or udp portrange ${P.mediaMin}-${P.insideRtp[1]}`,
    );

    remote = new Baresip({
      name: 'remote',
      dir: path.join(dir, 'remote'),
      address: REMOTE_UA,
      sipPort: P.remoteSip,
      ctrlPort: P.remoteCtrl,
      rtpPorts: P.remoteRtp,
      toneFile: files.remoteTone,
      certificate: files.phone,
      account: `<sip:1000@${OUT_IF}:${P.sipTls};transport=tls>;regint=600;answermode=auto;mediaenc=srtp-mand;audio_codecs=PCMU`,
    });
    inside = new Baresip({
      name: 'inside',
      dir: path.join(dir, 'inside'),
      address: INSIDE_UA,
      sipPort: P.insideSip,
      ctrlPort: P.insideCtrl,
      rtpPorts: P.insideRtp,
      toneFile: files.insideTone,
      // The inside leg only accepts media from the address the SDP names (no latching there), and
      // baresip's RTP socket (bound to 0.0.0.0) sends from 127.0.0.1: advertise that.
      netInterface: '127.0.0.1',
      account: `<sip:2000@${UCM}:${P.ucmTcp};transport=tcp>;regint=600;answermode=auto;audio_codecs=PCMU`,
    });
  }, 60_000);

  afterAll(async () => {
    // Logs of every peer next to the capture, for a failed run (E2E_KEEP=1 keeps the directory).
    writeFileSync(path.join(dir, 'appliance.log'), daemon?.output() ?? '');
    writeFileSync(path.join(dir, 'kamailio.log'), kamailio?.output() ?? '');
    writeFileSync(path.join(dir, 'remote.log'), remote?.proc?.output() ?? '');
    writeFileSync(path.join(dir, 'inside.log'), inside?.proc?.output() ?? '');
    await remote?.stop();
    await inside?.stop();
    await stopPeer(capture);
    await stopPeer(kamailio);
    if (daemon) await stopCli(daemon);
    stopTftpPeers();
    stopPeers();
  }, 30_000);

  test('TFTP boot through the appliance: configuration rewritten to encrypted, phone in secure-phones', async () => {
    const local = path.join(dir, `${DEVICE}.cnf.xml`);
    const r = await tftpHpaGet(OUT_IF, P.tftp, `${DEVICE}.cnf.xml`, local);
    expect(r.code).toBe(0);
    expect(readFileSync(local, 'utf8')).toContain('<deviceSecurityMode>3</deviceSecurityMode>');
    expect(JSON.stringify(await show('phone-proxy secure-phones'))).toContain(DEVICE);
  });

  test('both phones register: remote over TLS with its certificate through the appliance, inside directly', async () => {
    await remote.start();
    await inside.start();
    // REGISTER_OK can precede the ctrl_tcp connection: ask for the registration state instead.
    await remote.registered();
    await inside.registered();
    const sessions = JSON.stringify(await show('tls-proxy sessions'));
    expect(sessions).toContain(DEVICE);
    // The appliance and (mixed mode) Kamailio refuse a TLS client without a certificate.
    // (The same probe with the phone's certificate is answered, so the probe can see SIP.)
    expect(sipOverTls(OUT_IF, P.sipTls, path.join(work, 'phone.pem'), 1500)).toContain('SIP/2.0 200');
    expect(sipOverTls(OUT_IF, P.sipTls)).not.toContain('SIP/2.0');
    if (mode === 'mixed') {
      expect(sipOverTls(UCM, P.ucmTls)).not.toContain('SIP/2.0');
      // Kamailio verified the certificate the appliance presented upstream: the phone's LDC,
      // issued by the appliance's LDC issuer (which Kamailio was told to trust).
      expect(kamailio?.output()).toMatch(
        /tls peer verified=1 subject=[^\n]*SEP001122334455[^\n]*issuer=[^\n]*LDC issuer/,
      );
    }
    // The leg decision for this cluster: TLS with the phone's LDC upstream in mixed mode.
    expect(daemon?.output()).toMatch(
      new RegExp(`"phone":"${DEVICE}"[^\\n]*"upstream":"${mode === 'mixed' ? 'tls' : 'tcp'}","insideMedia":"rtp"`),
    );
  });

  test('call remote → inside: answered, hold and resume, hang-up releases the media session', async () => {
    const before = new Set(readdirSync(remote.recordDir));
    const beforeIn = new Set(readdirSync(inside.recordDir));
    const dialAt = Date.now();
    expect((await remote.command('dial', `sip:2000@${OUT_IF}:${P.sipTls};transport=tls`)).ok).toBe(true);
    await inside.waitEvent('CALL_ESTABLISHED', dialAt);
    await remote.waitEvent('CALL_ESTABLISHED', dialAt);
    const establishedAt = Date.now();
    expect(await mediaSessions()).toHaveLength(1);
    expect(JSON.stringify(await show('phone-proxy signaling-sessions'))).toContain(DEVICE);
    const keys = [{ at: establishedAt, ...callKeys((await remote.command('callstat')).data) }];
    await sleep(TALK_MS);
    const holdAt = Date.now();
    expect((await remote.command('hold')).ok).toBe(true);
    await sleep(800);
    const resumeAt = Date.now();
    expect((await remote.command('resume')).ok).toBe(true);
    await sleep(500);
    keys.push({ at: resumeAt, ...callKeys((await remote.command('callstat')).data) });
    await sleep(TALK_MS - 500);
    const endAt = Date.now();
    await remote.command('hangup');
    await remote.waitEvent('CALL_CLOSED', endAt);
    await inside.waitEvent('CALL_CLOSED', endAt);
    await until(async () => ((await mediaSessions()).length === 0 ? true : undefined), 'media session released', 5000);
    calls.push({
      caller: 'remote',
      dialAt,
      establishedAt,
      holdAt,
      resumeAt,
      endAt,
      keys,
      remoteFiles: newRecordings(remote.recordDir, before),
      insideFiles: newRecordings(inside.recordDir, beforeIn),
    });
  }, 30_000);

  test('call inside → remote (auto-answer): answered, hang-up releases the media session', async () => {
    const before = new Set(readdirSync(remote.recordDir));
    const beforeIn = new Set(readdirSync(inside.recordDir));
    const dialAt = Date.now();
    expect((await inside.command('dial', `sip:1000@${UCM}:${P.ucmTcp};transport=tcp`)).ok).toBe(true);
    await remote.waitEvent('CALL_ESTABLISHED', dialAt);
    await inside.waitEvent('CALL_ESTABLISHED', dialAt);
    const establishedAt = Date.now();
    expect(await mediaSessions()).toHaveLength(1);
    const keys = [{ at: establishedAt, ...callKeys((await remote.command('callstat')).data) }];
    await sleep(TALK_MS);
    const endAt = Date.now();
    await inside.command('hangup');
    await remote.waitEvent('CALL_CLOSED', endAt);
    await inside.waitEvent('CALL_CLOSED', endAt);
    await until(async () => ((await mediaSessions()).length === 0 ? true : undefined), 'media session released', 5000);
    calls.push({
      caller: 'inside',
      dialAt,
      establishedAt,
      endAt,
      keys,
      remoteFiles: newRecordings(remote.recordDir, before),
      insideFiles: newRecordings(inside.recordDir, beforeIn),
    });
  }, 30_000);

  test("each side's recording holds the other side's tone, never its own", () => {
    expect(calls.map((c) => c.caller)).toEqual(['remote', 'inside']);
    for (const c of calls) {
      // baresip 1.0's sndfile stops recording at a re-INVITE (hold): the first recording covers
      // the talk before hold; after resume the capture proves the audio (next test).
      const talkSeconds = ((c.holdAt ?? c.endAt) - c.establishedAt) / 1000;
      for (const [files, want, own, who] of [
        [c.remoteFiles, INSIDE_HZ, REMOTE_HZ, 'remote'],
        [c.insideFiles, REMOTE_HZ, INSIDE_HZ, 'inside'],
      ] as const) {
        const label = `${c.caller}-placed call, ${who} recording`;
        expect({ label, files: files.length > 0 }).toEqual({ label, files: true });
        const pcm = readWav(readFileSync(files[0] as string), files[0]);
        const heard = detectTone(pcm, want);
        // 20 ms frames of the other side's tone, for the talk time less 0.7 s of set-up slack.
        expect({ label, enough: heard.toneFrames * 0.02 >= talkSeconds - 0.7 }).toEqual({ label, enough: true });
        expect({ label, own: detectTone(pcm, own).toneFrames }).toEqual({ label, own: 0 });
      }
    }
  });

  test('capture: SRTP outside (the negotiated suite: 10-byte tag, or GCM in mixed mode; no clear tone), plain RTP inside, audio after resume', async () => {
    await stopPeer(capture);
    capture = undefined;
    packets = udpPackets(pcap, P.remoteRtp[0], P.insideRtp[1]).filter((p) => isPcmu(p.payload));
    const outside = packets.filter((p) => p.src === OUT_MTA || p.dst === OUT_MTA);
    const insideLeg = packets.filter((p) => p.src === IN_MTA || p.dst === IN_MTA);
    expect(outside.length).toBeGreaterThan(200);
    expect(insideLeg.length).toBeGreaterThan(200);

    // Outside: every RTP packet is 12 + 160 + the suite's tag (10 bytes for AES_CM_128_HMAC_SHA1_80,
    // 16 for AEAD_AES_256_GCM: the inside-placed call in mixed mode), and no payload, read as
    // PCMU, carries either tone.
    expect(calls.map((c) => c.keys[0]?.suite)).toEqual([
      'AES_CM_128_HMAC_SHA1_80',
      mode === 'mixed' ? 'AEAD_AES_256_GCM' : 'AES_CM_128_HMAC_SHA1_80',
    ]);
    expect([...new Set(outside.map((p) => p.payload.length))].sort()).toEqual(
      mode === 'mixed' ? [12 + 160 + 10, 12 + 160 + 16] : [12 + 160 + 10],
    );
    expect(outside.filter((p) => carriesTone(p.payload, REMOTE_HZ) || carriesTone(p.payload, INSIDE_HZ))).toEqual([]);

    // Inside: plain 12 + 160 bytes carrying the sender's tone, from the first packet on.
    const fromInsideUa = insideLeg.filter((p) => p.dst === IN_MTA);
    expect([...new Set(fromInsideUa.map((p) => p.payload.length))]).toEqual([12 + 160]);
    expect(fromInsideUa.filter((p) => carriesTone(p.payload, INSIDE_HZ)).length / fromInsideUa.length).toBeGreaterThan(
      0.95,
    );
    const toInsideUa = insideLeg.filter((p) => p.src === IN_MTA);
    expect([...new Set(toInsideUa.map((p) => p.payload.length))]).toEqual([12 + 160]);
    expect(toInsideUa.filter((p) => carriesTone(p.payload, REMOTE_HZ)).length / toInsideUa.length).toBeGreaterThan(
      0.95,
    );

    // Hold/resume: after the resume, the remote's tone keeps reaching the inside phone in clear.
    const c = calls[0] as CallRecord;
    const after = (p: UdpPacket) => p.time * 1000 > (c.resumeAt as number) + 300 && p.time * 1000 < c.endAt;
    const expected = ((c.endAt - (c.resumeAt as number) - 300) / 20) * 0.8;
    expect(toInsideUa.filter((p) => after(p) && carriesTone(p.payload, REMOTE_HZ)).length).toBeGreaterThan(expected);

    // Outside, with the keys the remote phone negotiated (werift's SRTP, or capture.ts's RFC 7714
    // code on node:crypto for GCM; not the appliance's libsrtp):
    // every packet authenticates, and decrypts to the sender's tone; after the resume too.
    if (process.env.E2E_KEEP)
      writeFileSync(
        path.join(dir, 'keys.json'),
        JSON.stringify(
          calls.map((x) =>
            x.keys.map((k) => ({ at: k.at, local: k.local.toString('hex'), remote: k.remote.toString('hex') })),
          ),
        ),
      );
    calls.forEach((call, n) => {
      // Up to half a second after the hang-up, but never into the next call.
      const end = Math.min(call.endAt + 500, calls[n + 1]?.dialAt ?? Number.POSITIVE_INFINITY);
      const inCall = (p: UdpPacket) => p.time * 1000 >= call.dialAt && p.time * 1000 < end;
      for (const [dirName, pick, keyOf, hz] of [
        ['remote → appliance', (p: UdpPacket) => p.dst === OUT_MTA, (k: CallRecord['keys'][0]) => k.local, REMOTE_HZ],
        ['appliance → remote', (p: UdpPacket) => p.src === OUT_MTA, (k: CallRecord['keys'][0]) => k.remote, INSIDE_HZ],
      ] as const) {
        const label = `${call.caller}-placed call, ${dirName}`;
        const stream = outside.filter((p) => inCall(p) && pick(p)).sort((a, b) => a.time - b.time);
        const gcm = call.keys[0]?.suite === 'AEAD_AES_256_GCM';
        expect({ label, lengths: [...new Set(stream.map((p) => p.payload.length))] }).toEqual({
          label,
          lengths: [12 + 160 + (gcm ? 16 : 10)],
        });
        // One SRTP session per key in force (a re-INVITE may re-key), fed in order so the
        // rollover counter follows the sequence numbers.
        let failed = 0;
        const plain: Array<{ time: number; rtp: Buffer }> = [];
        call.keys.forEach((k, n) => {
          const until = call.keys[n + 1]?.at ?? Number.POSITIVE_INFINITY;
          const part = stream.filter((p) => (n === 0 || p.time * 1000 >= k.at) && p.time * 1000 < until);
          const r = unprotectAll(
            part.map((p) => p.payload),
            keyOf(k),
            k.suite,
          );
          failed += r.failed;
          r.plain.forEach((rtp, m) => plain.push({ time: (part[m] as UdpPacket).time, rtp }));
        });
        expect({ label, packets: stream.length > 100, failed }).toEqual({ label, packets: true, failed: 0 });
        const toned = plain.filter((p) => carriesTone(p.rtp, hz));
        expect({ label, share: toned.length / plain.length > 0.95 }).toEqual({ label, share: true });
        if (call.resumeAt !== undefined)
          expect({
            label,
            afterResume: toned.filter((p) => after({ time: p.time } as UdpPacket)).length > expected,
          }).toEqual({
            label,
            afterResume: true,
          });
      }
    });
  }, 30_000);

  test('signaling: TLS on the phone port with no clear-text SIP; the capture sees clear SIP where there is some', () => {
    const tlsRecords = tsharkFields(
      pcap,
      `tcp.port==${P.sipTls} && tls.record`,
      ['frame.number'],
      [`tcp.port==${P.sipTls},tls`],
    );
    expect(tlsRecords.length).toBeGreaterThan(4);
    const clearOn = (port: number) =>
      tsharkFields(pcap, `tcp.port==${port} && frame contains "SIP/2.0"`, ['frame.number']).length;
    expect(clearOn(P.sipTls)).toBe(0);
    // The inside phone's own TCP leg to Kamailio is clear text: the filter above would see SIP.
    expect(clearOn(P.ucmTcp)).toBeGreaterThan(4);
    if (mode === 'mixed') {
      // Mixed mode: the appliance's leg to Kamailio is TLS too (with the phone's LDC).
      expect(clearOn(P.ucmTls)).toBe(0);
      const upstream = tsharkFields(
        pcap,
        `tcp.port==${P.ucmTls} && tls.record`,
        ['frame.number'],
        [`tcp.port==${P.ucmTls},tls`],
      );
      expect(upstream.length).toBeGreaterThan(4);
    }
  });

  test("no audio lost at call start: the callee's first SRTP packets reach the inside leg decrypted", () => {
    // The remote phone answers the inside phone's call and starts sending SRTP with its 200 OK,
    // so its first packets (typically 2-3) reach the appliance before the answer carrying their
    // key: the appliance must hold them and forward them once the key is known, not drop them
    // (or forward them still encrypted).
    const c = calls[1] as CallRecord;
    const inCall = (p: UdpPacket) => p.time * 1000 >= c.dialAt && p.time * 1000 <= c.endAt;
    const first = packets
      .filter((p) => inCall(p) && p.dst === OUT_MTA)
      .sort((a, b) => a.time - b.time)
      .slice(0, 5);
    expect(first).toHaveLength(5);
    const forwarded = packets.filter((p) => inCall(p) && p.src === IN_MTA);
    for (const p of first) {
      // Same SSRC and sequence number on both legs (the appliance does not renumber).
      const twin = forwarded.find(
        (f) => ssrcOf(f.payload) === ssrcOf(p.payload) && seqOf(f.payload) === seqOf(p.payload),
      );
      expect({
        seq: seqOf(p.payload),
        length: twin?.payload.length,
        tone: twin && carriesTone(twin.payload, REMOTE_HZ),
      }).toEqual({
        seq: seqOf(p.payload),
        length: 12 + 160,
        tone: true,
      });
    }
  });

  test('nothing is left: no media session; once everything is stopped, nothing listens on the test ports', async () => {
    expect(await mediaSessions()).toHaveLength(0);
    expect(await show('phone-proxy signaling-sessions')).toEqual([]);
    await remote.stop();
    await inside.stop();
    await stopPeer(kamailio);
    stopTftpPeers();
    expect(await stopCli(daemon as Started)).toBe(0);
    daemon = undefined;
    expect(await tcpListening(OUT_IF, P.sipTls)).toBe(false);
    await until(
      () => (socketsOnPorts(17000, P.insideRtp[1]).length === 0 ? true : undefined),
      'ports to close',
      3000,
    ).catch(() => expect(socketsOnPorts(17000, P.insideRtp[1])).toEqual([]));
  }, 20_000);
}

maybe('E2E: secure call through the appliance with baresip and Kamailio', () => {
  beforeAll(() => {
    mkdirSync(work, { recursive: true, mode: 0o700 });
  });
  afterAll(() => {
    if (process.env.E2E_KEEP) console.warn(`E2E: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  });
  describe('nonsecure cluster: the appliance reaches Kamailio over TCP', () => scenario('nonsecure'));
  describe("mixed mode: the appliance reaches Kamailio over TLS with the phone's LDC", () => scenario('mixed'));
});
