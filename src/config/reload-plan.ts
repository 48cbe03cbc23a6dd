/**
 * Live reload (issue 15): which policy keys a running appliance takes without a restart. One
 * table, pure functions: old and new policy in, the changed key paths split into those applied
 * live and those that wait for a restart, and the policy then in effect (the new values of the
 * live keys, the old values of the restart-only ones). docs/cli.md (Live reload) shows the table.
 */
import { formatPath } from './load-policy';
import { LISTENER_NAMES, listenerEndpoint, type Policy } from './policy-schema';

export type KeyPath = readonly (string | number)[];

export interface ReloadRule {
  /** A key path of the policy, dot-separated; it covers everything under it. */
  key: string;
  live: boolean;
  /** Live: what takes it; restart: why it cannot change under a running appliance. */
  why: string;
}

/**
 * Longest key wins. Every top-level key has a rule (test/config/reload-plan.test.ts), so a new
 * policy key needs a decision here; a key with none is restart-only.
 */
export const RELOAD_RULES: readonly ReloadRule[] = [
  { key: 'name', live: false, why: 'names the instance in the CTL and the logs' },
  { key: 'interfaces', live: false, why: 'listeners and upstream legs are bound to these addresses' },
  { key: 'cluster', live: false, why: 'upstream legs and the phones’ configuration name the members' },
  { key: 'tftp-server', live: true, why: 'TFTP: new requests go to the new UCM TFTP server' },
  { key: 'media-termination', live: false, why: 'media sockets are bound to these addresses and ports' },
  { key: 'media-termination.idle-timeout', live: true, why: 'media: the idle sweep of every session' },
  { key: 'media-termination.max-sessions-per-phone', live: true, why: 'media: admission of new sessions' },
  { key: 'media-termination.max-sessions-per-connection', live: true, why: 'media: admission of new sessions' },
  { key: 'media-termination.max-sessions', live: true, why: 'media: admission of new sessions' },
  { key: 'trustpoints', live: true, why: 'TLS contexts for new connections, the CTL and the signer of new files' },
  { key: 'ctl-file', live: false, why: 'the CTL the phones hold: a new one is a deliberate restart' },
  { key: 'tls-proxy', live: true, why: 'TLS proxy: new connections (certificates, ciphers, limits, timeouts)' },
  { key: 'tls-proxy.name', live: false, why: 'names the proxy in the logs and views' },
  { key: 'tls-proxy.ldc-issuer', live: false, why: 'the LDC issuer key is opened at start' },
  { key: 'tls-proxy.ldc-key-size', live: false, why: 'the LDC key is generated once' },
  { key: 'listen', live: false, why: 'listeners are bound at start' },
  { key: 'tftp', live: true, why: 'TFTP: the rate limiter of new requests' },
  { key: 'secure-phones-timeout', live: true, why: 'TFTP: the age-out of secure-phones records' },
  { key: 'preserve-net-config', live: false, why: 'rewritten configurations are cached as served' },
  { key: 'remote-phones', live: false, why: 'rewritten configurations are cached as served' },
  { key: 'proxy-server', live: false, why: 'rewritten configurations are cached as served' },
  { key: 'cipc', live: false, why: 'rewritten configurations are cached as served' },
  { key: 'bind-identity', live: false, why: 'each connection’s inspector is built with it' },
  { key: 'control', live: false, why: 'the control API and metrics listeners are bound at start' },
  { key: 'logging', live: true, why: 'the log level of every category not under debug' },
  { key: 'appliance-cluster', live: false, why: 'the Redis link and the shared trust are joined at start' },
  {
    key: 'appliance-cluster.takeover-addresses',
    live: false,
    why: 'the takeover-only port pools are made when media termination starts',
  },
  { key: 'logging.format', live: false, why: 'the log destination stream is built at start' },
  { key: 'logging.syslog', live: false, why: 'the syslog socket is opened at start' },
  { key: 'capf-server', live: true, why: 'CAPF relay: new connections are dialled to the new CAPF' },
  { key: 'capf-relay', live: true, why: 'CAPF relay: limits and deadlines of new connections, idle timeout of all' },
];

const RULES = [...RELOAD_RULES]
  .map((r) => ({ ...r, keys: r.key.split('.') }))
  .sort((a, b) => b.keys.length - a.keys.length);

/** The rule deciding a path (numbers, i.e. array indices, never appear in a rule). */
export function ruleFor(p: KeyPath): ReloadRule | undefined {
  return RULES.find((r) => r.keys.length <= p.length && r.keys.every((k, n) => p[n] === k));
}

export interface ReloadPlan {
  /** Changed paths applied to the running services, in policy order (`tls-proxy.max-connections`). */
  live: string[];
  /** Changed paths that need a restart; the appliance keeps their old values. */
  restartOnly: string[];
  /** The policy in effect after the reload: the new live values over the old policy. */
  effective: Policy;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Leaf paths where a and b differ; arrays of different lengths differ as a whole. */
export function changedPaths(a: unknown, b: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return [at];
    return a.flatMap((x, n) => changedPaths(x, b[n], [...at, n]));
  }
  if (isObject(a) && isObject(b) && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => changedPaths(a[k], b[k], [...at, k]));
  }
  return Object.is(a, b) ? [] : [at];
}

/**
 * The parsed `listen` holds derived `off` and `addresses`; an operator wrote `listen.sip-tls`.
 * Compared per listener, each as one value (where it opens, or not at all).
 */
function listenAsWritten(p: Policy): Record<string, unknown> {
  return Object.fromEntries(LISTENER_NAMES.map((n) => [n, JSON.stringify(listenerEndpoint(p.listen, n) ?? false)]));
}

function setIn(target: unknown, p: KeyPath, value: unknown): void {
  let node = target as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = p[p.length - 1];
  if (last === undefined) return;
  if (value === undefined) delete node[last];
  else node[last] = structuredClone(value);
}

function getIn(source: unknown, p: KeyPath): unknown {
  let node = source;
  for (const k of p) node = isObject(node) ? (node as Record<string | number, unknown>)[k] : undefined;
  return node;
}

export function reloadPlan(old: Policy, next: Policy): ReloadPlan {
  const { listen: oldListen, ...oldRest } = old;
  const { listen: nextListen, ...nextRest } = next;
  const paths = [
    ...changedPaths(oldRest, nextRest),
    ...changedPaths(listenAsWritten(old), listenAsWritten(next), ['listen']),
  ];
  const effective = structuredClone(old);
  const live: string[] = [];
  const restartOnly: string[] = [];
  for (const p of paths) {
    if (ruleFor(p)?.live) {
      // A path that exists in neither parent (a new optional section) is set whole.
      setIn(effective, p, getIn(next, p));
      live.push(formatPath(p));
    } else {
      restartOnly.push(formatPath(p));
    }
  }
  return { live, restartOnly, effective };
}

/** Whether any changed path is `prefix` or lies under it (`tls-proxy` covers `tls-proxy.ciphers`). */
export function touches(changed: readonly string[], prefix: string): boolean {
  return changed.some((c) => c === prefix || c.startsWith(`${prefix}.`) || c.startsWith(`${prefix}[`));
}
