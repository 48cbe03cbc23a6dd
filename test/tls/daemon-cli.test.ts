/**
 * The operator's path, with the real daemon (`phone-proxy start`, built in dist/) and the CLI
 * from a second process: a phone connects through the TLS proxy, `show tls-proxy sessions`
 * lists it, `clear tls-proxy connection id N` drops it, `show tls-proxy statistics` counts.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { request } from '../sip/sip-helpers';
import { CLI, runCli, type Started, startCli, stopCli } from '../support/cli-process';
import { connectPhone, type Harness, harness, ScriptedUcm, type SipPeer, within } from './harness';

const PORT = 25761;
let h: Harness;
let daemon: Started | undefined;
const ucm = new ScriptedUcm();
let phone: SipPeer | undefined;
let stateDir: string;

beforeAll(async () => {
  if (!existsSync(CLI) || !existsSync(path.resolve(CLI, '../tls/service.js')))
    throw new Error(`${CLI} missing: run npm run build first`);
  h = await harness({
    mode: 'nonsecure',
    port: PORT,
    ucmTcpPort: 25760,
    ucmTlsPort: 25762,
    mediaPort: 62600,
    tftpPort: 25769,
  });
  stateDir = path.join(h.dir, 'state');
  await ucm.start(25760, 25762, h.pki.ucm, h.ctx.state.ldcIssuer?.certPem ?? '');
  daemon = await startCli(['--policy', path.join(h.dir, 'policy.yaml'), '--state', stateDir]);
  if (!daemon.output().includes('ready;')) throw new Error(`daemon did not start:\n${daemon.output()}`);
}, 60_000);

afterAll(async () => {
  phone?.sock.destroy();
  if (daemon) await stopCli(daemon);
  await ucm.stop();
  h?.cleanup();
});

describe('TLS proxy through the daemon and the CLI', () => {
  it('shows the phone connection, clears it by id, and counts', async () => {
    phone = await connectPhone(PORT, h.pki.phone);
    const up = await ucm.peer(0, 10_000);
    phone.send(
      request('OPTIONS', 'sip:127.0.1.1', {
        via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKd',
        callId: 'cli-1',
        cseq: 1,
        from: '<sip:1000@127.0.1.1>;tag=d',
        to: '<sip:127.0.1.1>',
      }),
    );
    await up.waitFor((m) => m.includes('cli-1'), 'OPTIONS at UCM');

    const sessions = await runCli(['show', 'tls-proxy', 'sessions', '--state', stateDir]);
    expect(sessions.code).toBe(0);
    expect(sessions.stdout).toMatch(/SEP001122334455/);
    expect(sessions.stdout).toContain('127.0.2.20:25760 (tcp)');
    const json = await runCli(['show', 'tls-proxy', 'sessions', '--json', '--state', stateDir]);
    const rows = JSON.parse(json.stdout) as { id: number; phone: string; state: string }[];
    expect(rows).toEqual([expect.objectContaining({ phone: 'SEP001122334455', state: 'established' })]);

    const cleared = await runCli(['clear', 'tls-proxy', 'connection', 'id', String(rows[0]?.id), '--state', stateDir]);
    expect(cleared.stdout.trim()).toBe(`cleared 1 connection (${rows[0]?.id})`);
    const p = phone;
    await within(
      new Promise<void>((r) => (p.closed ? r() : p.sock.once('close', () => r()))),
      5000,
      'phone disconnected',
    );

    const stats = await runCli(['show', 'tls-proxy', 'statistics', '--state', stateDir]);
    expect(stats.stdout).toMatch(/Total active connections\s+: 0/);
    expect(stats.stdout).toMatch(/TLS server handshake failures : 0/);
    const bad = await runCli(['clear', 'tls-proxy', 'connection', 'id', 'x', '--state', stateDir]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/connection id must be a number, got "x"/);
  });
});
