/**
 * Live reload with a call up (issue 15), on the compiled CLI: `phone-proxy start` as a process,
 * the lab's UCM simulator, a remote phone that boots and calls over TLS/SRTP and an inside phone
 * on RTP, in this test process, on loopback addresses of their own (127.0.231.x outside,
 * 127.0.232.x inside). While the call's audio flows, the policy file changes a live key and a
 * restart-only key and `phone-proxy reload` runs, then SIGHUP with another live key. Asserted:
 * no audio packet sent after the first reload is lost or altered, either way; the phone's TLS
 * connection is the same socket and connection id, still carrying SIP (the BYE gets its 200);
 * the live values are in `show running-policy` and in behaviour (a second connection from the
 * phone's address meets the new per-source limit; after client-trustpoints is emptied, a new
 * phone handshake is refused while the old connection stays); the restart-only key is named,
 * listed as pending and not applied; a bad policy is refused by both, errors shown, nothing
 * changed. The control socket is in a --control-dir of its own.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { parseDocument } from 'yaml';
import { cnfXml } from '../../lab/cnf-template';
import { type LabCredentials, labCredentials } from '../../lab/lab-setup';
import { InsidePhone, RemotePhone } from '../../lab/phones';
import { UcmSimulator } from '../../lab/ucm-sim';
import { CLI, ROOT, runCli, type Started, startCli, stopCli } from '../support/cli-process';

const MAC = '00DE0A1AB231';
const OUT = { iface: '127.0.231.1', media: '127.0.231.10', phone: '127.0.231.50', other: '127.0.231.51' };
const IN = { iface: '127.0.232.1', media: '127.0.232.10', ucm: '127.0.232.20', phone: '127.0.232.50' };
const SIP_TLS = 15061;
const TFTP = 10069;
const UCM_SIP = 15060;
/** 8 s of audio each way: the reloads happen in its first seconds. */
const PACKETS = 400;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A TLS client from `localAddress`: 'secure' once the handshake completes, else how it ended. */
function tlsAttempt(localAddress: string, cred: { certPem: string; keyPem: string }): Promise<string> {
  return new Promise((resolve) => {
    const raw = net.connect({ host: OUT.iface, port: SIP_TLS, localAddress });
    const s = tls.connect({ socket: raw, cert: cred.certPem, key: cred.keyPem, rejectUnauthorized: false });
    const done = (how: string) => {
      clearTimeout(timer);
      s.destroy();
      raw.destroy();
      resolve(how);
    };
    const timer = setTimeout(() => done('no answer in 5 s'), 5000);
    // TLS 1.3: the server's verdict on the client certificate comes after the client's handshake.
    s.once('secureConnect', () => setTimeout(() => done('secure'), 500));
    s.once('error', (err: NodeJS.ErrnoException) => done(`error ${err.code ?? err.message}`));
    s.once('close', () => done('closed'));
  });
}

