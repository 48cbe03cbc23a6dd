/**
 * Cross-field rules of a phone-proxy policy, from the ASA phone-proxy prerequisites
 * (media-termination placement, one instance type at a time) and plain referential
 * integrity. Pure: a parsed policy in, a list of problems out.
 */

import { isIPv4 } from 'node:net';
import { IPv4CidrRange, Validator } from 'ip-num';
import { unsignableKey } from '../../ctl';
import { checkCapfRules } from './capf-rules';
import { LISTENER_NAMES, type ListenerName, listenerEndpoint, type Policy } from './policy-schema';

export interface PolicyProblem {
  /** Path inside the policy, e.g. ['media-termination', 'addresses', 1, 'address']. */
  path: (string | number)[];
  message: string;
}

const MIN_MEDIA_PORT = 1024;

function validAddress(s: string): boolean {
  return Validator.isValidIPv4String(s)[0];
}

const tlsServer = (p: Policy) => p['tls-proxy']['server-trustpoint'];

export function checkPolicyRules(p: Policy): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const report = (path: (string | number)[], message: string) => problems.push({ path, message });

  // Addresses first: later rules parse them, so a bad octet is reported once, here.
  const badAddress = new Set<string>();
  const checkAddress = (path: (string | number)[], value: string, cidr: boolean) => {
    const [ok, why] = cidr ? Validator.isValidIPv4CidrNotation(value) : Validator.isValidIPv4String(value);
    if (!ok) {
      badAddress.add(value);
      report(path, `invalid ${cidr ? 'address/prefix' : 'address'} "${value}": ${why.join('; ')}`);
    }
  };
  p.interfaces.forEach((i, n) => {
    checkAddress(['interfaces', n, 'address'], i.address, true);
    const pub = i['public-address'];
    if (pub !== undefined) checkAddress(['interfaces', n, 'public-address'], pub, false);
  });
  p.cluster.members.forEach((m, n) => checkAddress(['cluster', 'members', n, 'address'], m.address, false));
  const tftpServer = p['tftp-server'];
  if (tftpServer) checkAddress(['tftp-server', 'address'], tftpServer.address, false);
  const mt = p['media-termination'];
  if (mt.address) checkAddress(['media-termination', 'address'], mt.address, false);
  mt.addresses?.forEach((a, n) => {
    checkAddress(['media-termination', 'addresses', n, 'address'], a.address, false);
    const pub = a['public-address'];
    if (pub !== undefined) checkAddress(['media-termination', 'addresses', n, 'public-address'], pub, false);
  });
  const rp = p['remote-phones'];
  if (typeof rp.srst === 'object') checkAddress(['remote-phones', 'srst', 'address'], rp.srst.address, false);
  if (typeof rp.tvs === 'object') checkAddress(['remote-phones', 'tvs', 'address'], rp.tvs.address, false);
  p['tls-proxy']['remote-addr'].forEach((r, n) =>
    checkAddress(['tls-proxy', 'remote-addr', n, 'subnet'], r.subnet, true),
  );

  // Interfaces: unique names, at least one outside.
  const interfaces = new Map<string, { range: IPv4CidrRange | undefined; own: string }>();
  p.interfaces.forEach((i, n) => {
    if (interfaces.has(i.name)) report(['interfaces', n, 'name'], `duplicate interface name "${i.name}"`);
    const own = i.address.split('/')[0] ?? '';
    const range = badAddress.has(i.address) ? undefined : IPv4CidrRange.fromCidr(i.address);
    interfaces.set(i.name, { range, own });
  });
  // Public (NAT-mapped) addresses: phones are only ever outside, and one public address must lead
  // to one interface, or the appliance could not tell which configuration a phone was given.
  const publicOwner = new Map<string, string>();
  p.interfaces.forEach((i, n) => {
    const pub = i['public-address'];
    if (pub === undefined) return;
    if (i.role !== 'outside')
      report(['interfaces', n, 'public-address'], `interface "${i.name}" is inside: phones never reach it`);
    const other = publicOwner.get(pub);
    if (other) report(['interfaces', n, 'public-address'], `${pub} is already interface "${other}"'s public address`);
    publicOwner.set(pub, i.name);
  });
  if (!p.interfaces.some((i) => i.role === 'outside')) {
    report(['interfaces'], 'at least one interface must have role "outside" (where the phones are)');
  }
  const needInterface = (path: (string | number)[], ifname: string) => {
    if (!interfaces.has(ifname)) report(path, `interface "${ifname}" is not defined under interfaces`);
  };

  // remote-phones addresses are given to phones outside: one inside would be the leak the
  // defaults exist to prevent.
  for (const key of ['srst', 'tvs'] as const) {
    const v = rp[key];
    if (typeof v !== 'object' || badAddress.has(v.address)) continue;
    const host = IPv4CidrRange.fromCidr(`${v.address}/32`);
    for (const i of p.interfaces) {
      const r = interfaces.get(i.name)?.range;
      if (i.role === 'inside' && r?.contains(host))
        report(
          ['remote-phones', key, 'address'],
          `${v.address} is inside interface "${i.name}"'s subnet: remote phones cannot reach it (use ${key === 'srst' ? 'disable' : 'remove'}, or an outside address)`,
        );
    }
  }

  // Trustpoints: unique names, each either generated or imported.
  const trustpoints = new Set<string>();
  p.trustpoints.forEach((t, n) => {
    if (trustpoints.has(t.name)) report(['trustpoints', n, 'name'], `duplicate trustpoint name "${t.name}"`);
    trustpoints.add(t.name);
    if (t.enroll && t.certificate) {
      report(['trustpoints', n], 'a trustpoint is either generated (enroll) or imported (certificate), not both');
    } else if (!t.enroll && !t.certificate) {
      report(['trustpoints', n], 'a trustpoint needs enroll: self | local-ca, or a certificate file');
    }
    if (t.key && !t.certificate) report(['trustpoints', n, 'key'], 'key is only meaningful with certificate');
  });
  const needTrustpoint = (path: (string | number)[], tp: string) => {
    if (!trustpoints.has(tp)) report(path, `trustpoint "${tp}" is not defined under trustpoints`);
  };

  const memberNames = new Set<string>();
  p.cluster.members.forEach((m, n) => {
    if (memberNames.has(m.name)) report(['cluster', 'members', n, 'name'], `duplicate member name "${m.name}"`);
    memberNames.add(m.name);
    needInterface(['cluster', 'members', n, 'interface'], m.interface);
    if (m.trustpoint) needTrustpoint(['cluster', 'members', n, 'trustpoint'], m.trustpoint);
    const via = m['phone-interface'];
    if (via !== undefined) {
      const role = p.interfaces.find((i) => i.name === via)?.role;
      if (role === undefined) needInterface(['cluster', 'members', n, 'phone-interface'], via);
      else if (role !== 'outside')
        report(
          ['cluster', 'members', n, 'phone-interface'],
          `interface "${via}" has role ${role}: phones reach members through an outside interface`,
        );
    }
  });
  if (tftpServer) needInterface(['tftp-server', 'interface'], tftpServer.interface);
  else if (!p.listen.off.includes('tftp'))
    report(['tftp-server'], 'required while listen.tftp is on (listen.tftp: false makes a SIP edge without TFTP)');

  // Media termination (ASA prerequisites).
  const reserved: [string, string][] = p.cluster.members.map((m) => [
    m.address,
    `the address of cluster member "${m.name}"`,
  ]);
  if (tftpServer) reserved.push([tftpServer.address, 'the TFTP server address']);
  const checkMta = (path: (string | number)[], address: string) => {
    for (const [used, what] of reserved) {
      if (used === address) report(path, `media-termination address ${address} must not be ${what}`);
    }
    for (const [ifname, i] of interfaces) {
      if (i.own === address)
        report(
          path,
          `media-termination address ${address} is interface "${ifname}"'s own address; use an unused address of its subnet`,
        );
    }
  };
  if (mt.address && mt.addresses) {
    report(['media-termination'], 'use either one global address or per-interface addresses, never both');
  } else if (!mt.address && !mt.addresses) {
    report(['media-termination'], 'needs a global address or per-interface addresses');
  } else if (mt.address) {
    checkMta(['media-termination', 'address'], mt.address);
  } else if (mt.addresses) {
    if (mt.addresses.length < 2) {
      report(
        ['media-termination', 'addresses'],
        'per-interface media termination needs addresses on at least two interfaces (inside and outside)',
      );
    }
    const seen = new Set<string>();
    mt.addresses.forEach((a, n) => {
      const path = ['media-termination', 'addresses', n];
      if (seen.has(a.interface))
        report([...path, 'interface'], `only one media-termination address per interface ("${a.interface}" has more)`);
      seen.add(a.interface);
      const i = interfaces.get(a.interface);
      if (!i) return needInterface([...path, 'interface'], a.interface);
      if (i.range && validAddress(a.address) && !i.range.contains(IPv4CidrRange.fromCidr(`${a.address}/32`))) {
        const subnet = `${i.range.getFirst().toString()}/${i.range.getPrefix().getValue()}`;
        report([...path, 'address'], `${a.address} is not inside interface "${a.interface}"'s subnet ${subnet}`);
      }
      checkMta([...path, 'address'], a.address);
      if (a['public-address'] !== undefined && p.interfaces.find((x) => x.name === a.interface)?.role !== 'outside')
        report(
          [...path, 'public-address'],
          `interface "${a.interface}" is not outside: only phone-facing media is advertised at a public address`,
        );
    });
  }
  const lo = mt['rtp-min-port'];
  const hi = mt['rtp-max-port'];
  if (lo < MIN_MEDIA_PORT) report(['media-termination', 'rtp-min-port'], `must be within ${MIN_MEDIA_PORT}-65535`);
  if (lo >= hi) {
    report(['media-termination', 'rtp-max-port'], `must be greater than rtp-min-port (${lo})`);
  } else if (lo + (lo % 2) + 1 > hi) {
    report(
      ['media-termination', 'rtp-max-port'],
      'range has no room for one RTP/RTCP pair (an even port and the next odd port)',
    );
  }

  // CTL file.
  const ctl = p['ctl-file'];
  ctl.records.forEach((r, n) => needTrustpoint(['ctl-file', 'records', n, 'trustpoint'], r.trustpoint));
  if (!ctl.records.some((r) => r.function === 'tftp' || r.function === 'cucm-tftp')) {
    report(
      ['ctl-file', 'records'],
      'needs a tftp or cucm-tftp record: phones only accept configuration files signed by a TFTP key the CTL names',
    );
  }

  // CTL addresses against what the phones' configuration names: the cnf rewrite points
  // processNodeName and the TFTP servers at the outside interface address the phone reached (its
  // public address when a NAT maps it), and a phone only trusts a CCM or TFTP there if a CTL record
  // of that function has that IP_ADDRESS.
  const outside = p.interfaces
    .map((i, n) => ({
      name: i.name,
      n,
      bound: i.address.split('/')[0] ?? '',
      own: i['public-address'] ?? i.address.split('/')[0] ?? '',
      key: i['public-address'] === undefined ? 'address' : 'public-address',
      usable: i.role === 'outside' && !badAddress.has(i.address) && !badAddress.has(i['public-address'] ?? ''),
    }))
    .filter((i) => i.usable);
  const outsideList = outside
    .map((i) => `${i.own} (interface "${i.name}"${i.own === i.bound ? '' : ', public'})`)
    .join(', ');
  const addressesOf = (r: (typeof ctl.records)[number]) =>
    r.address === undefined ? [] : Array.isArray(r.address) ? r.address : [r.address];
  const CCM = new Set(['cucm', 'cucm-tftp']);
  const TFTP = new Set(['tftp', 'cucm-tftp']);
  const serverTrustpoints = new Set([tlsServer(p), ...p['tls-proxy']['remote-addr'].map((r) => r.trustpoint)]);
  ctl.records.forEach((r, n) => {
    if (!CCM.has(r.function) && !TFTP.has(r.function)) return;
    const path = ['ctl-file', 'records', n];
    if (r.address === undefined) {
      report(
        [...path, 'address'],
        `a ${r.function} record needs the address phones' configuration points at: ${outsideList || 'an outside interface address'}`,
      );
    }
    const list = addressesOf(r);
    list.forEach((a, k) => {
      if (badAddress.has(a) || outside.some((i) => i.own === a)) return;
      const behindNat = outside.find((i) => i.bound === a);
      report(
        Array.isArray(r.address) ? [...path, 'address', k] : [...path, 'address'],
        behindNat
          ? `${a} is interface "${behindNat.name}"'s bound address, but phones there are pointed at its public-address ${behindNat.own}: the record must name ${behindNat.own}`
          : `${a} is not an outside interface address; phones' configuration points at ${outsideList || 'no outside address'}`,
      );
    });
    if (CCM.has(r.function) && !serverTrustpoints.has(r.trustpoint)) {
      report(
        [...path, 'trustpoint'],
        `a ${r.function} record must hold the certificate the TLS proxy presents to phones (tls-proxy.server-trustpoint "${tlsServer(p)}"), not "${r.trustpoint}"`,
      );
    }
  });
  for (const i of outside) {
    const named = (fns: Set<string>, trustpoint?: string) =>
      ctl.records.some(
        (r) => fns.has(r.function) && addressesOf(r).includes(i.own) && (!trustpoint || r.trustpoint === trustpoint),
      );
    if (!named(CCM)) {
      report(
        ['interfaces', i.n, i.key],
        `phones on interface "${i.name}" are pointed at ${i.own} for call control, but no ctl-file cucm or cucm-tftp record has that address`,
      );
    } else if (!named(CCM, tlsServer(p))) {
      report(
        ['interfaces', i.n, i.key],
        `no ctl-file cucm or cucm-tftp record for ${i.own} (interface "${i.name}") holds tls-proxy.server-trustpoint "${tlsServer(p)}", the certificate phones get there`,
      );
    }
    if (!named(TFTP)) {
      report(
        ['interfaces', i.n, i.key],
        `phones on interface "${i.name}" are pointed at ${i.own} for TFTP, but no ctl-file tftp or cucm-tftp record has that address`,
      );
    }
  }

  // Configuration-file signers: a size the signed header cannot name passes here and fails every .sgn.
  // Imported trustpoints' sizes come from their certificate, checked when the state opens.
  const signers = new Set<string>();
  ctl.records.forEach((r, n) => {
    if (r.function !== 'tftp' && r.function !== 'cucm-tftp') return;
    const i = p.trustpoints.findIndex((t) => t.name === r.trustpoint);
    const t = p.trustpoints[i];
    if (!t?.enroll || signers.has(t.name)) return;
    signers.add(t.name);
    const why = unsignableKey(t['key-size']);
    if (why) {
      report(
        ['trustpoints', i, 'key-size'],
        `trustpoint "${t.name}" signs configuration files (ctl-file.records[${n}], ${r.function}) but key-size ${t['key-size']} cannot: ${why}`,
      );
    }
  });

  // TLS proxy.
  const tls = p['tls-proxy'];
  needTrustpoint(['tls-proxy', 'server-trustpoint'], tls['server-trustpoint']);
  if (tls['ldc-issuer']) {
    needTrustpoint(['tls-proxy', 'ldc-issuer'], tls['ldc-issuer']);
    const issuer = p.trustpoints.find((t) => t.name === tls['ldc-issuer']);
    if (issuer && issuer.enroll !== 'local-ca' && !issuer.key) {
      report(
        ['tls-proxy', 'ldc-issuer'],
        `trustpoint "${issuer.name}" cannot sign LDCs: it needs enroll: local-ca, or a certificate with its key`,
      );
    }
  } else if (p.cluster.mode === 'mixed') {
    report(
      ['tls-proxy', 'ldc-issuer'],
      'a mixed-mode cluster needs an LDC issuer: phones in authenticated or encrypted mode get a TLS leg to UCM',
    );
  }
  tls['client-trustpoints'].forEach((t, n) => needTrustpoint(['tls-proxy', 'client-trustpoints', n], t));
  tls['remote-addr'].forEach((r, n) => needTrustpoint(['tls-proxy', 'remote-addr', n, 'trustpoint'], r.trustpoint));
  if (tls['legacy-phones'] && tls['min-version'] !== 'TLSv1') {
    report(['tls-proxy', 'min-version'], 'legacy-phones needs min-version TLSv1 (old phones only speak TLS 1.0)');
  }

  // The UCM leg: below TLS 1.2 there is no AEAD suite and OpenSSL 3 refuses it at its default
  // security level, so an old version floor only means something with the legacy cipher set.
  const up = tls.upstream;
  if ((up['min-version'] === 'TLSv1' || up['min-version'] === 'TLSv1.1') && up.ciphers !== 'legacy') {
    report(
      ['tls-proxy', 'upstream', 'min-version'],
      `tls-proxy.upstream.min-version ${up['min-version']} needs ciphers: legacy (TLS 1.0/1.1 has only CBC suites such as AES128-SHA)`,
    );
  }
  if (up['min-version'] === 'TLSv1.3' && up.ciphers === 'legacy') {
    report(
      ['tls-proxy', 'upstream', 'ciphers'],
      'tls-proxy.upstream.ciphers legacy adds AES128-SHA, which TLS 1.3 (min-version TLSv1.3) cannot use: choose one',
    );
  }

  // Connection admission: a per-source limit above the total (or pending above per-source) is
  // a policy that does not say what it means.
  const capped = [
    ['max-connections-per-source', 'max-connections'],
    ['max-pending-handshakes-per-source', 'max-connections-per-source'],
    ['max-connections-per-device', 'max-connections'],
  ] as const;
  for (const [key, over] of capped) {
    if (tls[key] > tls[over])
      report(['tls-proxy', key], `tls-proxy.${key} (${tls[key]}) must not exceed tls-proxy.${over} (${tls[over]})`);
  }

  if (p['proxy-server']) needInterface(['proxy-server', 'interface'], p['proxy-server'].interface);

  // Listeners bind on outside interfaces, and must not collide there (TFTP is UDP, the rest TCP).
  const outsideAddresses = new Set(
    p.interfaces.filter((i) => i.role === 'outside').map((i) => i.address.split('/')[0]),
  );
  const bound: { name: ListenerName; port: number; address?: string; udp: boolean }[] = [];
  for (const name of LISTENER_NAMES) {
    const at = listenerEndpoint(p.listen, name);
    if (!at) continue;
    if (at.address !== undefined && !outsideAddresses.has(at.address))
      report(['listen', name, 'address'], `${at.address} is not the address of an outside interface`);
    const udp = name === 'tftp';
    const other = bound.find(
      (b) => b.port === at.port && b.udp === udp && (!b.address || !at.address || b.address === at.address),
    );
    if (other) report(['listen', name], `port ${at.port} is already used by listen.${other.name}`);
    bound.push({ name, ...at, udp });
  }
  const syslog = p.logging.syslog;
  if (syslog) {
    checkAddress(['logging', 'syslog', 'address'], syslog.address, false);
    const first = Number(syslog.address.split('.')[0]);
    if (syslog.address === '0.0.0.0' || syslog.address === '255.255.255.255' || (first >= 224 && first <= 239))
      report(
        ['logging', 'syslog', 'address'],
        `syslog collector ${syslog.address} must be one host's address (not unspecified, broadcast or multicast)`,
      );
  }
  checkApplianceCluster(p, report);
  for (const q of checkCapfRules(p)) report(q.path, q.message);
  if (p.control.socket === 'tcp' && p.control.port === undefined) {
    report(['control', 'port'], 'control socket "tcp" needs a port');
  }
  return problems;
}

