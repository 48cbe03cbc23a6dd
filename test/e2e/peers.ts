/**
 * Real peers for the end-to-end test, from Debian: Kamailio (registrar + record-routing proxy,
 * the UCM stand-in), baresip (SIP phones, driven through ctrl_tcp) and tshark (capture).
 * Configuration is written into the test's temp dir; every process is tracked and killed by
 * `stopPeers()`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const children = new Set<ChildProcess>();

/** Binaries the scenario needs; the test skips (loudly) when one is missing. */
export const E2E_BINARIES = ['kamailio', 'baresip', 'tshark', 'in.tftpd', 'tftp'];

export function missingBinaries(): string[] {
  return E2E_BINARIES.filter((b) => {
    try {
      execFileSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

export interface Spawned {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function spawnPeer(cmd: string, args: string[], cwd?: string): Spawned {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    // Bounded: the last 200 kB are enough to explain a failure.
    if (out.length > 400_000) out = out.slice(-200_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    });
    child.once('error', (err) => {
      out += `\nspawn error: ${err.message}`;
      children.delete(child);
      resolve(-1);
    });
  });
  return { child, output: () => out, exited };
}

/** SIGTERM, then SIGKILL after `ms`; resolves when it has exited. */
export async function stopPeer(p: Spawned | undefined, ms = 3000): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), ms);
  await p.exited;
  clearTimeout(t);
}