describe('live reload with a call up', () => {
  let dir = '';
  let policyFile = '';
  let controlDir = '';
  let daemon: Started | undefined;
  let ucm: UcmSimulator | undefined;
  let remote: RemotePhone | undefined;
  let inside: InsidePhone | undefined;
  let creds: LabCredentials;
  const doc = parseDocument(readFileSync(path.join(ROOT, 'policies/default.yaml'), 'utf8'));
  const writePolicy = (extra = '') => writeFileSync(policyFile, `${doc.toString()}${extra}`);
  const cli = (args: string[]) => runCli([...args, '--control-dir', controlDir]);
  const json = async (words: string[]) => {
    const r = await cli(['show', ...words, '--json']);
    if (r.code !== 0) throw new Error(`show ${words.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
    dir = mkdtempSync(path.join(os.tmpdir(), 'pp-live-reload-'));
    policyFile = path.join(dir, 'policy.yaml');
    controlDir = path.join(dir, 'run');
    creds = await labCredentials(`SEP${MAC}`);
    writeFileSync(path.join(dir, 'lab-ca.pem'), creds.manufacturerCa.certPem);
    doc.setIn(['interfaces', 0, 'address'], `${OUT.iface}/24`);
    doc.setIn(['interfaces', 1, 'address'], `${IN.iface}/24`);
    doc.setIn(['cluster', 'members', 0, 'address'], IN.ucm);
    doc.setIn(['tftp-server', 'address'], IN.ucm);
    doc.setIn(['media-termination', 'addresses', 0, 'address'], OUT.media);
    doc.setIn(['media-termination', 'addresses', 1, 'address'], IN.media);
    doc.setIn(['media-termination', 'rtp-min-port'], 41000);
    doc.setIn(['media-termination', 'rtp-max-port'], 41999);
    doc.setIn(['ctl-file', 'records', 0, 'address'], OUT.iface);
    doc.addIn(['trustpoints'], doc.createNode({ name: 'lab-ca', certificate: 'lab-ca.pem' }));
    doc.setIn(['tls-proxy', 'client-trustpoints'], doc.createNode(['lab-ca']));
    doc.setIn(['listen', 'tftp'], TFTP);
    doc.setIn(['listen', 'sip-tls'], SIP_TLS);
    doc.setIn(['listen', 'sccp-tls'], false);
    doc.deleteIn(['control', 'metrics']);
    writePolicy();

    const cnf = cnfXml({
      mac: MAC,
      ucmAddress: IN.ucm,
      sipPort: UCM_SIP,
      sipTlsPort: 5061,
      tftpAddress: IN.ucm,
      line: '1000',
      displayName: 'Remote 1000',
    });
    ucm = new UcmSimulator(IN.ucm, TFTP, UCM_SIP, new Map([[`SEP${MAC}.cnf.xml`, Buffer.from(cnf, 'latin1')]]));
    await ucm.start();
    daemon = await startCli(['--policy', policyFile, '--state', path.join(dir, 'state'), '--control-dir', controlDir]);
    if (!daemon.output().includes('ready;')) throw new Error(`daemon did not start:\n${daemon.output()}`);
  }, 60_000);

  afterAll(async () => {
    await remote?.close().catch(() => undefined);
    await inside?.close().catch(() => undefined);
    if (daemon) await stopCli(daemon);
    await ucm?.stop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('live keys apply without dropping the call or the phone connection; restart-only keys wait; bad policies are refused', async () => {
    const d = daemon as Started;
    expect(existsSync(path.join(controlDir, 'control.sock'))).toBe(true);
    expect(existsSync(path.join(dir, 'state', 'control.sock'))).toBe(false);

    inside = new InsidePhone(IN.phone, '1001', { address: IN.ucm, port: UCM_SIP }, 0x1d51de31, 660);
    await inside.register();
    remote = new RemotePhone({
      mac: MAC,
      address: OUT.phone,
      line: '1000',
      mic: creds.mic,
      tftp: { address: OUT.iface, port: TFTP },
      ssrc: 0x5eca1e31,
      toneHz: 440,
    });
    await remote.boot();
    await remote.register();
    const phoneSocket = remote.channel?.sock as tls.TLSSocket;
    const calleeSide = await inside.expectCall(PACKETS);
    const placed = await remote.call(inside.line);
    placed.media.start({ address: placed.answer.address, port: placed.answer.port }, PACKETS);
    const toInside = { sent: placed.media, got: calleeSide.media };
    const toRemote = { sent: calleeSide.media, got: placed.media };
    await until('audio both ways', () => toInside.got.received.size > 20 && toRemote.got.received.size > 20);
    const [connBefore] = (await json(['tls-proxy', 'sessions'])) as { id: number }[];
    const [mediaBefore] = (await json(['phone-proxy', 'media-sessions'])) as { id: string }[];
    expect(connBefore).toBeDefined();
    expect(mediaBefore).toBeDefined();

    // ---- a live key and a restart-only key, through `phone-proxy reload`
    const sentBefore = { toInside: new Set(toInside.sent.sent.keys()), toRemote: new Set(toRemote.sent.sent.keys()) };
    doc.setIn(['tls-proxy', 'max-connections-per-source'], 1);
    doc.setIn(['tls-proxy', 'max-pending-handshakes-per-source'], 1);
    doc.setIn(['media-termination', 'rtp-min-port'], 41100);
    writePolicy();
    const reloaded = await cli(['reload']);
    expect(reloaded).toMatchObject({ code: 0, stderr: '' });
    expect(reloaded.stdout).toContain(
      'applied live: tls-proxy.max-connections-per-source, tls-proxy.max-pending-handshakes-per-source\n',
    );
    expect(reloaded.stdout).toContain(
      'needs a restart (still running the old values): media-termination.rtp-min-port\n',
    );
    // In effect: a second connection from the phone's address is over the new limit of 1.
    expect(await tlsAttempt(OUT.phone, creds.mic)).not.toBe('secure');
    const stats = (await json(['tls-proxy', 'statistics'])) as Record<string, number>;
    expect(stats['refused-source-limit']).toBe(1);
    const running = (await json(['running-policy'])) as {
      policy: Record<string, Record<string, unknown>>;
      pendingRestart: string[];
    };
    expect(running.policy['tls-proxy']?.['max-connections-per-source']).toBe(1);
    expect(running.policy['media-termination']?.['rtp-min-port']).toBe(41000);
    expect(running.pendingRestart).toEqual(['media-termination.rtp-min-port']);
    expect((await cli(['show', 'running-policy'])).stdout).toContain(
      '! not in effect until a restart (the running values are in --json): media-termination.rtp-min-port',
    );

    // ---- SIGHUP: another live key; the restart-only one is named again
    doc.setIn(['media-termination', 'idle-timeout'], 90);
    writePolicy();
    d.child.kill('SIGHUP');
    await until('the SIGHUP reload line', () => d.output().includes('SIGHUP: reloaded'));
    expect(d.output()).toContain(`SIGHUP: reloaded ${policyFile}: applied live: media-termination.idle-timeout\n`);
    expect(d.output()).toContain(
      'SIGHUP: needs a restart (still running the old values): media-termination.rtp-min-port\n',
    );
    const afterHup = (await json(['running-policy'])) as { policy: Record<string, Record<string, unknown>> };
    expect(afterHup.policy['media-termination']?.['idle-timeout']).toBe(90);

    // ---- a bad policy: refused by both, errors shown, nothing changed
    writePolicy('no-such-key: 1\n');
    const refused = await cli(['reload']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^phone-proxy reload: EPX_POLICY_INVALID .*policy rejected/);
    expect(refused.stderr).toContain('unknown key "no-such-key"');
    d.child.kill('SIGHUP');
    await until('the SIGHUP refusal', () => d.output().includes('SIGHUP: not reloaded'));
    expect(d.output()).toMatch(/SIGHUP: not reloaded, still running the previous policy: .*policy rejected/);
    expect(await json(['running-policy'])).toEqual(afterHup);

    // ---- the call: same connection, same media session, every packet since the reload intact
    expect((await json(['tls-proxy', 'sessions'])).map((c: { id: number }) => c.id)).toEqual([connBefore?.id]);
    expect((await json(['phone-proxy', 'media-sessions'])).map((m: { id: string }) => m.id)).toEqual([mediaBefore?.id]);
    await until('the audio to end', () => toInside.sent.done && toRemote.sent.done, PACKETS * 20 + 10_000);
    await sleep(300);
    for (const [way, s] of Object.entries({ toInside, toRemote })) {
      const since = [...s.sent.sent].filter(([seq]) => !sentBefore[way as keyof typeof sentBefore].has(seq));
      expect({ way, after: since.length > 100 }).toEqual({ way, after: true });
      const lost = since.filter(([seq, payload]) => !s.got.received.get(seq)?.payload.equals(payload));
      expect({ way, lost: lost.length }).toEqual({ way, lost: 0 });
    }
    expect(phoneSocket.destroyed).toBe(false);
    expect(remote.channel?.sock).toBe(phoneSocket);

    // ---- trustpoints: the CA file replaced under the same name (no key changed) is read again;
    // new handshakes meet the new trust, the open connection stays
    writePolicy(); // the good policy again, without the bad key
    const otherCa = await labCredentials('SEP00DE0A1AB299');
    writeFileSync(path.join(dir, 'lab-ca.pem'), otherCa.manufacturerCa.certPem);
    const renewed = await cli(['reload']);
    expect(renewed).toMatchObject({ code: 0, stderr: '' });
    expect(renewed.stdout).toContain('applied live: trustpoints[2]\n');
    expect(await tlsAttempt(OUT.other, creds.mic)).not.toBe('secure');
    expect(((await json(['tls-proxy', 'statistics'])) as Record<string, number>)['refused-bad-certificate']).toBe(1);
    // The phone's own CA back, so the refusal below is the key's doing.
    writeFileSync(path.join(dir, 'lab-ca.pem'), creds.manufacturerCa.certPem);
    expect((await cli(['reload'])).stdout).toContain('applied live: trustpoints[2]\n');
    expect(await tlsAttempt(OUT.other, creds.mic)).toBe('secure');

    // ---- client CAs: client-trustpoints emptied, every new phone is refused
    doc.setIn(['tls-proxy', 'client-trustpoints'], doc.createNode([]));
    doc.setIn(['tls-proxy', 'max-connections-per-source'], 50);
    doc.setIn(['tls-proxy', 'max-pending-handshakes-per-source'], 10);
    writePolicy();
    const noCa = await cli(['reload']);
    expect(noCa.code).toBe(0);
    expect(noCa.stdout).toContain('tls-proxy.client-trustpoints');
    expect(await tlsAttempt(OUT.other, creds.mic)).not.toBe('secure');
    expect(((await json(['tls-proxy', 'statistics'])) as Record<string, number>)['refused-bad-certificate']).toBe(2);
    // The phone's connection, opened under the old trust, still carries its dialog.
    expect(await remote.hangUp()).toBe(200);
    await calleeSide.ended;
    expect(phoneSocket.destroyed).toBe(false);

    expect(await stopCli(d)).toBe(0);
    daemon = undefined;
  }, 90_000);
});