/** `redis://[user:pass@]host:port/db`: what is wrong with a Redis URL, or undefined. */
export function redisUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${redactUrl(url)}" is not a URL; use redis://[user:password@]host:port/db`;
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    return `scheme "${u.protocol.replace(/:$/, '')}" is not redis or rediss (TLS)`;
  if (!u.hostname) return 'names no host; use redis://host:port/db';
  if (u.port !== '' && (Number(u.port) < 1 || Number(u.port) > 65535)) return `port ${u.port} is not 1-65535`;
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^(\d|1[0-5])$/.test(db)) return `database "${db}" is not a number from 0 to 15`;
  if (u.search || u.hash) return 'takes no query or fragment (TLS settings go under appliance-cluster.tls)';
  return undefined;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}

function checkApplianceCluster(p: Policy, report: (path: (string | number)[], message: string) => void): void {
  const c = p['appliance-cluster'];
  if (!c) return;
  const at = ['appliance-cluster'];
  if (typeof c.redis === 'string') {
    const why = redisUrlProblem(c.redis);
    if (why) report([...at, 'redis'], `appliance-cluster.redis ${why}`);
    else if (c.tls && !c.redis.startsWith('rediss:'))
      report([...at, 'tls'], 'appliance-cluster.tls needs a rediss:// URL (redis:// is plain TCP)');
  }
  if (c['password-file'] !== undefined) {
    const inline = typeof c.redis === 'string' ? /\/\/[^/@]*:[^@/]*@/.test(c.redis) : c.redis.password !== undefined;
    if (inline)
      report(
        [...at, 'password-file'],
        'appliance-cluster: the Redis password is given twice (in redis and in password-file): keep the file',
      );
  }
  const t = c.tls;
  if (t && (t.certificate === undefined) !== (t.key === undefined))
    report([...at, 'tls'], 'appliance-cluster.tls: a client certificate needs its key, and a key its certificate');
  checkTakeoverAddresses(p, c, report);
  if (c.role === 'standby' && c['start-without-redis'])
    report(
      [...at, 'start-without-redis'],
      'a standby without Redis has nothing to stand by for: start-without-redis is for active nodes',
    );
}

