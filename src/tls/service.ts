/**
 * The TLS proxy service ('tls-proxy'): phone-facing TLS listeners on every outside interface,
 * one upstream connection per phone connection, and a protocol inspector per listener —
 * SIP on `listen.sip-tls` now; SCCP (issue 7) adds an entry to `inspectedProtocols` with its
 * port and inspector, sharing the connection table, counters and views.
 */
import { randomBytes } from 'node:crypto';
import { Counter, Gauge } from 'prom-client';
import type { ClusterMember } from '../config/policy-schema';
import { decideLegs } from '../contracts/leg-decision';
import type { MediaAllocator } from '../contracts/media';
import type { SecurePhoneRecords } from '../contracts/phones';
import type { ClearAction, Listening, OperatorViews, Service, ServiceContext, ShowView } from '../contracts/service';
import type { InspectorFactory } from '../contracts/signaling';
import { mintLdc } from '../pki/ldc';
import type { ApplianceState } from '../pki/types';
import { sccpInspectorFactory } from '../sccp/protocol';
import { SipInspector } from '../sip/inspector';
import { cipherProfile } from './cipher-policy';
import { ConnectionTable } from './connection-table';
import { type ServerProfile, TlsProxy, type UpstreamMember } from './proxy';
import { matchRemoteAddr } from './remote-addr';

export type MintLdc = (state: ApplianceState, deviceName: string) => { certPem: string; keyPem: string };

export interface TlsProxyDeps {
  /** Defaults to src/pki/ldc.ts (tests may count or fail mints). */
  mintLdc?: MintLdc;
  /** Media termination the inspectors allocate from; without it calls get no media session. */
  media?: MediaAllocator;
  /** The secure-phones records (the TFTP interceptor's); without them every phone is unknown. */
  phones?: SecurePhoneRecords;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  maxSendQueueBytes?: number;
  tickMs?: number;
  inviteTimeoutMs?: number;
  /**
   * SCCP inspection on listen.sccp-tls (issue 7). Off by default until every test harness
   * that starts this service gives sccp-tls a port of its own (they share 127.0.1.1:2443 now).
   */
  sccp?: boolean;
}

/** One inspected protocol on the TLS proxy: where phones connect and where UCM listens for it. */
export interface InspectedProtocol {
  protocol: string;
  port: number;
  tcpPort(m: ClusterMember): number;
  tlsPort(m: ClusterMember): number;
  inspector: InspectorFactory;
}

export interface TlsProxyService extends Service {
  operatorViews(): OperatorViews;
  readonly table: ConnectionTable;
  readonly proxies: TlsProxy[];
}

function stripPrefix(cidr: string): string {
  return cidr.split('/')[0] ?? cidr;
}

