/**
 * The operator's path for capture (issue 15), with the real daemon (`phone-proxy start`, built in
 * dist/) and the CLI from a second process: `capture`, `show capture`, `no capture`, `clear
 * capture`, and the refusals with their exit codes; tshark reads the file the daemon wrote.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { tsharkFields } from '../e2e/peers';
import { request } from '../sip/sip-helpers';
import { CLI, runCli, type Started, startCli, stopCli } from '../support/cli-process';
import { connectPhone, type Harness, harness, ScriptedUcm, type SipPeer } from '../tls/harness';

const PORT = 27561;
const UCM_TCP = 27560;
let h: Harness;
let daemon: Started | undefined;
const ucm = new ScriptedUcm();
let phone: SipPeer | undefined;
let stateDir: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  h = await harness({
    mode: 'nonsecure',
    port: PORT,
    ucmTcpPort: UCM_TCP,
    ucmTlsPort: 27562,
    mediaPort: 63500,
    tftpPort: 27569,
  });
  stateDir = path.join(h.dir, 'state');
  await ucm.start(UCM_TCP, 27562, h.pki.ucm, h.ctx.state.ldcIssuer?.certPem ?? '');
  daemon = await startCli(['--policy', path.join(h.dir, 'policy.yaml'), '--state', stateDir]);
  if (!daemon.output().includes('ready;')) throw new Error(`daemon did not start:\n${daemon.output()}`);
}, 60_000);

afterAll(async () => {
  phone?.sock.destroy();
  if (daemon) await stopCli(daemon);
  await ucm.stop();
  h?.cleanup();
});

test('capture, show capture, no capture and clear capture from the CLI; tshark reads the SIP', async () => {
  const started = await runCli(['capture', 'cli1', '--state', stateDir]);
  expect(started.stderr).toBe('');
  expect(started.stdout).toMatch(
    /^capture cli1 started: every phone, signaling → .*captures\/cli1\.pcap; stops after 300 s/,
  );

  phone = await connectPhone(PORT, h.pki.phone);
  const up = await ucm.peer(0, 10_000);
  phone.send(
    request('OPTIONS', 'sip:127.0.1.1', {
      via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKc',
      callId: 'cli-capture-1',
      cseq: 1,
      from: '<sip:1000@127.0.1.1>;tag=c',
      to: '<sip:127.0.1.1>',
    }),
  );
  const options = await up.waitFor((m) => m.includes('cli-capture-1'), 'OPTIONS at UCM');
  up.send(`SIP/2.0 200 OK\r\n${options.split('\r\n').slice(1).join('\r\n')}`);
  await phone.waitFor((m) => m.startsWith('SIP/2.0 200'), '200 at phone');

  const shown = await runCli(['show', 'capture', '--state', stateDir]);
  expect(shown.stdout).toMatch(/1 of 4 captures running/);
  expect(shown.stdout).toMatch(/cli1 +running +any +no +4 /); // OPTIONS and 200, each on both legs

  const stopped = await runCli(['no', 'capture', 'cli1', '--state', stateDir]);
  expect(stopped.code).toBe(0);
  expect(stopped.stdout.trim()).toMatch(
    /^capture cli1 stopped \(stopped\): 4 signaling, 0 media, 0 decrypted packets, \d+ bytes, 0 dropped$/,
  );
  const json = JSON.parse((await runCli(['show', 'capture', 'cli1', '--json', '--state', stateDir])).stdout) as {
    file: string;
    state: string;
  }[];
  expect(json[0]?.state).toBe('stopped');
  const file = json[0]?.file as string;
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  const sip = tsharkFields(
    file,
    'sip',
    ['tcp.dstport', 'sip.Method', 'sip.Status-Code', 'sip.Call-ID'],
    [`tcp.port==${PORT},sip`, `tcp.port==${UCM_TCP},sip`],
  );
  // The OPTIONS on the phone's leg and on the upstream one, the 200 back on each.
  expect(sip).toHaveLength(4);
  expect(sip).toEqual(
    expect.arrayContaining([
      [String(PORT), 'OPTIONS', '', 'cli-capture-1'],
      [String(UCM_TCP), 'OPTIONS', '', 'cli-capture-1'],
    ]),
  );
  expect(sip.filter((r) => r[2] === '200')).toHaveLength(2);

  const cleared = await runCli(['clear', 'capture', 'cli1', '--state', stateDir]);
  expect(cleared.stdout).toMatch(/^capture cli1 cleared/);
  expect(existsSync(file)).toBe(true); // forgetting a capture leaves its file

  // Refusals: the daemon's (exit 1, with the catalogue code), the command line's (exit 2).
  const bad = await runCli(['capture', 'x', '--phone', 'not-an-ip', '--state', stateDir]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/EPX_CAPTURE --phone not-an-ip: not an IPv4 address/);
  const usage = await runCli(['capture', 'x', '--bogus', '--state', stateDir]);
  expect(usage.code).toBe(2);
  const gone = await runCli(['no', 'capture', 'cli1', '--state', stateDir]);
  expect(gone.code).toBe(1);
  expect(gone.stderr).toMatch(/no capture named cli1/);
});
