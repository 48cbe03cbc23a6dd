/**
 * `systemctl reload phone-proxy` sends SIGHUP (ExecReload= in packaging/deb/phone-proxy.service).
 * Node's default for SIGHUP is to exit, which systemd counts as a clean stop: without a handler a
 * reload would silently stop the appliance. Checked on the compiled CLI: a valid policy is
 * re-read (same pid, new start time, a changed value shows), an invalid one is refused and the
 * appliance keeps running, and SIGTERM still stops it with 0.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { ROOT, runCli, type Started, startCli, stopCli } from '../support/cli-process';

const waitFor = async (what: string, check: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('SIGHUP reloads the policy', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'pp-reload-'));
  const stateDir = path.join(work, 'state');
  const policyFile = path.join(work, 'policy.yaml');
  const doc = parseDocument(readFileSync(path.join(ROOT, 'policies/default.yaml'), 'utf8'));
  let daemon: Started | undefined;

  beforeAll(() => {
    // Ports of its own (other suites run in parallel), away from test/control/daemon.test.ts's.
    const base = 33000 + (process.pid % 500) * 10;
    doc.setIn(['listen', 'tftp'], base);
    doc.setIn(['listen', 'sip-tls'], base + 1);
    doc.setIn(['listen', 'sccp-tls'], base + 2);
    doc.setIn(['control', 'metrics', 'port'], base + 3);
    doc.setIn(['media-termination', 'rtp-min-port'], 60000 + (process.pid % 20) * 200);
    doc.setIn(['media-termination', 'rtp-max-port'], 60000 + (process.pid % 20) * 200 + 199);
    writeFileSync(policyFile, doc.toString());
  });

  afterAll(async () => {
    if (daemon) await stopCli(daemon);
    rmSync(work, { recursive: true, force: true });
  });

  const version = async () => JSON.parse((await runCli(['show', 'version', '--json', '--state', stateDir])).stdout);

  test('a valid policy is re-read in the same process; an invalid one leaves it running', async () => {
    daemon = await startCli(['--policy', policyFile, '--state', stateDir]);
    expect(daemon.output()).toContain('ready;');
    const before = await version();
    expect(before.pid).toBe(daemon.child.pid);

    doc.setIn(['secure-phones-timeout'], 600);
    writeFileSync(policyFile, doc.toString());
    daemon.child.kill('SIGHUP');
    const d = daemon;
    await waitFor('the reloaded line', () => d.output().includes('reloaded;'));
    const after = await version();
    expect(after.pid).toBe(before.pid);
    expect(Date.parse(after.started)).toBeGreaterThan(Date.parse(before.started));
    const running = await runCli(['show', 'running-policy', '--state', stateDir]);
    expect(running.stdout).toContain('secure-phones-timeout: 600');

    writeFileSync(policyFile, `${doc.toString()}no-such-key: 1\n`);
    daemon.child.kill('SIGHUP');
    await waitFor('the refusal', () => d.output().includes('not reloaded'));
    expect(daemon.output()).toContain('unknown key "no-such-key"');
    expect(daemon.child.exitCode).toBeNull();
    expect((await version()).started).toBe(after.started);

    expect(await stopCli(daemon)).toBe(0);
    daemon = undefined;
  });
});
