/**
 * The TLS proxy service ('tls-proxy'): phone-facing listeners on the outside interfaces, one
 * upstream connection per phone connection, and a protocol inspector per listener — SIP on
 * `listen.sip-tls`, SCCP on `listen.sccp-tls`, and the nonsecure `listen.sip` / `listen.sccp`
 * (plain TCP toward the phone, same inspection), sharing the connection table, admission,
 * counters and views. Registrations seen by the inspectors refresh the secure-phones records.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import {
  type ClusterMember,
  type ListenerName,
  listenerEndpoint,
  type TlsProxy as TlsProxyPolicy,
} from '../config/policy-schema';
import { touches } from '../config/reload-plan';
import type { SignalingTap } from '../contracts/capture';
import { decideLegs, type LegDecision, type PhoneSecurityMode } from '../contracts/leg-decision';
import type { MediaAllocator } from '../contracts/media';
import type { PhoneRegistration, SecurePhoneRecords } from '../contracts/phones';
import type {
  ClearAction,
  DropCount,
  Listening,
  OperatorViews,
  Reconfiguration,
  Service,
  ServiceContext,
  ShowView,
  ViewResult,
} from '../contracts/service';
import type { InspectorFactory } from '../contracts/signaling';
import type { ApplianceState } from '../contracts/state';
import { LogLimiter } from '../log-limit';
import { ppx } from '../messages';
import { mintLdc } from '../pki/ldc';
import { SCCP_DROP_CODES } from '../sccp/drop-codes';
import { sccpInspectorFactory } from '../sccp/protocol';
import { SIP_DROP_CODES } from '../sip/drop-codes';
import { SipInspector } from '../sip/inspector';
import { Admission, type AdmissionLimits, DEFAULT_ADMISSION_LIMITS } from './admission';
import { cipherProfile, upstreamCipherProfile } from './cipher-policy';
import { COUNTER_NAMES, ConnectionTable } from './connection-table';
import { TLS_EVENT_CODES } from './event-codes';
import { LdcCache, type LdcPair } from './ldc-cache';
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
  /** Packet capture (issue 15): the clear signaling of both legs goes here while a capture runs. */
  capture?: SignalingTap;
  connectTimeoutMs?: number;
  /** Accept to end of TLS handshake, absolute (default 10 s). */
  handshakeTimeoutMs?: number;
  /** First to last byte of one phone message, SIP or SCCP (default 5 s). */
  messageTimeoutMs?: number;
  /** Connection limits (issue 12), shared by every listener; defaults in src/tls/admission.ts. */
  limits?: Partial<AdmissionLimits>;
  /** Interval of the warning rate limiter (default 15 s). */
  logLimitMs?: number;
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
  protocol: 'sip' | 'sccp';
  /** The policy's listener (its port, and address when it names one). */
  listener: ListenerName;
  /** A nonsecure listener: plain TCP toward the phone, which is then nonsecure in the decision table. */
  plain: boolean;
  tcpPort(m: ClusterMember): number;
  tlsPort(m: ClusterMember): number;
  inspector: InspectorFactory;
}

function stripPrefix(cidr: string): string {
  return cidr.split('/')[0] ?? cidr;
}

type PolicySettings = Required<Pick<TlsProxyDeps, 'idleTimeoutMs' | 'handshakeTimeoutMs' | 'messageTimeoutMs'>> & {
  limits: AdmissionLimits;
};

/** The proxy's timeouts and limits from the policy: at start (src/appliance.ts) and on a live reload. */
export function tlsProxySettings(tp: TlsProxyPolicy): PolicySettings {
  return {
    idleTimeoutMs: tp['idle-timeout'] * 1000,
    handshakeTimeoutMs: tp['handshake-timeout'] * 1000,
    messageTimeoutMs: tp['message-timeout'] * 1000,
    limits: {
      maxConnections: tp['max-connections'],
      maxPerSource: tp['max-connections-per-source'],
      maxPendingPerSource: tp['max-pending-handshakes-per-source'],
      maxPerDevice: tp['max-connections-per-device'],
    },
  };
}

/**
 * The service: metrics and inspected protocols are set up at construction (views may be
 * registered before start), listeners and proxies are built at start from the policy.
 */
