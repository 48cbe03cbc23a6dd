/**
 * The upstream leg toward UCM (thin I/O): cluster members in order, TCP or TLS presenting the
 * phone's LDC per the leg decision, each attempt bounded by a connect timeout. Failures are
 * counted in the connection table and logged per member.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { LegDecision } from '../contracts/leg-decision';
import { TlsUpstreamError } from '../errors';
import { ppx } from '../messages';
import { type CipherProfile, STRONG_CIPHERS } from './cipher-policy';
import type { ConnectionTable } from './connection-table';
import { TLS_EVENT_CODES } from './event-codes';

export interface UpstreamMember {
  name: string;
  address: string;
  interfaceName: string;
  /** The appliance's own address on the member's interface (source of the upstream leg). */
  localAddress: string;
  tcpPort: number;
  tlsPort: number;
  /** PEM that must sign (or be) the member's certificate on a TLS leg. */
  ca?: string;
  /** Outside interface the phones' configuration names for this member (policy phone-interface). */
  phoneInterface?: string;
}

export interface UpstreamDeps {
  members: UpstreamMember[];
  ldc(deviceName: string): { certPem: string; keyPem: string };
  table: ConnectionTable;
  errors: Logger;
  connectTimeoutMs: number;
  /** Version floor and ciphers of a TLS leg (tls-proxy.upstream); absent, TLS 1.2+ strong suites. */
  tlsProfile?: Pick<CipherProfile, 'minVersion' | 'ciphers' | 'label'>;
}

export interface Upstream {
  sock: net.Socket;
  member: UpstreamMember;
  port: number;
}

/** The members in the order to try: those the phone's interface names (phone-interface) first, the others as listed. */
export function memberOrder<M extends { phoneInterface?: string }>(
  members: readonly M[],
  phoneInterface?: string,
): M[] {
  const wanted = members.filter((m) => phoneInterface !== undefined && m.phoneInterface === phoneInterface);
  return [...wanted, ...members.filter((m) => !wanted.includes(m))];
}

/**
 * Primary first; the next member when a connection attempt fails. A phone that connected on the
 * interface its configuration names for a member (phone-interface) is trying that member: it goes
 * first, the others keep their order behind it.
 */
export async function connectUpstream(
  deps: UpstreamDeps,
  decision: LegDecision,
  deviceName: string | undefined,
  phoneInterface?: string,
): Promise<Upstream> {
  const failures: string[] = [];
  for (const member of memberOrder(deps.members, phoneInterface)) {
    const port = decision.upstream === 'tls' ? member.tlsPort : member.tcpPort;
    try {
      return { sock: await connectOne(deps, member, port, decision, deviceName), member, port };
    } catch (err) {
      deps.table.count('connection-failures');
      if (err instanceof TlsUpstreamError && err.handshake) deps.table.count('tls-client-handshake-failures');
      const reason = (err as Error).message;
      const code =
        TLS_EVENT_CODES[
          err instanceof TlsUpstreamError && err.handshake ? 'tls-client-handshake-failures' : 'connection-failures'
        ];
      failures.push(`${member.name}: ${reason}`);
      const line = ppx(130014, { member: member.name, upstream: `${member.address}:${port}`, reason, code });
      deps.errors.warn(...line);
    }
  }
  throw new Error(failures.join('; '));
}

function connectOne(
  deps: UpstreamDeps,
  member: UpstreamMember,
  port: number,
  decision: LegDecision,
  deviceName: string | undefined,
): Promise<net.Socket> {
  let ldc: { certPem: string; keyPem: string } | undefined;
  if (decision.upstream === 'tls') {
    if (!member.ca)
      return Promise.reject(
        new TlsUpstreamError(`member ${member.name} has no trustpoint: cannot verify UCM on a TLS leg`, false),
      );
    if (!deviceName)
      return Promise.reject(
        new TlsUpstreamError('the phone certificate names no device (SEP...): no LDC can be minted', false),
      );
    try {
      ldc = deps.ldc(deviceName);
    } catch (err) {
      return Promise.reject(new TlsUpstreamError(`LDC for ${deviceName}: ${(err as Error).message}`, false));
    }
  }
  const timeoutMs = deps.connectTimeoutMs;
  // Named in a handshake failure: a UCM too old (or too strict) for the policy only resets.
  const offered = `offered ${deps.tlsProfile?.minVersion ?? 'TLSv1.2'}+ with ${deps.tlsProfile?.label ?? 'strong'} ciphers, tls-proxy.upstream`;
  return new Promise((resolve, reject) => {
    // noDelay (issue 13): UCM's replies and ours are small; Nagle would hold them for an ACK.
    const raw = net.connect({ host: member.address, port, localAddress: member.localAddress, noDelay: true });
    // Errors after this attempt is settled (late resets, the TLS layer's own) must not be unhandled.
    raw.on('error', () => undefined);
    let current: net.Socket = raw;
    let tcpUp = false;
    const fail = (err: Error) => {
      clearTimeout(timer);
      current.destroy();
      raw.destroy();
      reject(
        new TlsUpstreamError(
          tcpUp && ldc ? `TLS handshake with UCM failed (${offered}): ${err.message}` : err.message,
          tcpUp && !!ldc,
        ),
      );
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const done = (sock: net.Socket) => {
      clearTimeout(timer);
      sock.off('error', fail);
      raw.off('error', fail);
      resolve(sock);
    };
    raw.once('error', fail);
    raw.once('connect', () => {
      tcpUp = true;
      if (!ldc) {
        done(raw);
        return;
      }
      const secure = tls.connect({
        socket: raw,
        cert: ldc.certPem,
        key: ldc.keyPem,
        ca: [member.ca as string],
        minVersion: deps.tlsProfile?.minVersion ?? 'TLSv1.2',
        ciphers: deps.tlsProfile?.ciphers ?? STRONG_CIPHERS,
        // UCM is identified by the trustpoint pinned for this member, not by a host name:
        // the appliance reaches it by address.
        checkServerIdentity: () => undefined,
      });
      current = secure;
      secure.once('error', fail);
      secure.once('secureConnect', () => done(secure));
    });
  });
}