/** Takeover-only addresses: other nodes' media addresses, for a node that takes sessions over. */
function checkTakeoverAddresses(
  p: Policy,
  c: NonNullable<Policy['appliance-cluster']>,
  report: (path: (string | number)[], message: string) => void,
): void {
  const list = c['takeover-addresses'];
  if (!list || list.length === 0) return;
  const at = ['appliance-cluster', 'takeover-addresses'];
  if (c.role === 'active')
    report(
      at,
      'appliance-cluster.takeover-addresses: an active node never takes sessions over (role standby or active-active)',
    );
  const mt = p['media-termination'];
  const own = new Set([
    ...(mt.address !== undefined ? [mt.address] : []),
    ...(mt.addresses ?? []).map((a) => a.address),
  ]);
  const seen = new Set<string>();
  list.forEach((address, i) => {
    if (!isIPv4(address))
      report([...at, i], `appliance-cluster.takeover-addresses[${i}]: ${address} is not an IPv4 address`);
    else if (own.has(address))
      report(
        [...at, i],
        `appliance-cluster.takeover-addresses[${i}]: ${address} is a media-termination address of this node (list only other nodes' addresses)`,
      );
    else if (seen.has(address))
      report([...at, i], `appliance-cluster.takeover-addresses[${i}]: ${address} is listed twice`);
    seen.add(address);
  });
}
