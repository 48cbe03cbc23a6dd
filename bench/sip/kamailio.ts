/**
 * The reference relays of bench:sip: Debian's Kamailio as a record-routing TLS↔TCP proxy (TLS
 * listener toward the phone requiring a client certificate from the phones' CA, TCP toward the
 * scripted UCM). Two lanes:
 *   - signaling only (no `rtpengine`): no media work at all, while the appliance allocates and
 *     programs a media session per call on top of relaying;
 *   - with `rtpengine` (bench/sip/rtpengine.ts): the like-for-like edge. Each offer (INVITE and
 *     re-INVITE with SDP) goes through `rtpengine_offer` (SRTP/SDES from the phone → RTP/AVP toward
 *     UCM, media addresses and ports rewritten), each answer with SDP through `rtpengine_answer`
 *     (RTP from UCM → RTP/SAVP with rtpengine's own SDES key toward the phone), BYE and failures
 *     through `rtpengine_delete`: the same conversion the appliance does.
 * Logging at debug=2 (Kamailio's default level) with no per-request xlog.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const KAMAILIO_BIN = '/usr/sbin/kamailio';

export interface KamailioRelayOptions {
  dir: string;
  address: string;
  tlsPort: number;
  /** Kamailio needs a TCP socket of its own to send from toward UCM. */
  tcpPort: number;
  ucm: { address: string; port: number };
  certFile: string;
  keyFile: string;
  caFile: string;
  /** The ng control socket of an rtpengine: the like-for-like lane (media per call). */
  rtpengine?: { address: string; port: number };
}

export function kamailioAvailable(): boolean {
  return existsSync(KAMAILIO_BIN) && existsSync('/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so');
}

export function kamailioVersion(): string {
  try {
    return execFileSync(KAMAILIO_BIN, ['-v'], { encoding: 'utf8' }).split('\n')[0]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** rtpengine flags of an offer: toward UCM plain RTP/AVP from the `priv` interface, SDP addresses replaced. */
const OFFER_FLAGS = 'RTP AVP direction=pub direction=priv replace-origin replace-session-connection ICE=remove';
/** The answer goes back toward the offerer in its own profile (RTP/SAVP + SDES key): no direction needed. */
const ANSWER_FLAGS = 'replace-origin replace-session-connection ICE=remove';

function config(o: KamailioRelayOptions): string {
  const ucm = `sip:${o.ucm.address}:${o.ucm.port};transport=tcp`;
  const media = o.rtpengine !== undefined;
  // Media handling of the request routes: nothing at all in the signaling-only lane.
  const offer = media
    ? `if (has_body("application/sdp")) { rtpengine_offer("${OFFER_FLAGS}"); t_on_reply("media"); } t_on_failure("media_failed");`
    : '';
  const inDialog = media
    ? `if (is_method("BYE")) rtpengine_delete();
      else if (is_method("INVITE")) { ${offer} }`
    : '';
  const mediaRoutes = media
    ? `
onreply_route[media] {
  if (status =~ "^(18[0-9]|2[0-9][0-9])$" && has_body("application/sdp")) rtpengine_answer("${ANSWER_FLAGS}");
}

failure_route[media_failed] {
  if (t_is_canceled() || t_check_status("[3-6][0-9][0-9]")) rtpengine_delete();
}
`
    : '';
  const modules = media
    ? `loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:${o.rtpengine?.address}:${o.rtpengine?.port}")
`
    : '';
  return `#!KAMAILIO
debug=2
log_stderror=yes
children=1
# One TCP/TLS worker: Kamailio 5.6's TLS module with OpenSSL 3 can double-free with several
# (see test/e2e/peers.ts); the appliance's signaling is one thread too.
tcp_children=1
auto_aliases=no
disable_sctp=yes
listen=tls:${o.address}:${o.tlsPort}
listen=tcp:${o.address}:${o.tcpPort}
enable_tls=yes
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "pv.so"
loadmodule "tls.so"
${modules}modparam("rr", "enable_full_lr", 1)
modparam("tls", "config", "${path.join(o.dir, 'tls.cfg')}")

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  force_rport();
  if (has_totag()) {
    if (loose_route()) {
      ${inDialog}
      t_relay(); exit;
    }
    if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
    sl_send_reply("404", "Not here"); exit;
  }
  if (is_method("CANCEL")) {
    if (t_check_trans()) { ${media ? 'rtpengine_delete(); ' : ''}t_relay(); }
    exit;
  }
  # Everything else to the one UCM, over TCP; INVITEs record-routed (double: TLS in, TCP out).
  if (is_method("INVITE")) { record_route(); ${offer} }
  $du = "${ucm}";
  t_relay();
}
${mediaRoutes}`;
}

function tlsConfig(o: KamailioRelayOptions): string {
  return `[server:default]
method = TLSv1.2+
verify_certificate = yes
require_certificate = yes
certificate = ${o.certFile}
private_key = ${o.keyFile}
ca_list = ${o.caFile}

[client:default]
verify_certificate = no
require_certificate = no
`;
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class KamailioRelay {
  private output = '';

  private constructor(readonly child: ChildProcess) {
    const keep = (d: Buffer) => {
      this.output += d.toString();
      // Bounded: the tail explains a failure.
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  static async start(o: KamailioRelayOptions): Promise<KamailioRelay> {
    const cfg = path.join(o.dir, 'kamailio.cfg');
    writeFileSync(cfg, config(o));
    writeFileSync(path.join(o.dir, 'tls.cfg'), tlsConfig(o));
    // -DD: foreground (its worker processes are still forked), -E: log to stderr.
    const child = spawn(
      KAMAILIO_BIN,
      ['-DD', '-E', '-f', cfg, '-Y', o.dir, '-P', path.join(o.dir, 'kamailio.pid'), '-m', '256', '-M', '16'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const k = new KamailioRelay(child);
    const deadline = Date.now() + 10_000;
    while (!(await listening(o.address, o.tlsPort))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`kamailio did not start (exit ${child.exitCode}):\n${k.output.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return k;
  }

  log(): string {
    return this.output;
  }

  /** Kamailio's processes: the main one and the workers it forked. */
  pids(): number[] {
    const main = this.child.pid;
    if (!main) return [];
    const out = [main];
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === main) out.push(Number(d));
      } catch {
        // gone meanwhile
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}
