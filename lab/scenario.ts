/**
 * The lab scenario behind `npm run demo`: the appliance on (a copy of) the default policy, the
 * UCM simulator on its inside, a remote phone that boots securely and calls over TLS/SRTP, and
 * an inside phone on TCP/RTP. Every step is printed as it happens; the `show` views are printed
 * through the CLI's own command while the call is up; everything is stopped at the end, and the
 * ports the lab used are checked free again.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import type pino from 'pino';
import type { CommandIo } from '../src/commands/io';
import { show } from '../src/commands/operate';
import type { LoadedPolicy } from '../src/config/load-policy';
import { callDaemon } from '../src/control/api';
import { type Daemon, startDaemon } from '../src/daemon';
import { type AudioCheck, compareAudio, PACKET_MS } from './audio';
import { cnfXml } from './cnf-template';
import { labCredentials, writeLabPolicy } from './lab-setup';
import { type BootReport, InsidePhone, type Phone, RemotePhone } from './phones';
import { type Endpoint, portsInUse } from './port-check';
import { UcmSimulator } from './ucm-sim';

export const LAB = {
  mac: '00DE0A1AB001',
  remote: { address: '127.0.1.50', line: '1000', ssrc: 0x5eca1e01, toneHz: 440 },
  inside: { address: '127.0.2.50', line: '1001', ssrc: 0x1d51de02, toneHz: 660 },
} as const;

export interface LabOptions {
  /** Length of the audio, seconds. */
  seconds: number;
  /** Where the narrative goes. */
  out: NodeJS.WritableStream;
  /** Appliance logs (pino JSON) to stderr as well. */
  verbose: boolean;
  /** policies/default.yaml. */
  defaultPolicy: string;
  /** Whole-run bound, ms. */
  timeoutMs: number;
  /** Aborted (Ctrl-C): the run stops where it is and cleans up. */
  signal?: AbortSignal;
}

export interface LegCounters {
  rxPackets: number;
  txPackets: number;
  authFailures: number;
  replayDrops: number;
  unexpectedSourceDrops: number;
  otherDrops: number;
}

/** One call, from set-up to release. Directions are named by where the audio goes. */
export interface CallResult {
  /** `remote calls inside` or `inside calls remote`. */
  name: string;
  caller: 'remote' | 'inside';
  setupMs?: number;
  ringing?: boolean;
  toInside?: AudioCheck;
  toRemote?: AudioCheck;
  /** Appliance media counters per leg, read just before hang-up. */
  appliance?: { outside: LegCounters & { mode: string }; inside: LegCounters & { mode: string } };
  remoteWire?: { rejected: number; clearText: number; lengths: number[]; beforeKey: number };
  insideWire?: { rejected: number; lengths: number[] };
  byeStatus?: number;
  sessionsAfter?: number;
}

export interface LabResult {
  /** policy cluster.mode, and where the UCM simulator saw the remote phone's REGISTER come from. */
  cluster?: { mode: string; remoteVia?: string };
  boot?: BootReport;
  tls?: { protocol: string; cipher: string; server: string; client: string };
  /** Seconds of audio per call. */
  seconds: number;
  calls: CallResult[];
  ucm?: { served: string[]; registered: string[]; connected: number; ended: number; errors: string[] };
  portsStillOpen?: string[];
  /** Why the run failed, if it did; empty = pass. */
  failures: string[];
  logTail: string[];
}