export function createTlsProxyService(ctx: ServiceContext, deps: TlsProxyDeps = {}): TlsProxyService {
  const { policy } = ctx.loaded;
  const tlsPolicy = policy['tls-proxy'];
  const log = ctx.logs.for('signaling');
  const errors = ctx.logs.for('errors');

  const metric = <T>(name: string, make: () => T): T => (ctx.metrics.getSingleMetric(name) as T | undefined) ?? make();
  const events = metric(
    'phone_proxy_tls_proxy_events_total',
    () =>
      new Counter({
        name: 'phone_proxy_tls_proxy_events_total',
        help: 'TLS proxy connection events (seed 001 counters)',
        labelNames: ['event'],
        registers: [ctx.metrics],
      }),
  );
  const sipMessages = metric(
    'phone_proxy_sip_messages_total',
    () =>
      new Counter({
        name: 'phone_proxy_sip_messages_total',
        help: 'SIP messages inspected',
        labelNames: ['direction'],
        registers: [ctx.metrics],
      }),
  );
  const sipErrors = metric(
    'phone_proxy_sip_errors_total',
    () =>
      new Counter({
        name: 'phone_proxy_sip_errors_total',
        help: 'SIP messages or streams refused',
        labelNames: ['reason'],
        registers: [ctx.metrics],
      }),
  );
  const table = new ConnectionTable((name) => events.inc({ event: name }));
  metric(
    'phone_proxy_tls_proxy_connections_active',
    () =>
      new Gauge({
        name: 'phone_proxy_tls_proxy_connections_active',
        help: 'Phone connections through the TLS proxy',
        registers: [ctx.metrics],
        collect() {
          this.set(table.active);
        },
      }),
  );

  const media = () => deps.media;
  const phoneMode = (name: string) => deps.phones?.get(name)?.originalMode;
  const ldcCache = new Map<string, { certPem: string; keyPem: string }>();
  const mint = deps.mintLdc ?? mintLdc;
  const ldc = (deviceName: string) => {
    let c = ldcCache.get(deviceName);
    if (!c) {
      c = mint(ctx.state, deviceName);
      ldcCache.set(deviceName, c);
      log.info({ phone: deviceName }, 'LDC minted for the upstream TLS leg');
    }
    return c;
  };

  const sip: InspectedProtocol = {
    protocol: 'sip',
    port: policy.listen['sip-tls'],
    tcpPort: (m) => m['sip-port'],
    tlsPort: (m) => m['sip-tls-port'],
    inspector: (conn, pipe) =>
      new SipInspector(conn, pipe, {
        media,
        log: log.child({ proto: 'sip' }),
        counters: {
          error: (reason) => sipErrors.inc({ reason }),
          message: (direction) => sipMessages.inc({ direction }),
        },
        randomBytes,
        ...(deps.inviteTimeoutMs ? { inviteTimeoutMs: deps.inviteTimeoutMs } : {}),
      }),
  };
  const inspectedProtocols: InspectedProtocol[] = [sip];
  if (deps.sccp) {
    inspectedProtocols.push({
      protocol: 'sccp',
      port: policy.listen['sccp-tls'],
      tcpPort: (m) => m['sccp-port'],
      tlsPort: (m) => m['sccp-tls-port'],
      inspector: sccpInspectorFactory({ metrics: ctx.metrics, media, log, randomBytes }),
    });
  }
  const proxies: TlsProxy[] = [];

  const credential = (name: string, what: string) => {
    const tp = ctx.state.trustpoints.get(name);
    if (!tp?.keyPem)
      throw new Error(
        `tls-proxy: ${what} trustpoint "${name}" ${tp ? 'has no private key' : 'is not in the state directory'}`,
      );
    return { cert: tp.certPem, key: tp.keyPem };
  };

  function build(): void {
    const clientCa = ctx.state.clientTrustAnchors;
    if (clientCa.length === 0)
      errors.error('tls-proxy: no client trust anchors (tls-proxy.client-trustpoints): every phone will be refused');
    const rules = tlsPolicy['remote-addr'];
    const profileOf = (trustpoint: string, strict: boolean, what: string): ServerProfile => {
      const cp = cipherProfile(tlsPolicy, strict);
      return {
        label: `${trustpoint}/${cp.label}`,
        options: {
          ...credential(trustpoint, what),
          ...(clientCa.length ? { ca: clientCa } : {}),
          minVersion: cp.minVersion,
          ciphers: cp.ciphers,
        },
      };
    };
    const profiles = [
      profileOf(tlsPolicy['server-trustpoint'], false, 'server'),
      ...rules.map((r, n) => profileOf(r.trustpoint, r['strict-cipher'], `remote-addr[${n}]`)),
    ];
    if (tlsPolicy['legacy-phones']) {
      const msg =
        'tls-proxy: LEGACY PHONES ALLOWED: TLS 1.0/1.1 and AES128-SHA accepted from phones (legacy-phones: true)';
      log.warn(msg);
      errors.warn(msg);
    }
    const ifAddress = new Map(policy.interfaces.map((i) => [i.name, stripPrefix(i.address)]));
    const listeners = policy.interfaces.filter((i) => i.role === 'outside');
    for (const p of inspectedProtocols) {
      const members: UpstreamMember[] = policy.cluster.members.map((m) => {
        const ca = m.trustpoint ? ctx.state.trustpoints.get(m.trustpoint)?.certPem : undefined;
        return {
          name: m.name,
          address: m.address,
          interfaceName: m.interface,
          localAddress: ifAddress.get(m.interface) ?? '0.0.0.0',
          tcpPort: p.tcpPort(m),
          tlsPort: p.tlsPort(m),
          ...(ca ? { ca } : {}),
        };
      });
      proxies.push(
        new TlsProxy({
          protocol: p.protocol,
          listeners: listeners.map((i) => ({ address: stripPrefix(i.address), port: p.port, interfaceName: i.name })),
          profiles,
          profileFor: (addr) => matchRemoteAddr(addr, rules) + 1,
          members,
          decide: (deviceName) => {
            const d = decideLegs(policy.cluster.mode, deviceName ? phoneMode(deviceName) : undefined);
            if (d.defaulted)
              log.info(
                { phone: deviceName ?? '-', assumed: d.phoneMode },
                'no secure-phones record: using the default phone mode',
              );
            return d;
          },
          ldc,
          inspector: p.inspector,
          table,
          log,
          errors,
          ...(deps.connectTimeoutMs ? { connectTimeoutMs: deps.connectTimeoutMs } : {}),
          ...(deps.idleTimeoutMs ? { idleTimeoutMs: deps.idleTimeoutMs } : {}),
          ...(deps.maxSendQueueBytes ? { maxSendQueueBytes: deps.maxSendQueueBytes } : {}),
          ...(deps.tickMs ? { tickMs: deps.tickMs } : {}),
        }),
      );
    }
  }

  function operatorViews(): OperatorViews {
    const show: ShowView[] = [];
    const clear: ClearAction[] = [];
    show.push({
      name: 'tls-proxy sessions',
      help: 'phone connections through the TLS proxy',
      render: () => table.sessions(),
    });
    show.push({
      name: 'tls-proxy statistics',
      help: 'TLS proxy connection counters',
      render: () => table.statistics(),
    });
    show.push({
      name: 'phone-proxy signaling-sessions',
      help: 'calls seen by signaling inspection: phone, Call-ID, state, media session',
      render: () => {
        const sessions = proxies.flatMap((p) => p.sessions());
        return {
          data: sessions,
          lines: [`${sessions.length} signaling session${sessions.length === 1 ? '' : 's'}`],
          tables: [
            {
              columns: ['protocol', 'phone', 'call-id', 'state', 'media-session'],
              rows: sessions.map((s) => [s.protocol, s.phone, s.callId, s.state, s.mediaSession]),
            },
          ],
        };
      },
    });
    show.push({
      name: 'tls-proxy ldc-issuer',
      help: 'the LDC issuer certificate (PEM) to upload to UCM CallManager-trust',
      render: () => {
        const pem = ctx.state.ldcIssuer?.certPem;
        return {
          data: { certPem: pem ?? null },
          lines: pem ? pem.trimEnd().split('\n') : ['no LDC issuer (tls-proxy.ldc-issuer is not set)'],
        };
      },
    });
    clear.push({
      name: 'tls-proxy connection',
      help: 'close TLS proxy connections: id <n> | target <ip:port>',
      run: (args) => {
        const hits = table.clear(args);
        return `cleared ${hits.length} connection${hits.length === 1 ? '' : 's'}${hits.length ? ` (${hits.map((h) => h.id).join(', ')})` : ''}`;
      },
    });
    return { show, clear };
  }

  return {
    name: 'tls-proxy',
    table,
    proxies,
    operatorViews,
    async start(): Promise<Listening[]> {
      build();
      const out: Listening[] = [];
      for (const p of proxies) out.push(...(await p.start()));
      log.info(
        { listening: out.map((l) => `${l.address}:${l.port}`), cluster: policy.cluster.mode },
        'TLS proxy started',
      );
      return out;
    },
    async stop(): Promise<void> {
      await Promise.all(proxies.map((p) => p.stop()));
    },
  };
}
