/**
 * `npm run demo` end to end: the built demo (dist-dev/) in a child process, as a newcomer runs it.
 * On the default policy it must exit 0 within 30 s, print the three show views while the first
 * call is up and a summary with audio intact both ways in both calls (remote phone calling, then
 * called), and leave nothing listening. On a policy
 * whose CTL names another certificate than the one the TLS listener presents, the remote phone
 * must refuse the server and the demo exit 1 with that reason.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { portsInUse } from '../../lab/port-check';
import { labEndpoints } from '../../lab/scenario';
import { START_WINDOW_PACKETS } from '../../lab/summary';
import { parsePolicy } from '../../src/config/load-policy';

const ROOT = path.resolve(__dirname, '../..');
const DEMO = path.join(ROOT, 'dist-dev/lab/demo.js');
const DEFAULT_POLICY = path.join(ROOT, 'policies/default.yaml');

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DEMO, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Every stream line of the summary, in order (call 1 remote → inside, inside → remote, call 2 ...), as numbers. */
function streamLines(stdout: string) {
  const re =
    /(remote → inside|inside → remote)\s+sent\s+(\d+)\s+received\s+(\d+)\s+intact\s+(\d+)\s+corrupted (\d+)\s+lost (\d+)/g;
  return [...stdout.matchAll(re)].map((m) => {
    const [sent, received, intact, corrupted, lost] = m.slice(2).map(Number) as number[];
    return { way: m[1], sent, received, intact, corrupted, lost };
  });
}

/** The reasons the demo printed under RESULT (empty when it passed). */
function failuresOf(stdout: string): string[] {
  const at = stdout.indexOf('RESULT');
  return at < 0 ? ['no RESULT line'] : [...stdout.slice(at).matchAll(/^ {2}- (.*)$/gm)].map((m) => m[1] as string);
}

beforeAll(() => {
  if (!existsSync(DEMO)) throw new Error(`${DEMO} missing: run \`npm run build:dev\` first`);
  const built = statSync(DEMO).mtimeMs;
  const stale = readdirSync(path.join(ROOT, 'lab')).filter((f) => statSync(path.join(ROOT, 'lab', f)).mtimeMs > built);
  if (stale.length > 0) throw new Error(`dist-dev/ is older than lab/${stale[0]}: run \`npm run build:dev\` first`);
});

test('on the default policy: secure boot, TLS registration, SRTP↔RTP calls both ways with intact audio, exit 0, nothing left open', async () => {
  const r = await runDemo([]);
  expect({ code: r.code, failures: failuresOf(r.stdout), stderr: r.stderr }).toEqual({
    code: 0,
    failures: [],
    stderr: '',
  });
  expect(r.ms).toBeLessThan(30_000);
  const out = r.stdout;

  // Secure boot and registration, as the remote phone saw them.
  expect(out).toMatch(/CTLFile\.tlv, \d+ bytes: signature verified .* by SAST record/);
  expect(out).toMatch(/SEP00DE0A1AB001\.cnf\.xml\.sgn, \d+ bytes: signature verified .*the CTL's TFTP certificate/);
  expect(out).toContain(
    'register with 127.0.1.1:15061, deviceSecurityMode 3 (encrypted), transportLayerProtocol 3 (TLS)',
  );
  expect(out).toContain("server certificate is the CTL's CCM record");

  // The three views, printed while the first call was up.
  const secure = out.slice(out.indexOf('phone-proxy# show phone-proxy secure-phones'));
  expect(secure).toMatch(
    /outside\s+127\.0\.1\.50\s+\d+\s+00de\.0a1a\.b001\s+SEP00DE0A1AB001\s+nonsecure\s+encrypted\s+sip/,
  );
  const signaling = out.slice(out.indexOf('phone-proxy# show phone-proxy signaling-sessions'));
  expect(signaling).toMatch(/SEP00DE0A1AB001\s+\S+@127\.0\.1\.50\s+confirmed\s+m\d+/);
  const media = out.slice(out.indexOf('phone-proxy# show phone-proxy media-sessions'));
  expect(media).toMatch(
    /outside\s+127\.0\.1\.10:\d+\/\d+\s+127\.0\.1\.50:\d+\s+srtp AES_CM_128_HMAC_SHA1_80\s+[1-9]\d*\s+[1-9]\d*\s+0\s/,
  );
  expect(media).toMatch(/inside\s+127\.0\.2\.10:\d+\/\d+\s+127\.0\.2\.50:\d+\s+rtp\s+[1-9]\d*\s+[1-9]\d*\s+0\s/);

  // Summary: both calls, audio intact both ways; only a callee may lose its first packets.
  const streams = streamLines(out);
  expect(streams.map((s) => s.way)).toEqual([
    'remote → inside',
    'inside → remote',
    'remote → inside',
    'inside → remote',
  ]);
  for (const s of streams) {
    expect(s).toMatchObject({ sent: 150, corrupted: 0, intact: s.received });
    expect(s.lost).toBeLessThanOrEqual(START_WINDOW_PACKETS);
  }
  expect(streams[0]?.lost).toBe(0); // call 1: the remote phone calls
  expect(streams[3]?.lost).toBe(0); // call 2: the inside phone calls
  expect(out).toMatch(/call 1\s+remote calls inside: INVITE → 200 OK in \d+\.\d ms/);
  expect(out).toMatch(/call 2\s+inside calls remote: INVITE → 200 OK in \d+\.\d ms/);
  expect(out.match(/SRTP auth failures 0, replay 0/g)).toHaveLength(2);
  expect(out.match(/tone never in the clear: yes; inside 172 B plain RTP/g)).toHaveLength(2);
  expect(out.match(/teardown\s+BYE 200; media sessions left 0/g)).toHaveLength(2);
  expect(out).toContain('UCM simulator      calls connected 2, ended 2');
  expect(out).toContain('ports still open: none');
  expect(out).toContain('RESULT             PASS');

  // Checked again from outside the demo's process.
  const policy = parsePolicy(readFileSync(DEFAULT_POLICY, 'utf8'), DEFAULT_POLICY).policy;
  expect(await portsInUse(labEndpoints(policy))).toEqual([]);
}, 45_000);

test('a CTL that names another server certificate is refused before anything starts, and says which record', async () => {
  // The phone-side pinning check (lab/secure-boot.ts) is tested in test/lab/secure-boot.test.ts;
  // such a policy no longer gets that far: the policy rules refuse a CCM record whose
  // certificate is not the one the TLS proxy presents.
  const file = path.join(os.tmpdir(), `lab-wrong-ctl-${process.pid}.yaml`);
  const text = readFileSync(DEFAULT_POLICY, 'utf8').replace(
    /(- function: cucm-tftp\n\s+trustpoint:) pp-server/,
    '$1 ldc-issuer',
  );
  expect(text).toContain('trustpoint: ldc-issuer\n      address');
  writeFileSync(file, text);
  const r = await runDemo(['--policy', file]).finally(() => rmSync(file, { force: true }));
  expect(r.code).toBe(1);
  expect(r.stdout).toContain('RESULT             FAIL');
  expect(r.stdout).toMatch(
    /ctl-file\.records\[0\]\.trustpoint: a cucm-tftp record must hold the certificate the TLS proxy presents/,
  );
  expect(r.stdout).not.toContain('phone-proxy# show');
  expect(r.stdout).toContain('ports still open: none');
}, 45_000);

test('bad arguments are refused before anything starts', async () => {
  const r = await runDemo(['--seconds', '99']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--seconds must be a number from 1 to 10, got "99"');
  expect(r.stdout).toBe('');
});