export function stopPeers(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

/** Polls `check` every 50 ms until it returns a value, bounded by `ms`. */
export async function until<T>(check: () => T | undefined | Promise<T | undefined>, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Listening TCP and bound UDP sockets whose local port is in [lo, hi] (from `ss`), one line each. */
export function socketsOnPorts(lo: number, hi: number): string[] {
  const out = execFileSync('ss', ['-H', '-lntu'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => {
    const local = l.trim().split(/\s+/)[4] ?? '';
    const port = Number(local.slice(local.lastIndexOf(':') + 1));
    return port >= lo && port <= hi;
  });
}

/**
 * Sends an OPTIONS through `openssl s_client` (optionally with a client certificate) and returns
 * what came back before the server closed or `ms` passed: a server that requires a certificate
 * says no SIP at all to a client without one.
 */
export function sipOverTls(host: string, port: number, certKeyPem?: string, ms = 3000): string {
  const cert = certKeyPem ? ['-cert', certKeyPem, '-key', certKeyPem] : [];
  const options = `OPTIONS sip:${host}:${port} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKprobe${port}\r\nFrom: <sip:probe@${host}>;tag=p\r\nTo: <sip:${host}>\r\nCall-ID: probe-${port}@e2e\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\nContent-Length: 0\r\n\r\n`;
  try {
    return execFileSync('openssl', ['s_client', '-connect', `${host}:${port}`, '-quiet', '-ign_eof', ...cert], {
      input: options,
      encoding: 'utf8',
      timeout: ms,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

export async function tcpListening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Kamailio

export interface KamailioOptions {
  dir: string;
  address: string;
  tcpPort: number;
  /** Mixed mode: a TLS listener requiring client certificates that chain to `tls.caFile`. */
  tls?: { port: number; certFile: string; keyFile: string; caFile: string };
}

/**
 * Registrar + record-routing proxy. Registered contacts are looked up by user only
 * (usrloc use_domain=0), since the phones register with different domains.
 * tcp_children=1: Kamailio 5.6.3's TLS module with OpenSSL 3 can double-free under load with
 * several TCP workers (fixed upstream in 5.7.4).
 */
export function kamailioConfig(o: KamailioOptions): string {
  const tls = o.tls;
  return `#!KAMAILIO
debug=2
log_stderror=yes
log_prefix="{$mt $ci} "
memdbg=5
memlog=5
children=1
tcp_children=1
auto_aliases=no
disable_sctp=yes
listen=tcp:${o.address}:${o.tcpPort}
${tls ? `listen=tls:${o.address}:${tls.port}\nenable_tls=yes` : ''}
tcp_accept_no_cl=yes
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
${tls ? 'loadmodule "tls.so"' : ''}
modparam("rr", "enable_full_lr", 1)
modparam("usrloc", "use_domain", 0)
${tls ? `modparam("tls", "config", "${path.join(o.dir, 'tls.cfg')}")` : ''}

request_route {
  xlog("L_INFO", "$rm $ru from $si:$sp ($pr)\\n");
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
    sl_send_reply("404", "Not here"); exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
  if (is_method("REGISTER")) {
${tls ? '    if (proto == TLS) xlog("L_INFO", "tls peer verified=$tls_peer_verified subject=$tls_peer_subject_cn issuer=$tls_peer_issuer_cn\\n");\n' : ''}    save("location");
    exit;
  }
  if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }
  if (!is_method("INVITE")) { sl_send_reply("405", "Method Not Allowed"); exit; }
  # Stock record-routing proxy: the appliance must route in-dialog requests back through it.
  record_route();
  if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
  t_relay();
}
`;
}

export function kamailioTlsConfig(tls: NonNullable<KamailioOptions['tls']>): string {
  return `[server:default]
method = TLSv1.2+
verify_certificate = yes
require_certificate = yes
certificate = ${tls.certFile}
private_key = ${tls.keyFile}
ca_list = ${tls.caFile}

[client:default]
verify_certificate = no
require_certificate = no
`;
}

export async function startKamailio(o: KamailioOptions): Promise<Spawned> {
  mkdirSync(o.dir, { recursive: true });
  const cfg = path.join(o.dir, 'kamailio.cfg');
  writeFileSync(cfg, kamailioConfig(o));
  if (o.tls) writeFileSync(path.join(o.dir, 'tls.cfg'), kamailioTlsConfig(o.tls));
  // -DD: stay in the foreground (children still forked), -E: log to stderr.
  const k = spawnPeer('kamailio', [
    '-DD',
    '-E',
    '-f',
    cfg,
    '-Y',
    o.dir,
    '-P',
    path.join(o.dir, 'kamailio.pid'),
    '-m',
    '32',
    '-M',
    '8',
  ]);
  await until(
    async () => (k.child.exitCode !== null ? true : await tcpListening(o.address, o.tcpPort)),
    'kamailio to listen',
  );
  if (k.child.exitCode !== null) throw new Error(`kamailio exited (${k.child.exitCode}):\n${k.output()}`);
  return k;
}

// ---------------------------------------------------------------------------------------------
// baresip

export interface BaresipOptions {
  name: string;
  dir: string;
  /** Address the UA listens on (baresip 1.0 binds 0.0.0.0 anyway: ports must differ). */
  address: string;
  sipPort: number;
  ctrlPort: number;
  rtpPorts: [number, number];
  /** The account line (AOR and parameters) of the accounts file. */
  account: string;
  toneFile: string;
  /** PEM holding the client certificate and its key (TLS). */
  certificate?: string;
  /**
   * Network interface whose address goes into SDP. baresip 1.0 binds RTP on 0.0.0.0 and
   * advertises eth0's address by default, while its packets to loopback leave from 127.0.0.1.
   */
  netInterface?: string;
  /** Run it inside this network namespace (`ip netns exec`), as the NAT scenario does. */
  netns?: string;
  /** `-s`: print every SIP message sent and received, to assert what the phone saw. */
  sipTrace?: boolean;
}

export function baresipConfig(o: BaresipOptions, recordDir: string): string {
  return [
    'poll_method epoll',
    o.netInterface ? `net_interface ${o.netInterface}` : '',
    `sip_listen ${o.address}:${o.sipPort}`,
    o.certificate ? `sip_certificate ${o.certificate}` : '',
    'call_local_timeout 30',
    'call_max_calls 2',
    // Nothing plays: the sndfile filter records what is decoded before the player.
    `audio_player aubridge,play-${o.name}`,
    `audio_alert aubridge,alert-${o.name}`,
    `audio_source aufile,${o.toneFile}`,
    'ausrc_srate 8000',
    'auplay_srate 8000',
    'ausrc_channels 1',
    'auplay_channels 1',
    'audio_buffer 20-160',
    `rtp_ports ${o.rtpPorts[0]}-${o.rtpPorts[1]}`,
    'rtcp_mux no',
    'jitter_buffer_delay 1-10',
    `snd_path ${recordDir}`,
    'module_path /usr/lib/baresip/modules',
    'module g711.so',
    'module sndfile.so',
    'module aufile.so',
    'module aubridge.so',
    'module srtp.so',
    'module_tmp account.so',
    'module_app menu.so',
    'module_app ctrl_tcp.so',
    `ctrl_tcp_listen ${o.address}:${o.ctrlPort}`,
    '',
  ].join('\n');
}

export interface BaresipEvent {
  type: string;
  class?: string;
  param?: string;
  peeruri?: string;
  direction?: string;
  at: number;
}

/** One baresip process and its ctrl_tcp connection (netstring-framed JSON). */
export class Baresip {
  proc?: Spawned;
  readonly events: BaresipEvent[] = [];
  readonly recordDir: string;
  private sock?: net.Socket;
  private rx = Buffer.alloc(0);
  private token = 0;
  private readonly pending = new Map<string, (r: { ok: boolean; data: string }) => void>();

  constructor(readonly o: BaresipOptions) {
    this.recordDir = path.join(o.dir, 'rec');
  }

  async start(): Promise<void> {
    mkdirSync(this.recordDir, { recursive: true });
    writeFileSync(path.join(this.o.dir, 'config'), baresipConfig(this.o, this.recordDir));
    writeFileSync(path.join(this.o.dir, 'accounts'), `${this.o.account}\n`);
    writeFileSync(path.join(this.o.dir, 'contacts'), '');
    const args = ['-f', this.o.dir, ...(this.o.sipTrace ? ['-s'] : [])];
    this.proc = this.o.netns
      ? spawnPeer('ip', ['netns', 'exec', this.o.netns, 'baresip', ...args], this.o.dir)
      : spawnPeer('baresip', args, this.o.dir);
    await until(
      async () => (this.proc?.child.exitCode !== null ? true : await tcpListening(this.o.address, this.o.ctrlPort)),
      `baresip ${this.o.name} ctrl_tcp`,
    );
    if (this.proc.child.exitCode !== null) throw new Error(`baresip ${this.o.name} exited:\n${this.proc.output()}`);
    this.sock = net.connect({ host: this.o.address, port: this.o.ctrlPort });
    await new Promise<void>((resolve, reject) => {
      this.sock?.once('connect', () => resolve());
      this.sock?.once('error', reject);
    });
    this.sock.on('data', (d: Buffer) => this.onData(d));
    this.sock.on('error', () => undefined);
  }

  private onData(d: Buffer): void {
    this.rx = Buffer.concat([this.rx, d]);
    for (;;) {
      const colon = this.rx.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.rx.toString('latin1', 0, colon));
      if (this.rx.length < colon + 1 + len + 1) return;
      const json = this.rx.toString('utf8', colon + 1, colon + 1 + len);
      this.rx = this.rx.subarray(colon + 2 + len);
      const msg = JSON.parse(json) as Record<string, unknown>;
      if (msg.event) this.events.push({ ...(msg as unknown as BaresipEvent), at: Date.now() });
      else if (msg.response && typeof msg.token === 'string') {
        this.pending.get(msg.token)?.({ ok: msg.ok === true, data: String(msg.data ?? '') });
        this.pending.delete(msg.token);
      }
    }
  }

  /** A menu command (`dial`, `hangup`, `hold`, `resume`, `reginfo`...), answered within 5 s. */
  command(command: string, params = ''): Promise<{ ok: boolean; data: string }> {
    const token = `t${++this.token}`;
    const body = Buffer.from(JSON.stringify({ command, params, token }));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(token);
        reject(new Error(`baresip ${this.o.name}: no answer to "${command}" within 5 s`));
      }, 5000);
      this.pending.set(token, (r) => {
        clearTimeout(t);
        resolve(r);
      });
      this.sock?.write(Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]));
    });
  }

  /** Waits for an event of `type` seen after `since` (ms epoch). */
  waitEvent(type: string, since = 0, ms = 10_000): Promise<BaresipEvent> {
    return until(
      () => this.events.find((e) => e.type === type && e.at >= since),
      `${this.o.name}: event ${type}`,
      ms,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; events: ${this.events.map((e) => e.type).join(',')}\n${this.proc?.output()}`);
    });
  }

  /** Polls `reginfo` until the account shows a 200 OK binding. */
  async registered(ms = 10_000): Promise<void> {
    let last = '';
    await until(
      async () => {
        last = (await this.command('reginfo')).data;
        return last.includes('OK') ? true : undefined;
      },
      `${this.o.name} registered`,
      ms,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; reginfo: ${JSON.stringify(last)}\n${this.proc?.output()}`);
    });
  }

  async stop(): Promise<void> {
    this.sock?.destroy();
    await stopPeer(this.proc);
  }
}

// ---------------------------------------------------------------------------------------------
// tshark

/** Captures on `iface` (lo unless told) with a BPF filter into `file` until stopped. */
export async function startCapture(file: string, filter: string, iface = 'lo'): Promise<Spawned> {
  const t = spawnPeer('tshark', ['-q', '-i', iface, '-f', filter, '-w', file]);
  await until(() => (t.output().includes('Capturing on') || t.child.exitCode !== null ? true : undefined), 'tshark');
  if (t.child.exitCode !== null) throw new Error(`tshark exited:\n${t.output()}`);
  return t;
}

/** Fields of every packet matching a display filter, one array per packet. */
export function tsharkFields(file: string, display: string, fields: string[], decodeAs: string[] = []): string[][] {
  const out = execFileSync(
    'tshark',
    [
      '-r',
      file,
      ...decodeAs.flatMap((d) => ['-d', d]),
      '-Y',
      display,
      '-T',
      'fields',
      '-E',
      'separator=|',
      ...fields.flatMap((f) => ['-e', f]),
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 20_000 },
  );
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('|'));
}
