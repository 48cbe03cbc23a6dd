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

/** What every service is built from; the services it depends on come as explicit arguments. */
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
}

export interface OperatorViews {
  show: ShowView[];
  clear: ClearAction[];
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
