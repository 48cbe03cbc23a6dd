/**
 * What the interceptor (service.ts), its operator views (views.ts) and its PKI glue
 * (appliance-files.ts) share: the outcome catalogue, the service's public shape and the PKI
 * interface. It imports none of those three, so they import it and not each other (issue 16).
 */
import type { CtlSource } from '../contracts/ctl';
import type { OperatorViews, Service } from '../contracts/service';
import type { CnfRewriteResult } from './cnf-rewrite';
import type { PhonesReplica } from './phones-replica';
import type { ResultCache } from './result-cache';
import type { SecurePhones } from './secure-phones';
import type { ServerStats } from './server';

/** Every way a request can end; `show phone-proxy tftp` and the metrics count each. */
export const OUTCOMES = [
  'ctl-served',
  'config-signed-served',
  'config-unsigned-served',
  'resigned-served',
  'relayed',
  'itl-refused',
  'encrypted-config-refused',
  'upstream-not-found',
  'upstream-timeout',
  'upstream-error',
  'config-parse-error',
  'file-parse-error',
  'access-violation',
  'write-refused',
  'bad-request',
  'rate-limited-source',
  'rate-limited-global',
  'duplicate-request',
  'transfer-failed',
  'internal-error',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** What the interceptor needs from the PKI: the CTL bytes and the signing of a file. */
export interface ApplianceFiles {
  ctl(): Buffer;
  sign(content: Buffer, fileName: string): Buffer;
}

export interface CachedConfig {
  bytes: Buffer;
  /** Absent for re-signed non-configuration files. */
  rewrite: Omit<CnfRewriteResult, 'xml'> | undefined;
}

export interface TftpServiceOptions {
  /** The CTL service's CTL; without one (the interceptor started alone) it is built here, once. */
  ctl?: CtlSource;
  /** CTL and signing; the default comes from src/pki (see appliance-files.ts). */
  files?: ApplianceFiles;
  now?: () => number;
  /** Largest configuration file accepted from upstream. */
  maxConfigBytes?: number;
  /** Largest other file re-signed for an `.sgn` request (held in memory to be signed). */
  maxSignedFileBytes?: number;
  /** Overrides the policy's listen.tftp port (tests). */
  port?: number;
}

export interface TftpService extends Service {
  readonly name: 'tftp';
  operatorViews(): OperatorViews;
  readonly securePhones: SecurePhones;
  /** The cluster's copy of the secure-phones database (issue 14), when the policy has appliance-cluster. */
  readonly replica?: PhonesReplica;
  readonly counters: Record<Outcome, number>;
  readonly cache: ResultCache<CachedConfig>;
  /** Where the listeners are, once started. */
  listeners(): { interface: string; address: string; port: number }[];
  signing(): { count: number; totalMs: number };
  relay(): { peakBufferedBytes: number };
  /** Requests accepted and not yet finished. */
  inProgress(): number;
  /** Protocol-level counters of the transfers to phones and from UCM (malformed packets, duplicate ACKs, ...). */
  transfers(): TransferStats;
}

export type TransferStats = ServerStats & {
  upstream: { duplicates: number; malformed: number; foreign: number; retransmissions: number; socketErrors: number };
};
