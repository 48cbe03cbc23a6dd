/**
 * The operator's view of what was dropped, and the logs reaching a real syslog daemon: the
 * appliance runs as `phone-proxy start` (dist/), logging human-readable lines (forced: stderr is a
 * pipe here) and RFC 5424 to Debian's rsyslogd, which this test starts on a loopback UDP port with
 * its own configuration and which writes the fields it parsed to a file. A malformed TFTP request
 * (a UDP socket) and a TLS client without a certificate (`openssl s_client`) are then counted by
 * `show phone-proxy drops`, and the TLS refusal's warning arrives at rsyslog with its message id.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, runCli, type Started, startCli, stopCli } from '../support/cli-process';
import { type Harness, harness, within } from '../tls/harness';

const PORT = 27361;
const TFTP_PORT = 27369;
const SEP = '\u001f';

let h: Harness;
let daemon: Started | undefined;
let rsyslog: ChildProcess | undefined;
let rsDir: string;
let stateDir: string;

/** A UDP port free right now (rsyslog's imudp cannot be asked for port 0 and tell it back). */
async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What rsyslog parsed out of each message it received, one record per line of its file. */
function received(): Record<string, string>[] {
  const file = path.join(rsDir, 'received.log');
  if (!existsSync(file)) return [];
  const names = ['pri', 'version', 'timestamp', 'hostname', 'appName', 'procId', 'msgId', 'sd', 'msg'];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => Object.fromEntries(l.split(SEP).map((v, i) => [names[i], v])));
}

