/**
 * The CAPF relay service ('capf-relay', docs/capf.md): opens `listen.capf` on the outside
 * interfaces and pipes phones to UCM's CAPF (`capf-server`, else the first cluster member),
 * with its counters, metrics, `show phone-proxy capf`, `clear phone-proxy capf` and its rows
 * of `show phone-proxy drops`. With listen.capf off it opens nothing and only reports the
 * policy's CAPF warnings (a capf record the phones cannot use through the appliance).
 */
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import { capfInterfaces, capfUpstream, capfWarnings } from '../config/capf-rules';
import { formatPath } from '../config/load-policy';
import { listenerEndpoint, type Policy } from '../config/policy-schema';
import { touches } from '../config/reload-plan';
import type {
  DropCount,
  Listening,
  OperatorViews,
  Reconfiguration,
  Service,
  ServiceContext,
  ViewResult,
} from '../contracts/service';
import { ppx } from '../messages';
import { CAPF_COUNTER_NAMES, CAPF_EVENT_CODES, type CapfCounter } from './event-codes';
import { type CapfLimits, CapfRelay, type CapfTarget } from './relay';

export interface CapfRelayDeps {
  /** Tests: deadlines below the policy's whole seconds. */
  limits?: Partial<CapfLimits>;
}

/** The relay's bounds from the policy (seconds → ms). */
export function capfLimits(p: Policy): CapfLimits {
  const r = p['capf-relay'];
  return {
    maxConnections: r['max-connections'],
    maxPerSource: r['max-connections-per-source'],
    firstByteTimeoutMs: r['first-byte-timeout'] * 1000,
    idleTimeoutMs: r['idle-timeout'] * 1000,
    maxDurationMs: r['max-duration'] * 1000,
    maxBytes: r['max-bytes'],
  };
}

/** Where the relay dials, and from which of the appliance's addresses. */
export function capfTarget(p: Policy): CapfTarget {
  const up = capfUpstream(p);
  const local = p.interfaces.find((i) => i.name === up.interfaceName)?.address.split('/')[0];
  return {
    address: up.address,
    port: up.port,
    connectTimeoutMs: up.timeoutMs,
    ...(local ? { localAddress: local } : {}),
  };
}

