/**
 * The shape every subsystem (CTL, media, TFTP, TLS proxy) has: the composition root
 * (src/appliance.ts) builds each one with exactly the services it depends on, starts them in
 * order, stops them in reverse, and hands their operator views to the control plane. A service
 * never looks another up by name and never imports src/control.
 */
import type { Registry } from 'prom-client';
import type { LoadedPolicy } from '../config/load-policy';
import type { ClusterStore } from '../contracts/cluster';
import type { ApplianceState } from '../contracts/state';
import type { Logs } from '../log';

/**
 * What every service is built from; the services it depends on come as explicit arguments.
 * A live reload replaces `loaded` and `state` (the daemon, before `reconfigure`): read them when
 * needed. Restart-only keys keep their old values in the new `loaded` (src/config/reload-plan.ts).
 */
export interface ServiceContext {
  loaded: LoadedPolicy;
  state: ApplianceState;
  logs: Logs;
  /** Prometheus registry the service's metrics are created in (the daemon serves it). */
  metrics: Registry;
  /** The link to the other appliances (issue 14), when the policy has appliance-cluster. */
  cluster?: ClusterStore;
}

export interface Listening {
  what: string;
  protocol: 'udp' | 'tcp' | 'tls' | 'unix' | 'http';
  address: string;
  port?: number;
}

export interface Service {
  readonly name: string;
  start(): Promise<Listening[]>;
  stop(): Promise<void>;
  /** The `show` views and `clear` actions the operator gets, registered by the daemon after start. */
  operatorViews?(): OperatorViews;
  /**
   * Live reload: take the new values of the changed live keys (`ctx.loaded` already holds
   * them) without dropping a call or a connection. Returns the changed paths it applied.
   */
  reconfigure?(change: Reconfiguration): string[];
}

export interface Reconfiguration {
  /** Changed key paths of the policy that apply live, e.g. `tls-proxy.max-connections`. */
  changed: readonly string[];
}

export interface OperatorViews {
  show: ShowView[];
  clear: ClearAction[];
  /** What the service drops and counts, for `show phone-proxy drops` (src/control/drops.ts). */
  drops?: DropCounters;
  /** Other operator commands by their words (`capture`, `no capture`): POST /command/<words>. */
  commands?: CommandAction[];
}

/** One counted drop reason: its name in the service's own view, its catalogue code (null: none). */
export interface DropCount {
  reason: string;
  code: string | null;
  count: number;
}

/** A service's drop counters, read on demand; counts only grow (a clear is a baseline, kept by the view). */
export interface DropCounters {
  /** Where the drops happen, e.g. `tftp`, `media`, `tls`, `sip`, `sccp`. */
  areas(): { area: string; counts: DropCount[] }[] | Promise<{ area: string; counts: DropCount[] }[]>;
}

export interface ViewTable {
  title?: string;
  columns: string[];
  rows: (string | number | boolean | null)[][];
}

/** A show view returns data (for --json) and how to print it ASA-like. */
export interface ViewResult {
  data: unknown;
  tables?: ViewTable[];
  /** Free text lines printed before the tables (counters, summaries). */
  lines?: string[];
}

export interface ShowView {
  /** Words after `show`, e.g. `phone-proxy secure-phones`. */
  name: string;
  help: string;
  render(args: string[]): ViewResult | Promise<ViewResult>;
}

export interface ClearAction {
  /** Words after `clear`, e.g. `phone-proxy secure-phones`. */
  name: string;
  help: string;
  /** Returns a one-line confirmation, e.g. `cleared 3 entries`. Throws on bad arguments. */
  run(args: string[]): string | Promise<string>;
}

/** An operator command other than show/clear/debug, e.g. `capture NAME --phone IP` (issue 15). */
export interface CommandAction {
  /** Its words, e.g. `capture` or `no capture`. */
  name: string;
  help: string;
  /** The words after the name (options included, as typed); returns a one-line answer. Throws on bad arguments. */
  run(args: string[]): string | Promise<string>;
}