async function startRsyslog(port: number): Promise<void> {
  rsDir = mkdtempSync(path.join(os.tmpdir(), 'pp-rsyslog-'));
  // Only imudp on loopback (no /dev/log, no klog); the properties rsyslog's RFC 5424 parser
  // found, unit-separated, one message a line.
  writeFileSync(
    path.join(rsDir, 'rsyslog.conf'),
    `global(workDirectory="${rsDir}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="${port}")
template(name="fields" type="string" string="%pri%${SEP}%protocol-version%${SEP}%timereported:::date-rfc3339%${SEP}%hostname%${SEP}%app-name%${SEP}%procid%${SEP}%msgid%${SEP}%structured-data%${SEP}%msg%\\n")
action(type="omfile" file="${rsDir}/received.log" template="fields")
`,
  );
  rsyslog = spawn('rsyslogd', ['-n', '-f', path.join(rsDir, 'rsyslog.conf'), '-i', path.join(rsDir, 'rsyslogd.pid')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  rsyslog.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  rsyslog.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // Listening once a probe comes out in its file.
  const probe = dgram.createSocket('udp4');
  try {
    await until(() => {
      probe.send('<14>1 - - probe - - - probe', port, '127.0.0.1');
      return received().some((r) => r.appName === 'probe');
    }, `rsyslogd listening on 127.0.0.1:${port} (${out})`);
  } finally {
    probe.close();
  }
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  const syslogPort = await freeUdpPort();
  await startRsyslog(syslogPort);
  h = await harness({
    mode: 'nonsecure',
    port: PORT,
    ucmTcpPort: PORT - 1,
    ucmTlsPort: PORT + 1,
    mediaPort: 64100,
    tftpPort: TFTP_PORT,
  });
  stateDir = path.join(h.dir, 'state');
  const policy = path.join(h.dir, 'policy.yaml');
  appendFileSync(policy, `logging: { syslog: { address: 127.0.0.1, port: ${syslogPort}, facility: local3 } }\n`);
  daemon = await startCli(['--policy', policy, '--state', stateDir, '--log-format', 'pretty']);
  if (!daemon.output().includes('ready;')) throw new Error(`daemon did not start:\n${daemon.output()}`);
}, 60_000);

afterAll(async () => {
  if (daemon) await stopCli(daemon);
  rsyslog?.kill('SIGTERM');
  h?.cleanup();
  if (rsDir) rmSync(rsDir, { recursive: true, force: true });
});

/** A read request without its mode: malformed; the appliance answers TFTP error 4 and counts it. */
async function malformedTftp(): Promise<Buffer> {
  const s = dgram.createSocket('udp4');
  try {
    const reply = new Promise<Buffer>((r) => s.once('message', (m) => r(m)));
    s.send(Buffer.from('\x00\x01SEP001122334455.cnf.xml', 'latin1'), TFTP_PORT, '127.0.1.1');
    return await within(reply, 5000, 'TFTP error reply');
  } finally {
    s.close();
  }
}

/** A TLS client with no certificate: refused in the handshake. */
async function noCertificate(): Promise<string> {
  const child = spawn('openssl', ['s_client', '-connect', `127.0.1.1:${PORT}`, '-tls1_3', '-quiet'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await within(new Promise<void>((r) => child.on('exit', () => r())), 8000, 's_client refused');
  } finally {
    child.kill('SIGKILL');
  }
  return out;
}

interface DropsJson {
  lastCleared: string | null;
  all: boolean;
  rows: { area: string; reason: string; code: string | null; count: number }[];
}

async function drops(...extra: string[]): Promise<DropsJson> {
  const r = await runCli(['show', 'phone-proxy', 'drops', '--json', '--state', stateDir, ...extra]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as DropsJson;
}

describe('show phone-proxy drops on a running appliance', () => {
  test('nothing dropped yet: no rows; --all lists every counter of every area at 0', async () => {
    expect((await drops()).rows).toEqual([]);
    const all = await drops('--all');
    expect(all.all).toBe(true);
    expect(new Set(all.rows.map((r) => r.area))).toEqual(
      new Set(['tftp', 'media', 'media-admission', 'tls', 'sip', 'sccp', 'capf']),
    );
    expect(all.rows.every((r) => r.count === 0)).toBe(true);
    expect(all.rows).toEqual(
      expect.arrayContaining([
        { area: 'tftp', reason: 'bad-request', code: 'EPX_TFTP_REQUEST_REFUSED', count: 0 },
        { area: 'tls', reason: 'refused-no-certificate', code: 'EPX_TLS_NO_CERTIFICATE', count: 0 },
        { area: 'media', reason: 'outside-auth', code: 'EPX_SRTP_AUTH_FAILED', count: 0 },
        { area: 'sip', reason: 'parse', code: 'EPX_SIP_PARSE', count: 0 },
      ]),
    );
    const table = await runCli(['show', 'phone-proxy', 'drops', '--state', stateDir]);
    expect(table.stdout).toContain('Last clearing: never');
    expect(table.stdout).toContain('No drops.');
  });

  test('a malformed TFTP request and a TLS client without a certificate are counted, with their codes', async () => {
    const reply = await malformedTftp();
    expect(reply.readUInt16BE(0)).toBe(5); // ERROR
    expect(reply.readUInt16BE(2)).toBe(4); // illegal TFTP operation
    expect(await noCertificate()).toMatch(/alert certificate required/);

    const d = await drops();
    expect(d.rows).toEqual(
      expect.arrayContaining([
        { area: 'tftp', reason: 'bad-request', code: 'EPX_TFTP_REQUEST_REFUSED', count: 1 },
        { area: 'tls', reason: 'refused-no-certificate', code: 'EPX_TLS_NO_CERTIFICATE', count: 1 },
        { area: 'tls', reason: 'tls-server-handshake-failures', code: 'EPX_TLS_HANDSHAKE_FAILED', count: 1 },
      ]),
    );
    expect(d.rows).toHaveLength(3);

    const table = await runCli(['show', 'phone-proxy', 'drops', '--state', stateDir]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^Area\s+Reason\s+Code\s+Count$/m);
    expect(table.stdout).toMatch(/^tftp\s+bad-request\s+EPX_TFTP_REQUEST_REFUSED\s+1$/m);
    expect(table.stdout).toMatch(/^tls\s+refused-no-certificate\s+EPX_TLS_NO_CERTIFICATE\s+1$/m);
    expect(table.stdout).toContain('3 reasons with drops');
  });

  test('the refusal reached rsyslog as RFC 5424, with its message id; stderr has it human-readable', async () => {
    await until(() => received().some((r) => r.msgId === 'PPX-4-130006'), 'the TLS refusal at rsyslog');
    const version = JSON.parse((await runCli(['show', 'version', '--json', '--state', stateDir])).stdout) as {
      pid: number;
    };
    const line = received().find((r) => r.msgId === 'PPX-4-130006') as Record<string, string>;
    expect(line).toMatchObject({
      pri: String(19 * 8 + 4), // local3, warning
      version: '1',
      hostname: os.hostname(),
      appName: 'phone-proxy',
      procId: String(version.pid),
      msgId: 'PPX-4-130006',
      sd: '-',
    });
    expect(line.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$/);
    expect(Math.abs(Date.parse(line.timestamp as string) - Date.now())).toBeLessThan(120_000);
    expect(line.msg).toMatch(/^%PPX-4-130006: phone 127\.0\.0\.1:\d+ refused in the TLS handshake: .*certificate/);
    expect(line.msg).toContain('"code":"EPX_TLS_NO_CERTIFICATE"');
    // Info lines go too, without a message id.
    expect(received().some((r) => r.msgId === '-' && /phone-proxy started/.test(r.msg ?? ''))).toBe(true);

    const out = daemon?.output() ?? '';
    expect(out).toMatch(/WARN: \[errors\] %PPX-4-130006: phone 127\.0\.0\.1:\d+ refused in the TLS handshake/);
    // One refusal, one line: not a second copy under another category for syslog to count twice.
    expect(received().filter((r) => r.msgId === 'PPX-4-130006')).toHaveLength(1);
    expect(out).not.toMatch(/^\{"level"/m);

    const logging = JSON.parse((await runCli(['show', 'logging', '--json', '--state', stateDir])).stdout) as {
      format: string;
      syslog: { sent: number; dropped: number; errors: number };
    };
    expect(logging.format).toBe('pretty');
    expect(logging.syslog.sent).toBeGreaterThan(3);
    expect(logging.syslog).toMatchObject({ dropped: 0, errors: 0 });
  });

  test('clear phone-proxy drops starts the counts again; the service views keep theirs', async () => {
    const cleared = await runCli(['clear', 'phone-proxy', 'drops', '--state', stateDir]);
    expect(cleared.code).toBe(0);
    expect(cleared.stdout).toMatch(/^drop counters cleared \(\d+ counters\)$/m);
    const after = await drops();
    expect(after.rows).toEqual([]);
    expect(after.lastCleared).not.toBeNull();
    await malformedTftp();
    expect((await drops()).rows).toEqual([
      { area: 'tftp', reason: 'bad-request', code: 'EPX_TFTP_REQUEST_REFUSED', count: 1 },
    ]);
    const tftp = JSON.parse((await runCli(['show', 'phone-proxy', 'tftp', '--json', '--state', stateDir])).stdout) as {
      outcomes: Record<string, number>;
    };
    expect(tftp.outcomes['bad-request']).toBe(2);
    const bad = await runCli(['show', 'phone-proxy', 'drops', 'sideways', '--state', stateDir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown argument sideways/);
  });
});

describe('log format on a terminal', () => {
  test('without --log-format, stderr on a terminal (script(1)’s pty) gets human-readable lines', async () => {
    if (daemon) await stopCli(daemon);
    daemon = undefined;
    const cmd = [process.execPath, CLI, 'start', '--policy', path.join(h.dir, 'policy.yaml'), '--state', stateDir]
      .map((a) => `'${a}'`)
      .join(' ');
    // script runs the command on a pseudo-terminal and copies what it writes to our pipe.
    const child = spawn('script', ['-qefc', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await until(() => out.includes('ready;'), `ready on the terminal:\n${out}`, 30_000);
      const version = JSON.parse((await runCli(['show', 'version', '--json', '--state', stateDir])).stdout) as {
        pid: number;
      };
      // SIGTERM to the appliance itself: script would hang the terminal up, which is SIGHUP (reload).
      process.kill(version.pid, 'SIGTERM');
      expect(await within(exited, 15_000, 'the appliance stopped')).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    // Coloured, as on a terminal: the escapes are stripped to read the text.
    const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
    expect(out).toMatch(ansi);
    const text = out.replace(ansi, '');
    expect(text).toMatch(/INFO: \[events\] phone-proxy started \{"listening":\[/);
    expect(text).not.toMatch(/\{"level":/);
  }, 60_000);
});
