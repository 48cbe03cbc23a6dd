/**
 * The file-descriptor budget (issue 12): what the policy lets the appliance open at worst, term
 * by term, against the process's soft RLIMIT_NOFILE. Pure computation plus a reader of
 * /proc/self/limits. Node has no setrlimit(): the limit is raised before node starts, by the
 * Debian unit's LimitNOFILE= and the /usr/bin/phone-proxy wrapper's `ulimit -n` (soft up to
 * hard). So at start the appliance can only compare, warn and, when not even one call fits,
 * refuse. Every refusal on the way (EMFILE on accept, bind, connect) is counted where it
 * happens; this tells the operator beforehand.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Policy } from './config/policy-schema';
import { mediaPlan, planAddresses } from './media/addresses';
import { MAX_TRANSFERS } from './tftp/server';

export interface FdTerm {
  name: string;
  fds: number;
  /** How the figure is made, for the log and `show resources`. */
  how: string;
}

export interface FdBudget {
  terms: FdTerm[];
  /** Every term at its policy maximum at once. */
  worstCase: number;
  /** The listeners, the runtime and one call (a TLS pair, a media session, a TFTP relay). */
  minimum: number;
}

export interface NofileLimit {
  soft: number;
  hard: number;
}

export type FdVerdict = 'ok' | 'short' | 'refuse';

/** stdio, libuv's epoll and signal pipes, V8's platform threads, log and state files. */
export const BASE_FDS = 64;
/** A worker thread: its libuv loop's epoll fd, eventfd and async handles (4 measured on Node 20). */
export const FDS_PER_WORKER = 4;
/** Control API and metrics connections open at once (an operator, a scraper; short-lived). */
export const CONTROL_CONNECTIONS = 16;
/** A media session: RTP and RTCP sockets on the outside leg and on the inside leg (src/media/worker.ts). */
export const SOCKETS_PER_SESSION = 4;
/** One call: TLS phone + upstream, one media session, one TFTP transfer relayed from UCM. */
const ONE_CALL = 2 + SOCKETS_PER_SESSION + 2;

/** RTP/RTCP pairs in a port range, as src/media/ports.ts hands them out (even RTP port, odd RTCP). */
export function portPairs(minPort: number, maxPort: number): number {
  const first = minPort + (minPort % 2);
  return first + 1 > maxPort ? 0 : Math.floor((maxPort - first + 1) / 2);
}

export function fdBudget(policy: Policy, cpus = os.availableParallelism()): FdBudget {
  const outside = policy.interfaces.filter((i) => i.role === 'outside').length;
  const tls = policy['tls-proxy'];
  const mt = policy['media-termination'];
  const plan = mediaPlan(policy);
  const addresses = planAddresses(plan).length;
  const pairsPerAddress = portPairs(plan.minPort, plan.maxPort);
  const pairs = pairsPerAddress * addresses;
  // The session table as src/media/service.ts sizes it (one pair per leg; a global address
  // gives both legs from one pool), clamped by max-sessions.
  const table = Math.max(1, Math.min(65536, plan.global !== undefined ? Math.floor(pairs / 2) : pairs));
  const sessions = Math.min(table, mt['max-sessions'] ?? table);
  // Each port of the range binds once per address: 2 sockets a pair caps media however many sessions.
  const media = Math.min(SOCKETS_PER_SESSION * sessions, 2 * pairs);
  const workers = plan.workers || cpus;
  const listeners = outside * 3 + 1 + (policy.control.metrics ? 1 : 0);
  const terms: FdTerm[] = [
    { name: 'base', fds: BASE_FDS, how: 'runtime, stdio, logs' },
    { name: 'media-workers', fds: workers * FDS_PER_WORKER, how: `${workers} workers x ${FDS_PER_WORKER}` },
    {
      name: 'listeners',
      fds: listeners,
      how: `${outside} outside interface(s) x 3 (tftp, sip-tls, sccp-tls) + control${policy.control.metrics ? ' + metrics' : ''}`,
    },
    { name: 'control', fds: CONTROL_CONNECTIONS, how: 'control API and metrics connections' },
    {
      name: 'tls',
      fds: 2 * tls['max-connections'],
      how: `tls-proxy.max-connections ${tls['max-connections']} x 2 (phone + upstream; pending handshakes are within it, 1 each)`,
    },
    {
      name: 'tftp',
      fds: outside * MAX_TRANSFERS * 2,
      how: `${outside} listener(s) x ${MAX_TRANSFERS} transfers x 2 (phone + upstream relay)`,
    },
    {
      name: 'media',
      fds: media,
      how: `min(${sessions} sessions x ${SOCKETS_PER_SESSION}, ${pairs} port pairs x 2) (${addresses} address(es), ${pairsPerAddress} pairs each)`,
    },
  ];
  // The CAPF relay (docs/capf.md), when listen.capf opens it: a listener per outside interface it binds.
  const capf =
    policy.listen.capf === undefined || policy.listen.off.includes('capf')
      ? 0
      : policy['capf-relay']['max-connections'];
  if (capf > 0)
    terms.push({
      name: 'capf',
      fds: 2 * capf + outside,
      how: `capf-relay.max-connections ${capf} x 2 (phone + CAPF) + a listener per outside interface`,
    });
  const fixed = BASE_FDS + workers * FDS_PER_WORKER + listeners + CONTROL_CONNECTIONS;
  return { terms, worstCase: terms.reduce((n, t) => n + t.fds, 0), minimum: fixed + ONE_CALL };
}

/** The "Max open files" line of /proc/self/limits (Linux); undefined when absent or unlimited. */
export function parseNofileLimit(limits: string): NofileLimit | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  if (!m) return undefined;
  const n = (s: string | undefined) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(m[1]), hard: n(m[2]) };
}

export function readNofileLimit(file = '/proc/self/limits'): NofileLimit | undefined {
  try {
    return parseNofileLimit(readFileSync(file, 'utf8'));
  } catch {
    return undefined; // not Linux: nothing to compare against
  }
}

export function fdVerdict(budget: FdBudget, soft: number): FdVerdict {
  if (budget.minimum > soft) return 'refuse';
  return budget.worstCase > soft ? 'short' : 'ok';
}

/** One line per term, then the verdict: for the start log and `show resources`. */
export function describeFdBudget(budget: FdBudget, limit: NofileLimit | undefined): string[] {
  const lines = budget.terms.map((t) => `  ${t.name.padEnd(14)} ${String(t.fds).padStart(7)}  ${t.how}`);
  lines.push(`  ${'worst case'.padEnd(14)} ${String(budget.worstCase).padStart(7)}`);
  lines.push(`  ${'minimum'.padEnd(14)} ${String(budget.minimum).padStart(7)}  listeners, runtime and one call`);
  if (!limit) return [...lines, 'open-files limit unknown (no /proc/self/limits)'];
  const v = fdVerdict(budget, limit.soft);
  const head = `open files: soft limit ${limit.soft}, hard ${limit.hard}: ${
    v === 'ok'
      ? 'the policy fits'
      : v === 'short'
        ? `the policy's worst case needs ${budget.worstCase}: beyond ${limit.soft} new connections, transfers and calls are refused (EMFILE, counted)`
        : `not even the listeners and one call fit (${budget.minimum})`
  }`;
  return [head, ...lines];
}
