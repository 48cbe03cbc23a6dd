/**
 * The shape every subsystem (TFTP, TLS proxy, media, ...) plugs into: the daemon builds one
 * AppContext, starts each Service in order and stops them in reverse.
 */
import type { Registry } from 'prom-client';
import type { LoadedPolicy } from '../config/load-policy';
import type { ApplianceState } from '../pki/types';
import type { Logs } from './log';
import type { ControlRegistry } from './registry';

export interface AppContext {
  loaded: LoadedPolicy;
  state: ApplianceState;
  logs: Logs;
  control: ControlRegistry;
  metrics: Registry;
  /** Other services look each other up here (e.g. the TLS proxy asks the TFTP interceptor for a phone's mode). */
  services: Map<string, Service>;
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
}

export type ServiceFactory = (ctx: AppContext) => Service;
