/**
 * The CAPF relay's part of the policy (docs/capf.md): where CAPF is inside, where phones reach
 * the relay, and the rules `check` enforces between `listen.capf`, `capf-server`, the CTL's capf
 * records and the interfaces' (public) addresses. Pure: a parsed policy in, answers out.
 *
 * A phone enrolling for an LSC connects to the CAPF its configuration names (`capfList`, which
 * the TFTP rewrite points at the relay) and verifies CAPF's certificate against the CTL's capf
 * record. So with the relay on, every interface the relay listens on needs a capf record naming
 * the address phones there are given, and no capf record may name an address where no relay is.
 */
import { Validator } from 'ip-num';
import { CAPF_PORT, listenerEndpoint, type Policy } from './policy-schema';

export interface CapfProblem {
  path: (string | number)[];
  message: string;
}

export interface CapfUpstream {
  address: string;
  interfaceName: string;
  port: number;
  /** Connect timeout, ms. */
  timeoutMs: number;
  /** Where `address` came from, for the show view and logs. */
  from: 'capf-server' | 'cluster.members[0]';
}

const bound = (cidr: string) => cidr.split('/')[0] ?? '';

/** Where the relay dials CAPF: `capf-server`, else the first cluster member (the publisher) on 3804. */
export function capfUpstream(p: Policy): CapfUpstream {
  const s = p['capf-server'];
  if (s)
    return {
      address: s.address,
      interfaceName: s.interface,
      port: s.port,
      timeoutMs: s.timeout * 1000,
      from: 'capf-server',
    };
  const m = p.cluster.members[0];
  return {
    address: m?.address ?? '',
    interfaceName: m?.interface ?? '',
    port: CAPF_PORT,
    timeoutMs: 5000,
    from: 'cluster.members[0]',
  };
}

export interface CapfInterface {
  name: string;
  /** Index in policy.interfaces. */
  n: number;
  /** The address the relay binds. */
  bound: string;
  /** The address phones there are given: the public address when a NAT maps the interface. */
  phoneFacing: string;
}

/** The outside interfaces the relay listens on (none when listen.capf is off). */
export function capfInterfaces(p: Policy): CapfInterface[] {
  const at = listenerEndpoint(p.listen, 'capf');
  if (!at) return [];
  return p.interfaces
    .map((i, n) => ({
      name: i.name,
      n,
      role: i.role,
      bound: bound(i.address),
      phoneFacing: i['public-address'] ?? bound(i.address),
    }))
    .filter((i) => i.role === 'outside' && (at.address === undefined || at.address === i.bound))
    .map(({ role: _r, ...i }) => i);
}

/**
 * What a phone that fetched its configuration on `interfaceName` is told for CAPF: the relay on
 * that interface, else the relay's first interface; undefined when the relay is off.
 */
export function capfEndpointFor(p: Policy, interfaceName: string): { address: string; port: number } | undefined {
  const at = listenerEndpoint(p.listen, 'capf');
  const relays = capfInterfaces(p);
  const i = relays.find((r) => r.name === interfaceName) ?? relays[0];
  return at && i ? { address: i.phoneFacing, port: at.port } : undefined;
}

const addressesOf = (a: string | string[] | undefined) => (a === undefined ? [] : Array.isArray(a) ? a : [a]);