export class TlsProxyService implements Service {
  readonly name = 'tls-proxy';
  readonly table: ConnectionTable;
  readonly proxies: TlsProxy[] = [];
  /** Each proxy with the protocol it inspects, for a live reload. */
  private readonly built: { proxy: TlsProxy; protocol: InspectedProtocol }[] = [];
  /** One admission and one warning limiter for every listener (SIP and SCCP). */
  readonly admission: Admission;
  private readonly limiter: LogLimiter;
  private readonly log: Logger;
  private readonly errors: Logger;
  private readonly events: Counter<'event'>;
  private readonly sipMessages: Counter<'direction'>;
  private readonly sipErrors: Counter<'reason'>;
  private readonly inspectedProtocols: InspectedProtocol[];
  /** One LDC per device name for the upstream TLS leg, minted on first use (shared by a cluster). */
  private readonly ldcCache: LdcCache;
  private readonly mint: MintLdc;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly deps: TlsProxyDeps = {},
  ) {
    this.log = ctx.logs.for('signaling');
    this.errors = ctx.logs.for('errors');
    this.mint = deps.mintLdc ?? mintLdc;
    this.ldcCache = new LdcCache(ctx.cluster, this.log);
    this.events = this.metric(
      'phone_proxy_tls_proxy_events_total',
      () =>
        new Counter({
          name: 'phone_proxy_tls_proxy_events_total',
          help: 'TLS proxy connection events (seed 001 counters)',
          labelNames: ['event'],
          registers: [ctx.metrics],
        }),
    );
    this.sipMessages = this.metric(
      'phone_proxy_sip_messages_total',
      () =>
        new Counter({
          name: 'phone_proxy_sip_messages_total',
          help: 'SIP messages inspected',
          labelNames: ['direction'],
          registers: [ctx.metrics],
        }),
    );
    this.sipErrors = this.metric(
      'phone_proxy_sip_errors_total',
      () =>
        new Counter({
          name: 'phone_proxy_sip_errors_total',
          help: 'SIP messages or streams refused',
          labelNames: ['reason'],
          registers: [ctx.metrics],
        }),
    );
    const table = new ConnectionTable((name) => this.events.inc({ event: name }));
    this.table = table;
    const admission = new Admission({ ...DEFAULT_ADMISSION_LIMITS, ...deps.limits });
    this.admission = admission;
    this.limiter = new LogLimiter(deps.logLimitMs);
    table.pendingHandshakes = () => admission.pending;
    this.metric(
      'phone_proxy_tls_proxy_handshakes_pending',
      () =>
        new Gauge({
          name: 'phone_proxy_tls_proxy_handshakes_pending',
          help: 'Phone connections accepted and still in the TLS handshake',
          registers: [ctx.metrics],
          collect() {
            this.set(admission.pending);
          },
        }),
    );
    this.metric(
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
    this.inspectedProtocols = [this.sipProtocol('sip-tls'), this.sipProtocol('sip')];
    if (deps.sccp) this.inspectedProtocols.push(this.sccpProtocol('sccp-tls'), this.sccpProtocol('sccp'));
  }

  async start(): Promise<Listening[]> {
    await this.ldcCache.start();
    this.build();
    const out: Listening[] = [];
    for (const p of this.proxies) out.push(...(await p.start()));
    this.log.info(
      { listening: out.map((l) => `${l.address}:${l.port}`), cluster: this.ctx.loaded.policy.cluster.mode },
      'TLS proxy started',
    );
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all(this.proxies.map((p) => p.stop()));
  }

  /**
   * Live reload of tls-proxy keys and trustpoints (ctx already holds the new policy and state):
   * admission limits at once, certificates, client CAs, ciphers and the handshake deadline for
   * new connections, idle and message timeouts for all. No listener or connection closes.
   */
  reconfigure({ changed }: Reconfiguration): string[] {
    const mine = changed.filter((c) => touches([c], 'tls-proxy') || touches([c], 'trustpoints'));
    if (mine.length === 0) return [];
    const tp = this.ctx.loaded.policy['tls-proxy'];
    const settings = tlsProxySettings(tp);
    this.admission.setLimits(settings.limits);
    const profiles = this.serverProfiles();
    const rules = tp['remote-addr'];
    const upstreamTls = upstreamCipherProfile(tp.upstream);
    this.warnIfLegacy();
    for (const { proxy, protocol } of this.built) {
      proxy.reconfigure({
        profiles,
        profileFor: (addr) => matchRemoteAddr(addr, rules) + 1,
        members: this.membersFor(protocol),
        upstreamTls,
        handshakeTimeoutMs: settings.handshakeTimeoutMs,
        messageTimeoutMs: settings.messageTimeoutMs,
        idleTimeoutMs: settings.idleTimeoutMs,
      });
    }
    this.log.info({ changed: mine, profiles: profiles.map((p) => p.label) }, 'TLS proxy reconfigured');
    return mine;
  }

  operatorViews(): OperatorViews {
    const show: ShowView[] = [
      {
        name: 'tls-proxy sessions',
        help: 'phone connections through the TLS proxy',
        render: () => this.table.sessions(),
      },
      {
        name: 'tls-proxy statistics',
        help: 'TLS proxy connection counters',
        render: () => this.table.statistics(),
      },
      {
        name: 'phone-proxy signaling-sessions',
        help: 'calls seen by signaling inspection: phone, Call-ID, state, media session',
        render: () => this.signalingSessions(),
      },
      {
        name: 'tls-proxy ldc-issuer',
        help: 'the LDC issuer certificate (PEM) to upload to UCM CallManager-trust',
        render: () => this.ldcIssuer(),
      },
    ];
    const clear: ClearAction[] = [
      {
        name: 'tls-proxy connection',
        help: 'close TLS proxy connections: id <n> | target <ip:port>',
        run: (args) => {
          const hits = this.table.clear(args);
          return `cleared ${hits.length} connection${hits.length === 1 ? '' : 's'}${hits.length ? ` (${hits.map((h) => h.id).join(', ')})` : ''}`;
        },
      },
    ];
    return { show, clear, drops: { areas: () => this.drops() } };
  }

  /**
   * For `show phone-proxy drops`: connections refused or failed (the counters with a code), and
   * the SIP and SCCP refusals, read from their metrics (every known reason, zero or not).
   */
  private async drops(): Promise<{ area: string; counts: DropCount[] }[]> {
    const byReason = async (name: string, codes: Record<string, string | null>): Promise<DropCount[]> => {
      const counted = new Map<string, number>();
      const metric = this.ctx.metrics.getSingleMetric(name) as Counter<'reason'> | undefined;
      for (const v of (await metric?.get())?.values ?? []) {
        const reason = String(v.labels.reason);
        counted.set(reason, (counted.get(reason) ?? 0) + v.value);
      }
      const reasons = [...new Set([...Object.keys(codes), ...counted.keys()])];
      return reasons.map((reason) => ({ reason, code: codes[reason] ?? null, count: counted.get(reason) ?? 0 }));
    };
    const tls = COUNTER_NAMES.flatMap((c) => {
      const code = TLS_EVENT_CODES[c];
      return code === null ? [] : [{ reason: c, code, count: this.table.counters[c] }];
    });
    return [
      { area: 'tls', counts: tls },
      { area: 'sip', counts: await byReason('phone_proxy_sip_errors_total', SIP_DROP_CODES) },
      { area: 'sccp', counts: await byReason('phone_proxy_sccp_errors_total', SCCP_DROP_CODES) },
    ];
  }

  /** A metric already in the registry (a second service in one process) or a new one. */
  private metric<T>(name: string, make: () => T): T {
    return (this.ctx.metrics.getSingleMetric(name) as T | undefined) ?? make();
  }

  /** A registration an inspector saw: the phone's secure-phones record lives on. */
  private registered(deviceName: string, reg: PhoneRegistration): void {
    const known = this.deps.phones?.touch?.(deviceName, reg);
    this.log.debug({ phone: deviceName, ...reg, record: known ?? false }, 'phone registered');
  }

  private sipProtocol(listener: 'sip-tls' | 'sip'): InspectedProtocol {
    const log = this.log;
    return {
      protocol: 'sip',
      listener,
      plain: listener === 'sip',
      tcpPort: (m) => m['sip-port'],
      tlsPort: (m) => m['sip-tls-port'],
      inspector: (conn, pipe) =>
        new SipInspector(conn, pipe, {
          media: () => this.deps.media,
          log: log.child({ proto: 'sip' }),
          counters: {
            error: (reason) => this.sipErrors.inc({ reason }),
            message: (direction) => this.sipMessages.inc({ direction }),
          },
          randomBytes,
          bindIdentity: this.ctx.loaded.policy['bind-identity'],
          srtpSuites: this.ctx.loaded.policy['media-termination']['srtp-suites'],
          gcmSides: this.ctx.loaded.policy['media-termination']['srtp-gcm-sides'],
          registered: (name, reg) => this.registered(name, reg),
          ...(this.deps.inviteTimeoutMs ? { inviteTimeoutMs: this.deps.inviteTimeoutMs } : {}),
        }),
    };
  }

  private sccpProtocol(listener: 'sccp-tls' | 'sccp'): InspectedProtocol {
    return {
      protocol: 'sccp',
      listener,
      plain: listener === 'sccp',
      tcpPort: (m) => m['sccp-port'],
      tlsPort: (m) => m['sccp-tls-port'],
      inspector: sccpInspectorFactory({
        metrics: this.ctx.metrics,
        media: () => this.deps.media,
        log: this.log,
        randomBytes,
        bindIdentity: this.ctx.loaded.policy['bind-identity'],
        registered: (name, reg) => this.registered(name, reg),
      }),
    };
  }

  private ldc(deviceName: string): LdcPair {
    let c = this.ldcCache.get(deviceName);
    if (!c) {
      c = this.mint(this.ctx.state, deviceName);
      this.ldcCache.put(deviceName, c);
      this.log.info({ phone: deviceName }, 'LDC minted for the upstream TLS leg');
    }
    return c;
  }

  private credential(name: string, what: string): { cert: string; key: string } {
    const tp = this.ctx.state.trustpoints.get(name);
    if (!tp?.keyPem)
      throw new Error(
        `tls-proxy: ${what} trustpoint "${name}" ${tp ? 'has no private key' : 'is not in the state directory'}`,
      );
    return { cert: tp.certPem, key: tp.keyPem };
  }

  /** Server certificate and cipher policy: the default, then one per remote-addr rule. */
  private serverProfiles(): ServerProfile[] {
    const tlsPolicy = this.ctx.loaded.policy['tls-proxy'];
    const clientCa = this.ctx.state.clientTrustAnchors;
    if (clientCa.length === 0) this.errors.error(...ppx(130003, {}));
    const profileOf = (trustpoint: string, strict: boolean, what: string): ServerProfile => {
      const cp = cipherProfile(tlsPolicy, strict);
      return {
        label: `${trustpoint}/${cp.label}`,
        options: {
          ...this.credential(trustpoint, what),
          ...(clientCa.length ? { ca: clientCa } : {}),
          minVersion: cp.minVersion,
          ciphers: cp.ciphers,
        },
      };
    };
    return [
      profileOf(tlsPolicy['server-trustpoint'], false, 'server'),
      ...tlsPolicy['remote-addr'].map((r, n) => profileOf(r.trustpoint, r['strict-cipher'], `remote-addr[${n}]`)),
    ];
  }

  private warnIfLegacy(): void {
    const tlsPolicy = this.ctx.loaded.policy['tls-proxy'];
    if (tlsPolicy['legacy-phones']) {
      this.errors.warn(...ppx(130001, {}));
    }
    const up = tlsPolicy.upstream;
    if (up.ciphers === 'legacy') {
      this.errors.warn(...ppx(130002, { minVersion: up['min-version'] }));
    }
  }

  private membersFor(p: InspectedProtocol): UpstreamMember[] {
    const { policy } = this.ctx.loaded;
    const ifAddress = new Map(policy.interfaces.map((i) => [i.name, stripPrefix(i.address)]));
    return policy.cluster.members.map((m) => {
      const ca = m.trustpoint ? this.ctx.state.trustpoints.get(m.trustpoint)?.certPem : undefined;
      return {
        name: m.name,
        address: m.address,
        interfaceName: m.interface,
        localAddress: ifAddress.get(m.interface) ?? '0.0.0.0',
        ...(m['phone-interface'] ? { phoneInterface: m['phone-interface'] } : {}),
        tcpPort: p.tcpPort(m),
        tlsPort: p.tlsPort(m),
        ...(ca ? { ca } : {}),
      };
    });
  }

  /**
   * The decision table's inputs: the cluster mode; the phone's mode on UCM and the mode the
   * appliance forced, from its secure-phones record; a phone on a nonsecure listener is
   * nonsecure whatever its record says (it has no certificate, hence no device name yet).
   */
  private decide(deviceName: string | undefined, plain: boolean): LegDecision {
    const record = deviceName ? this.deps.phones?.get(deviceName) : undefined;
    const forced: PhoneSecurityMode | undefined = plain ? 'nonsecure' : record?.forcedMode;
    const d = decideLegs(this.ctx.loaded.policy.cluster.mode, record?.originalMode, forced);
    if (d.defaulted && !plain)
      this.log.info(
        { phone: deviceName ?? '-', assumed: d.phoneMode },
        'no secure-phones record: using the default phone mode',
      );
    return d;
  }

  private build(): void {
    const { policy } = this.ctx.loaded;
    const rules = policy['tls-proxy']['remote-addr'];
    const profiles = this.serverProfiles();
    const upstream = upstreamCipherProfile(policy['tls-proxy'].upstream);
    this.warnIfLegacy();
    const outside = policy.interfaces.filter((i) => i.role === 'outside');
    const deps = this.deps;
    for (const p of this.inspectedProtocols) {
      // Read at build time: tests move the ports of a parsed policy between starts.
      const at = listenerEndpoint(policy.listen, p.listener);
      if (!at) continue;
      const listeners = outside
        .filter((i) => at.address === undefined || stripPrefix(i.address) === at.address)
        .map((i) => ({
          address: stripPrefix(i.address),
          port: at.port,
          interfaceName: i.name,
          ...(i['public-address'] ? { advertisedAddress: i['public-address'] } : {}),
        }));
      const proxy = new TlsProxy({
        protocol: p.protocol,
        plain: p.plain,
        listeners,
        profiles,
        profileFor: (addr) => matchRemoteAddr(addr, rules) + 1,
        members: this.membersFor(p),
        upstreamTls: upstream,
        decide: (deviceName) => this.decide(deviceName, p.plain),
        ldc: (deviceName) => this.ldc(deviceName),
        inspector: p.inspector,
        table: this.table,
        log: this.log,
        errors: this.errors,
        admission: this.admission,
        logLimiter: this.limiter,
        ...(deps.handshakeTimeoutMs ? { handshakeTimeoutMs: deps.handshakeTimeoutMs } : {}),
        ...(deps.messageTimeoutMs ? { messageTimeoutMs: deps.messageTimeoutMs } : {}),
        ...(deps.connectTimeoutMs ? { connectTimeoutMs: deps.connectTimeoutMs } : {}),
        ...(deps.idleTimeoutMs ? { idleTimeoutMs: deps.idleTimeoutMs } : {}),
        ...(deps.maxSendQueueBytes ? { maxSendQueueBytes: deps.maxSendQueueBytes } : {}),
        ...(deps.tickMs ? { tickMs: deps.tickMs } : {}),
        ...(deps.capture ? { capture: deps.capture } : {}),
      });
      this.proxies.push(proxy);
      this.built.push({ proxy, protocol: p });
    }
  }

  private signalingSessions(): ViewResult {
    const sessions = this.proxies.flatMap((p) => p.sessions());
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
  }

  private ldcIssuer(): ViewResult {
    const pem = this.ctx.state.ldcIssuer?.certPem;
    return {
      data: { certPem: pem ?? null },
      lines: pem ? pem.trimEnd().split('\n') : ['no LDC issuer (tls-proxy.ldc-issuer is not set)'],
    };
  }
}

export function createTlsProxyService(ctx: ServiceContext, deps: TlsProxyDeps = {}): TlsProxyService {
  return new TlsProxyService(ctx, deps);
}
