/**
 * `npm run demo` end to end: the built demo (dist/) in a child process, as a newcomer runs it.
 * On the default policy it must exit 0 within 30 s, print the three show views while the call
 * is up and a summary with audio intact both ways, and leave nothing listening. On a policy
 * whose CTL names another certificate than the one the TLS listener presents, the remote phone
 * must refuse the server and the demo exit 1 with that reason.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePolicy } from '../../src/config/load-policy';
import { portsInUse } from '../../src/lab/port-check';
import { labEndpoints } from '../../src/lab/scenario';

const ROOT = path.resolve(__dirname, '../..');
const DEMO = path.join(ROOT, 'dist/src/lab/demo.js');
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

/** One stream's line of the summary, as numbers. */
function streamLine(stdout: string, label: string) {
  const m = new RegExp(
    `${label}\\s+sent\\s+(\\d+)\\s+received\\s+(\\d+)\\s+intact\\s+(\\d+)\\s+corrupted (\\d+)\\s+lost (\\d+)`,
  ).exec(stdout);
  if (!m) throw new Error(`no "${label}" line in:\n${stdout}`);
  const [sent, received, intact, corrupted, lost] = m.slice(1).map(Number) as number[];
  return { sent, received, intact, corrupted, lost };
}

beforeAll(() => {
  if (!existsSync(DEMO)) throw new Error(`${DEMO} missing: run \`npm run build\` first`);
  const built = statSync(DEMO).mtimeMs;
  const stale = readdirSync(path.join(ROOT, 'src/lab')).filter(
    (f) => statSync(path.join(ROOT, 'src/lab', f)).mtimeMs > built,
  );
  if (stale.length > 0) throw new Error(`dist/ is older than src/lab/${stale[0]}: run \`npm run build\` first`);
});

test('on the default policy: secure boot, TLS registration, an SRTP↔RTP call with intact audio, exit 0, nothing left open', async () => {
  const r = await runDemo([]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.ms).toBeLessThan(30_000);
  const out = r.stdout;

  // Secure boot and registration, as the remote phone saw them.
  expect(out).toMatch(/CTLFile\.tlv, \d+ bytes: signature verified .* by SAST record/);
  expect(out).toMatch(/SEP00DE0A1AB001\.cnf\.xml\.sgn, \d+ bytes: signature verified .*the CTL's TFTP certificate/);
  expect(out).toContain(
    'register with 127.0.1.1:15061, deviceSecurityMode 3 (encrypted), transportLayerProtocol 3 (TLS)',
  );
  expect(out).toContain("server certificate is the CTL's CCM record");

  // The three views, printed while the call was up.
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

  // Summary: audio intact both ways, no SRTP authentication failure, teardown, cleanup.
  const toInside = streamLine(out, 'remote → inside');
  const toRemote = streamLine(out, 'inside → remote');
  for (const s of [toInside, toRemote]) {
    expect(s.sent).toBe(150);
    expect(s.corrupted).toBe(0);
    expect(s.intact).toBe(s.received);
    expect(s.lost).toBeLessThanOrEqual(5);
  }
  expect(toInside.lost).toBe(0);
  expect(out).toMatch(/call setup\s+INVITE → 200 OK \d+\.\d ms/);
  expect(out).toMatch(/SRTP auth failures 0, replay 0/);
  expect(out).toContain('tone never in the clear: yes');
  expect(out).toMatch(/teardown\s+BYE 200; media sessions left 0; UCM calls connected 1, ended 1/);
  expect(out).toContain('ports still open: none');
  expect(out).toContain('RESULT         PASS');

  // Checked again from outside the demo's process.
  const policy = parsePolicy(readFileSync(DEFAULT_POLICY, 'utf8'), DEFAULT_POLICY).policy;
  expect(await portsInUse(labEndpoints(policy))).toEqual([]);
}, 45_000);

test('a CTL that names another server certificate: the phone refuses the TLS server, the demo exits 1 and says why', async () => {
  const file = path.join(os.tmpdir(), `lab-wrong-ctl-${process.pid}.yaml`);
  const text = readFileSync(DEFAULT_POLICY, 'utf8').replace(
    /(- function: cucm-tftp\n\s+trustpoint:) pp-server/,
    '$1 ldc-issuer',
  );
  expect(text).toContain('trustpoint: ldc-issuer\n      address');
  writeFileSync(file, text);
  const r = await runDemo(['--policy', file]);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain('RESULT         FAIL');
  expect(r.stdout).toContain("TLS: server certificate CN=phone-proxy,O=phone-proxy is not the CTL's CCM certificate");
  expect(r.stdout).not.toContain('phone-proxy# show');
  expect(r.stdout).toContain('ports still open: none');
}, 45_000);

test('bad arguments are refused before anything starts', async () => {
  const r = await runDemo(['--seconds', '99']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--seconds must be a number from 1 to 10, got "99"');
  expect(r.stdout).toBe('');
});