/** Problems that make the relay unusable or the policy ambiguous (errors of `check`). */
export function checkCapfRules(p: Policy): CapfProblem[] {
  const problems: CapfProblem[] = [];
  const report = (path: (string | number)[], message: string) => problems.push({ path, message });
  const server = p['capf-server'];
  const at = listenerEndpoint(p.listen, 'capf');

  if (server) {
    const [ok, why] = Validator.isValidIPv4String(server.address);
    if (!ok) report(['capf-server', 'address'], `invalid address "${server.address}": ${why.join('; ')}`);
    const i = p.interfaces.find((x) => x.name === server.interface);
    if (!i) report(['capf-server', 'interface'], `interface "${server.interface}" is not defined under interfaces`);
    const own = p.interfaces.find((x) => bound(x.address) === server.address);
    if (own)
      report(
        ['capf-server', 'address'],
        `capf-server.address ${server.address} is interface "${own.name}"'s own address: the relay would dial itself; name UCM's CAPF (the publisher)`,
      );
  }
  if (!at) return problems;

  const relay = p['capf-relay'];
  if (relay['max-connections-per-source'] > relay['max-connections'])
    report(
      ['capf-relay', 'max-connections-per-source'],
      `capf-relay.max-connections-per-source (${relay['max-connections-per-source']}) must not exceed capf-relay.max-connections (${relay['max-connections']})`,
    );

  const relays = capfInterfaces(p);
  const records = p['ctl-file'].records.map((r, n) => ({ r, n })).filter(({ r }) => r.function === 'capf');
  const listenPath = ['listen', 'capf'];
  if (records.length === 0) {
    report(
      listenPath,
      "listen.capf relays phones to CAPF, but ctl-file has no capf record: phones verify CAPF's certificate against the CTL the appliance serves; add { function: capf, trustpoint: <UCM's CAPF certificate>, address: <the relay's address> }",
    );
    return problems;
  }
  const relayList = relays.map((i) => `${i.phoneFacing} (interface "${i.name}")`).join(', ') || 'no outside interface';
  for (const { r, n } of records) {
    const path = ['ctl-file', 'records', n];
    const list = addressesOf(r.address);
    if (list.length === 0) {
      report(
        [...path, 'address'],
        `a capf record needs the address phones reach the CAPF relay at (listen.capf): ${relayList}`,
      );
      continue;
    }
    list.forEach((a, k) => {
      if (relays.some((i) => i.phoneFacing === a)) return;
      const where = Array.isArray(r.address) ? [...path, 'address', k] : [...path, 'address'];
      const natted = relays.find((i) => i.bound === a);
      const elsewhere = p.interfaces.find(
        (i) => i.role === 'outside' && (i['public-address'] ?? bound(i.address)) === a,
      );
      report(
        where,
        natted
          ? `${a} is interface "${natted.name}"'s bound address, but phones there reach the CAPF relay at its public-address ${natted.phoneFacing}: the capf record must name ${natted.phoneFacing}`
          : elsewhere
            ? `${a} is interface "${elsewhere.name}"'s address, where listen.capf (address ${at.address}) does not listen: phones would find no CAPF there; the relay is at ${relayList}`
            : `${a} is not an address where the CAPF relay (listen.capf) is reachable by phones: ${relayList}`,
      );
    });
  }
  for (const i of relays) {
    if (records.some(({ r }) => addressesOf(r.address).includes(i.phoneFacing))) continue;
    report(
      listenPath,
      `phones on interface "${i.name}" are pointed at ${i.phoneFacing}:${at.port} for CAPF (the relay), but no ctl-file capf record has that address`,
    );
  }
  return problems;
}

/** What `check` prints as warnings and `start` logs (%PPX-4-190001): legal, but likely not meant. */
export function capfWarnings(p: Policy): CapfProblem[] {
  if (listenerEndpoint(p.listen, 'capf')) return [];
  const out: CapfProblem[] = [];
  p['ctl-file'].records.forEach((r, n) => {
    if (r.function !== 'capf' || addressesOf(r.address).length === 0) return;
    out.push({
      path: ['ctl-file', 'records', n, 'address'],
      message: `a capf record names ${addressesOf(r.address).join(', ')}, but listen.capf is off: phones cannot reach CAPF through the appliance (set listen.capf to relay LSC enrolment; without it the record only anchors LSCs)`,
    });
  });
  if (p['capf-server'])
    out.push({
      path: ['capf-server'],
      message: 'capf-server is set, but listen.capf is off: nothing is relayed to it',
    });
  return out;
}