/** Where the lab's pieces listen, from the policy: these must all be free again at the end. */
export function labEndpoints(p: LoadedPolicy['policy']): Endpoint[] {
  const outside = p.interfaces.find((i) => i.role === 'outside')?.address.split('/')[0] ?? '';
  const member = p.cluster.members[0];
  const out: Endpoint[] = [
    { protocol: 'udp', address: outside, port: p.listen.tftp },
    { protocol: 'tcp', address: outside, port: p.listen['sip-tls'] },
    { protocol: 'tcp', address: outside, port: p.listen['sccp-tls'] },
  ];
  const tftp = p['tftp-server'];
  if (tftp) out.push({ protocol: 'udp', address: tftp.address, port: tftp.port });
  if (member) out.push({ protocol: 'tcp', address: member.address, port: member['sip-port'] });
  const m = p.control.metrics;
  if (m) out.push({ protocol: 'tcp', address: m.address, port: m.port });
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
    }),
  ]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLab(o: LabOptions): Promise<LabResult> {
  const t0 = performance.now();
  let stopping = false;
  // Every step reports through here: a step that ends after the lab was stopped goes no further.
  const checkpoint = () => {
    if (stopping) throw new Error('stopped');
  };
  const say = (who: string, text: string) => {
    checkpoint();
    o.out.write(`[${((performance.now() - t0) / 1000).toFixed(2).padStart(5)}s] ${who.padEnd(7)} ${text}\n`);
  };
  const result: LabResult = { seconds: o.seconds, calls: [], failures: [], logTail: [] };
  const logLines: string[] = [];
  const logDest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) logLines.push(l);
      if (logLines.length > 2000) logLines.splice(0, logLines.length - 2000);
      if (o.verbose) process.stderr.write(chunk);
      cb();
    },
  });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'phone-proxy-lab-'));
  const stateDir = path.join(dir, 'state');
  let daemon: Daemon | undefined;
  let ucm: UcmSimulator | undefined;
  let remote: RemotePhone | undefined;
  let inside: InsidePhone | undefined;
  let endpoints: Endpoint[] = [];

  const scenario = async () => {
    const deviceName = `SEP${LAB.mac}`;
    const creds = await labCredentials(deviceName);
    const loaded = writeLabPolicy(
      readFileSync(o.defaultPolicy, 'utf8'),
      o.defaultPolicy,
      dir,
      creds.manufacturerCa.certPem,
    );
    const p = loaded.policy;
    const busy = await portsInUse(labEndpoints(p));
    if (busy.length > 0) {
      const list = busy.map((e) => `${e.protocol} ${e.address}:${e.port}`).join(', ');
      throw new Error(`already in use: ${list} (another demo, or npm start, running?)`);
    }
    // From here on the lab owns these ports and must leave them free.
    endpoints = labEndpoints(p);
    result.cluster = { mode: p.cluster.mode };
    say(
      'lab',
      `temp dir ${dir}: policy.yaml = ${path.relative(process.cwd(), o.defaultPolicy)} + trustpoint lab-manufacturing-ca`,
    );
    say('lab', `remote phone certificate CN=CP-8865-${deviceName}, issued by the lab manufacturing CA`);

    const member = p.cluster.members[0];
    if (!member) throw new Error('policy has no cluster member');
    const tftpServer = p['tftp-server'];
    if (!tftpServer) throw new Error('policy has no tftp-server: the lab boots its phone over TFTP');
    const cnf = cnfXml({
      mac: LAB.mac,
      ucmAddress: member.address,
      sipPort: member['sip-port'],
      sipTlsPort: member['sip-tls-port'],
      tftpAddress: tftpServer.address,
      line: LAB.remote.line,
      displayName: `Remote ${LAB.remote.line}`,
    });
    ucm = new UcmSimulator(
      member.address,
      tftpServer.port,
      member['sip-port'],
      new Map([[`${deviceName}.cnf.xml`, Buffer.from(cnf, 'latin1')]]),
    );
    await ucm.start();
    say('ucm', `TFTP ${member.address}:${tftpServer.port} serves ${deviceName}.cnf.xml (nonsecure, SIP over TCP)`);
    say('ucm', `SIP registrar/B2BUA on TCP ${member.address}:${member['sip-port']}`);

    daemon = await startDaemon({
      policyFile: loaded.file,
      stateDir,
      logDestination: logDest as unknown as pino.DestinationStream,
    });
    const listening = daemon.listening
      .filter((l) => l.port !== undefined)
      .map((l) => `${l.what} ${l.address}:${l.port}`)
      .join(', ');
    say('appl', `phone-proxy started (state ${path.relative(dir, stateDir)}/): ${listening}`);

    inside = new InsidePhone(
      LAB.inside.address,
      LAB.inside.line,
      { address: member.address, port: member['sip-port'] },
      LAB.inside.ssrc,
      LAB.inside.toneHz,
    );
    await inside.register();
    say('inside', `${LAB.inside.line} registered with UCM over TCP from ${LAB.inside.address}`);

    const outside = p.interfaces.find((i) => i.role === 'outside')?.address.split('/')[0] ?? '';
    remote = new RemotePhone({
      mac: LAB.mac,
      address: LAB.remote.address,
      line: LAB.remote.line,
      mic: creds.mic,
      tftp: { address: outside, port: p.listen.tftp },
      ssrc: LAB.remote.ssrc,
      toneHz: LAB.remote.toneHz,
    });
    const boot = await remote.boot();
    result.boot = boot;
    say('remote', `TFTP ${outside}:${p.listen.tftp} CTLFile.tlv, ${boot.ctlBytes} bytes: ${boot.ctlVerdict}`);
    say(
      'remote',
      `  CTL records: ${boot.records.map((r) => `${r.function} ${r.subject}${r.ip ? ` ${r.ip}` : ''}`).join('; ')}`,
    );
    say(
      'remote',
      `TFTP ${deviceName}.cnf.xml.sgn, ${boot.sgnBytes} bytes: ${boot.sgnVerdict} (the CTL's TFTP certificate)`,
    );
    say(
      'remote',
      `  config: register with ${boot.config.processNodeName}:${boot.config.securedSipPort}, deviceSecurityMode ${boot.config.deviceSecurityMode} (encrypted), transportLayerProtocol ${boot.config.transportLayerProtocol} (TLS)`,
    );

    await remote.register();
    const tlsInfo = remote.tlsInfo;
    result.tls = { ...tlsInfo, server: remote.serverSubject ?? '-', client: `CN=CP-8865-${deviceName}` };
    say(
      'remote',
      `TLS ${tlsInfo.protocol} ${tlsInfo.cipher} to ${boot.config.processNodeName}:${boot.config.securedSipPort}: server certificate is the CTL's CCM record`,
    );
    const seenFrom = ucm.stats.registrations.get(LAB.remote.line)?.replace(/^UCM←/, '');
    result.cluster = { mode: p.cluster.mode, ...(seenFrom ? { remoteVia: seenFrom } : {}) };
    say(
      'remote',
      `${LAB.remote.line} REGISTER over TLS → 200 OK; UCM got it over TCP from the appliance at ${seenFrom ?? '?'}`,
    );

    // The views go through the CLI's own `show` (control API → renderView); it reads no stdin.
    const io = { stdout: o.out, stderr: process.stderr, stdin: Readable.from([]), env: process.env };
    const phones = { remote, inside };
    for (const callerRole of ['remote', 'inside'] as const) {
      const calleeRole = callerRole === 'remote' ? 'inside' : 'remote';
      const call: CallResult = { name: `${callerRole} calls ${calleeRole}`, caller: callerRole };
      result.calls.push(call);
      await runCall(phones[callerRole], phones[calleeRole], call, callerRole === 'remote' ? io : undefined);
    }
  };

  /** One call: set up, audio both ways (views printed halfway when `views`), hang-up, release. */
  const runCall = async (caller: Phone, callee: Phone, r: CallResult, views?: CommandIo) => {
    const packets = Math.round((o.seconds * 1000) / PACKET_MS);
    const who = (ph: Phone) => (ph.srtp ? 'remote' : 'inside');
    const calleeSide = await callee.expectCall(packets);
    const placed = await caller.call(callee.line);
    r.setupMs = placed.setupMs;
    r.ringing = placed.ringing;
    say(
      who(caller),
      `INVITE ${callee.line} (${caller.srtp ? 'SRTP' : 'RTP'} offer) → ${placed.ringing ? '180 → ' : ''}200 OK in ${placed.setupMs.toFixed(1)} ms; ACK; answer ${placed.answer.proto} ${placed.answer.address}:${placed.answer.port}`,
    );
    const offer = await withTimeout(calleeSide.answered, 2000, `${callee.label} answer`);
    say(who(callee), `answered an offer from media termination ${offer.address}:${offer.port}, sending as it answers`);
    placed.media.start({ address: placed.answer.address, port: placed.answer.port }, packets);
    const [remoteMedia, insideMedia] = caller.srtp
      ? [placed.media, calleeSide.media]
      : [calleeSide.media, placed.media];
    say('media', `audio both ways: ${packets} packets of 20 ms PCMU each way (remote 440 Hz SRTP, inside 660 Hz RTP)`);

    if (views) {
      await sleep((o.seconds * 1000) / 2);
      checkpoint();
      o.out.write('\n');
      for (const words of [
        ['phone-proxy', 'secure-phones'],
        ['phone-proxy', 'signaling-sessions'],
        ['phone-proxy', 'media-sessions'],
      ]) {
        o.out.write(`phone-proxy# show ${words.join(' ')}\n`);
        await show(['--state', stateDir, ...words], views);
        o.out.write('\n');
      }
    }
    const mediaDone = async () => {
      while (!(remoteMedia.done && insideMedia.done)) {
        checkpoint();
        await sleep(PACKET_MS);
      }
      await sleep(200); // the last packets in flight, and the workers' counters
    };
    await withTimeout(mediaDone(), o.seconds * 1000 + 5000, 'audio');

    const view = (await callDaemon(stateDir, 'GET', ['show', 'phone-proxy', 'media-sessions'])) as {
      data: { legs: { leg: string; mode: string; profile?: string; counters: LegCounters }[] }[];
    };
    const legs = view.data[0]?.legs ?? [];
    const leg = (role: string) => {
      const l = legs.find((x) => x.leg === role);
      return { ...(l?.counters as LegCounters), mode: l ? `${l.mode}${l.profile ? ` ${l.profile}` : ''}` : 'none' };
    };
    if (legs.length > 0) r.appliance = { outside: leg('outside'), inside: leg('inside') };
    r.toInside = compareAudio(remoteMedia.sent, insideMedia.received, remoteMedia.ssrc);
    r.toRemote = compareAudio(insideMedia.sent, remoteMedia.received, insideMedia.ssrc);
    r.remoteWire = {
      rejected: remoteMedia.wire.rejected,
      clearText: remoteMedia.wire.clearText,
      lengths: [...remoteMedia.wire.lengths],
      beforeKey: remoteMedia.wire.beforeKey,
    };
    r.insideWire = { rejected: insideMedia.wire.rejected, lengths: [...insideMedia.wire.lengths] };
    say(
      'media',
      `done: remote→inside ${r.toInside.intact}/${r.toInside.sent} intact, inside→remote ${r.toRemote.intact}/${r.toRemote.sent} intact`,
    );

    r.byeStatus = await caller.hangUp();
    await withTimeout(calleeSide.ended, 2000, `BYE at the ${callee.label}`);
    const bridged = ucm as UcmSimulator;
    for (let n = 0; n < 40 && bridged.pendingByes > 0; n++) await sleep(50);
    say(
      who(caller),
      `BYE → ${r.byeStatus}; the ${callee.label} got its BYE through UCM${bridged.pendingByes > 0 ? ', but UCM has no answer to it yet' : ' and answered it'}`,
    );
    for (let n = 0; n < 50; n++) {
      const v = (await callDaemon(stateDir, 'GET', ['show', 'phone-proxy', 'media-sessions'])) as { data: unknown[] };
      r.sessionsAfter = v.data.length;
      if (v.data.length === 0) break;
      await sleep(50);
    }
    say('appl', `media sessions after hang-up: ${r.sessionsAfter}`);
  };

  const aborted = new Promise<never>((_, reject) =>
    o.signal?.addEventListener('abort', () => reject(new Error('interrupted')), { once: true }),
  );
  aborted.catch(() => undefined);
  const run = scenario();
  run.catch(() => undefined);
  try {
    await Promise.race([withTimeout(run, o.timeoutMs, 'the lab'), aborted]);
  } catch (err) {
    result.failures.push((err as Error).message);
  } finally {
    stopping = true;
    const closePhones = async () => {
      await remote?.close().catch(() => undefined);
      await inside?.close().catch(() => undefined);
    };
    await closePhones();
    // A step still under way (the appliance generating its keys, say) ends before the rest is
    // stopped, so nothing it starts afterwards outlives the lab; closed phones make it end fast.
    await withTimeout(run, 10_000, 'the interrupted step').catch(() => undefined);
    await closePhones();
    for (const ph of [remote, inside]) if (ph?.errors.length) result.failures.push(...ph.errors);
    await daemon?.stop().catch((err: Error) => result.failures.push(`appliance stop: ${err.message}`));
    if (ucm) {
      result.ucm = {
        served: ucm.stats.tftpServed,
        registered: [...ucm.stats.registrations.keys()],
        connected: ucm.stats.callsConnected,
        ended: ucm.stats.callsEnded,
        errors: ucm.stats.errors,
      };
      await ucm.stop().catch(() => undefined);
    }
    result.portsStillOpen = (await portsInUse(endpoints)).map((e) => `${e.protocol} ${e.address}:${e.port}`);
    rmSync(dir, { recursive: true, force: true });
  }
  result.logTail = logLines.filter((l) => /"level":(40|50|60)/.test(l)).slice(-10);
  return result;
}
