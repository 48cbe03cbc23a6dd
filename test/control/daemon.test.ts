/**
 * The foundation's "done means", against the real compiled CLI: start on the default policy,
 * answer show commands from a second process, stop on SIGTERM, reuse keys, refuse corrupted keys.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { ROOT, runCli, type Started, startCli, stopCli } from '../support/cli-process';

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

const privateKeyFiles = (dir: string) =>
  walk(dir).filter((f) => statSync(f).isFile() && readFileSync(f, 'utf8').includes('PRIVATE KEY'));
const fingerprint = (files: string[]) =>
  files.map((f) => `${path.basename(f)}:${createHash('sha256').update(readFileSync(f)).digest('hex')}`).sort();

describe('phone-proxy daemon on the default policy', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'pp-daemon-'));
  const stateDir = path.join(work, 'state');
  const policyFile = path.join(work, 'policy.yaml');
  let daemon: Started | undefined;

  beforeAll(() => {
    // The default policy, moved to ports of its own so it cannot collide with other tests.
    const doc = parseDocument(readFileSync(path.join(ROOT, 'policies/default.yaml'), 'utf8'));
    const base = 30000 + (process.pid % 1000) * 10;
    doc.setIn(['listen', 'tftp'], base);
    doc.setIn(['listen', 'sip-tls'], base + 1);
    doc.setIn(['listen', 'sccp-tls'], base + 2);
    doc.setIn(['control', 'metrics', 'port'], base + 3);
    doc.setIn(['media-termination', 'rtp-min-port'], 40000 + (process.pid % 100) * 200);
    doc.setIn(['media-termination', 'rtp-max-port'], 40000 + (process.pid % 100) * 200 + 199);
    writeFileSync(policyFile, doc.toString());
  });

  afterAll(async () => {
    if (daemon) await stopCli(daemon);
    rmSync(work, { recursive: true, force: true });
  });

  test('starts in under 10 s and answers show commands from a second process', async () => {
    const t0 = Date.now();
    daemon = await startCli(['--policy', policyFile, '--state', stateDir]);
    expect(daemon.output()).toContain('ready;');
    expect(Date.now() - t0).toBeLessThan(10_000);

    const version = await runCli(['show', 'version', '--state', stateDir]);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/phone-proxy version \d+\.\d+\.\d+/);

    const running = await runCli(['show', 'running-policy', '--state', stateDir]);
    expect(running.code).toBe(0);
    expect(running.stdout).toContain(readFileSync(policyFile, 'utf8').trimEnd());

    const json = await runCli(['show', 'version', '--json', '--state', stateDir]);
    expect(JSON.parse(json.stdout).stateDir).toBe(stateDir);

    const unknown = await runCli(['show', 'no-such-view', '--state', stateDir]);
    expect(unknown.code).toBe(1);
    // The control API's reply names the code, and the CLI line passes it on.
    expect(unknown.stderr).toContain('EPX_CONTROL_REQUEST no such view: show no-such-view');
  });

  test('debug categories switch on and off at run time', async () => {
    expect((await runCli(['debug', 'tftp', 'on', '--state', stateDir])).stdout).toContain('debug tftp on');
    expect((await runCli(['show', 'debug', '--state', stateDir])).stdout).toContain('debug tftp on');
    await runCli(['debug', 'tftp', 'off', '--state', stateDir]);
    expect((await runCli(['show', 'debug', '--state', stateDir])).stdout).toContain('debug tftp off');
    const bad = await runCli(['debug', 'nonsense', 'on', '--state', stateDir]);
    expect(bad.code).toBe(1);
  });

  test('serves Prometheus metrics on the policy port', async () => {
    const port = parseDocument(readFileSync(policyFile, 'utf8')).getIn(['control', 'metrics', 'port']) as number;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('phone_proxy_process_cpu_seconds_total');
  });

  test('a second daemon on the same state directory is refused', async () => {
    const second = await startCli(['--policy', policyFile, '--state', stateDir]);
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/already running/);
  });

  test('state directory and private keys have strict permissions', () => {
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    const keys = privateKeyFiles(stateDir);
    // pp-server, ldc-issuer, the LDC key pair and two SASTs at least.
    expect(keys.length).toBeGreaterThanOrEqual(5);
    for (const k of keys)
      expect(`${path.basename(k)} ${(statSync(k).mode & 0o777).toString(8)}`).toBe(`${path.basename(k)} 600`);
  });

  test('stops cleanly on SIGTERM, and a second start reuses the keys', async () => {
    const before = fingerprint(privateKeyFiles(stateDir));
    expect(await stopCli(daemon as Started)).toBe(0);
    daemon = await startCli(['--policy', policyFile, '--state', stateDir]);
    expect(daemon.output()).toContain('ready;');
    expect(fingerprint(privateKeyFiles(stateDir))).toEqual(before);
    expect(await stopCli(daemon)).toBe(0);
    daemon = undefined;
  });

  test('a corrupted key file is a clear error naming the file, not a stack trace', async () => {
    const victim = privateKeyFiles(stateDir)[0] as string;
    writeFileSync(victim, '-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n', {
      mode: 0o600,
    });
    const broken = await startCli(['--policy', policyFile, '--state', stateDir]);
    expect(await broken.exited).toBe(1);
    expect(broken.output()).toContain(path.basename(victim));
    expect(broken.output()).not.toMatch(/\n\s+at /);
  });
});