export class CapfRelayService implements Service {
  readonly name = 'capf-relay';
  relay?: CapfRelay;
  readonly counters: Record<CapfCounter, number> = Object.fromEntries(CAPF_COUNTER_NAMES.map((c) => [c, 0])) as Record<
    CapfCounter,
    number
  >;
  private readonly log: Logger;
  private readonly errors: Logger;
  private readonly events: Counter<'event'>;
  private readonly bytes: Counter<'direction'>;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly deps: CapfRelayDeps = {},
  ) {
    this.log = ctx.logs.for('signaling');
    this.errors = ctx.logs.for('errors');
    this.events = this.metric(
      'phone_proxy_capf_relay_events_total',
      () =>
        new Counter({
          name: 'phone_proxy_capf_relay_events_total',
          help: 'CAPF relay connection events and refusals (show phone-proxy capf)',
          labelNames: ['event'],
          registers: [ctx.metrics],
        }),
    );
    this.bytes = this.metric(
      'phone_proxy_capf_relay_bytes_total',
      () =>
        new Counter({
          name: 'phone_proxy_capf_relay_bytes_total',
          help: 'Bytes piped by the CAPF relay',
          labelNames: ['direction'],
          registers: [ctx.metrics],
        }),
    );
    const active = () => this.relay?.active ?? 0;
    this.metric(
      'phone_proxy_capf_relay_connections_active',
      () =>
        new Gauge({
          name: 'phone_proxy_capf_relay_connections_active',
          help: 'Connections through the CAPF relay',
          registers: [ctx.metrics],
          collect() {
            this.set(active());
          },
        }),
    );
  }

  private get policy(): Policy {
    return this.ctx.loaded.policy;
  }

  private limits(): CapfLimits {
    return { ...capfLimits(this.policy), ...this.deps.limits };
  }

  async start(): Promise<Listening[]> {
    const events = this.ctx.logs.for('events');
    for (const w of capfWarnings(this.policy))
      events.warn(...ppx(190001, { path: formatPath(w.path), problem: w.message }));
    const at = listenerEndpoint(this.policy.listen, 'capf');
    if (!at) return [];
    const relay = new CapfRelay({
      listeners: capfInterfaces(this.policy).map((i) => ({ address: i.bound, port: at.port, interfaceName: i.name })),
      target: capfTarget(this.policy),
      limits: this.limits(),
      count: (e) => {
        this.counters[e]++;
        this.events.inc({ event: e });
      },
      bytes: (direction, n) => this.bytes.inc({ direction }, n),
      log: this.log,
      errors: this.errors,
    });
    this.relay = relay;
    const out = await relay.start();
    const up = capfUpstream(this.policy);
    this.log.info(
      { listening: out.map((l) => `${l.address}:${l.port}`), capf: `${up.address}:${up.port}`, from: up.from },
      'CAPF relay started',
    );
    return out;
  }

  async stop(): Promise<void> {
    await this.relay?.stop();
  }

  /** capf-server and capf-relay apply live (src/config/reload-plan.ts); listen.capf waits for a restart. */
  reconfigure({ changed }: Reconfiguration): string[] {
    const mine = changed.filter((c) => touches([c], 'capf-server') || touches([c], 'capf-relay'));
    if (mine.length === 0) return [];
    this.relay?.reconfigure(this.limits(), capfTarget(this.policy));
    this.log.info({ changed: mine }, 'CAPF relay reconfigured');
    return mine;
  }

  operatorViews(): OperatorViews {
    return {
      show: [
        {
          name: 'phone-proxy capf',
          help: 'the CAPF relay: where it listens, the CAPF it reaches, its limits, counters and connections',
          render: () => this.view(),
        },
      ],
      clear: [
        {
          name: 'phone-proxy capf',
          help: 'close CAPF relay connections: all, or id <n>',
          run: (args) => {
            let id: number | undefined;
            if (args.length > 0) {
              if (args[0] !== 'id' || args.length !== 2 || !/^\d+$/.test(args[1] ?? ''))
                throw new Error(`clear phone-proxy capf: expected nothing or "id <n>", got "${args.join(' ')}"`);
              id = Number(args[1]);
            }
            const hits = this.relay?.clear(id) ?? [];
            return `cleared ${hits.length} CAPF connection${hits.length === 1 ? '' : 's'}`;
          },
        },
      ],
      drops: { areas: () => [{ area: 'capf', counts: this.drops() }] },
    };
  }

  private drops(): DropCount[] {
    return CAPF_COUNTER_NAMES.flatMap((c) => {
      const code = CAPF_EVENT_CODES[c];
      return code === null ? [] : [{ reason: c, code, count: this.counters[c] }];
    });
  }

  private view(): ViewResult {
    const at = listenerEndpoint(this.policy.listen, 'capf');
    const up = capfUpstream(this.policy);
    const limits = this.limits();
    const sessions = this.relay?.views() ?? [];
    const listeners = at
      ? capfInterfaces(this.policy).map((i) => `${i.bound}:${at.port} (${i.name}, phones use ${i.phoneFacing})`)
      : [];
    return {
      data: {
        enabled: at !== undefined,
        listeners,
        capf: { address: up.address, port: up.port, interface: up.interfaceName, from: up.from },
        limits,
        counters: this.counters,
        connections: sessions,
      },
      lines: at
        ? [
            `CAPF relay on ${listeners.join(', ')} -> CAPF ${up.address}:${up.port} (${up.from}, interface ${up.interfaceName})`,
            `Limits: ${limits.maxConnections} connections, ${limits.maxPerSource} per source; first byte ${limits.firstByteTimeoutMs / 1000} s, idle ${limits.idleTimeoutMs / 1000} s, duration ${limits.maxDurationMs / 1000} s, ${limits.maxBytes} bytes`,
            `Counters: ${CAPF_COUNTER_NAMES.map((c) => `${c} ${this.counters[c]}`).join(', ')}`,
            `${sessions.length} connection${sessions.length === 1 ? '' : 's'}`,
          ]
        : ['CAPF relay off (listen.capf is not set)'],
      tables: sessions.length
        ? [
            {
              columns: ['id', 'phone', 'capf', 'state', 'since', 'to-capf', 'to-phone'],
              rows: sessions.map((s) => [s.id, s.phone, s.capf, s.state, s.since, s.toCapf, s.toPhone]),
            },
          ]
        : [],
    };
  }

  /** A metric already in the registry (a second service in one process) or a new one. */
  private metric<T>(name: string, make: () => T): T {
    return (this.ctx.metrics.getSingleMetric(name) as T | undefined) ?? make();
  }
}

export function createCapfRelayService(ctx: ServiceContext, deps: CapfRelayDeps = {}): CapfRelayService {
  return new CapfRelayService(ctx, deps);
}
