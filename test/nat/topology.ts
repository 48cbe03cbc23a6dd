/**
 * A phone network behind a real NAT, for the issue 13 integration test: a network namespace for
 * the phone joined to the root namespace by a veth pair, with nftables in the namespace doing
 * what the two NATs of a remote-phone deployment do.
 *
 *   phone ns                                          root ns (appliance)
 *   192.168.77.2 "phone" ─┐                           10.213.N.1   outside interface (bound)
 *   10.213.N.2 "home WAN" ─┴── veth ───────── veth ── 10.213.N.10  media termination (bound)
 *
 *   static NAT of the appliance (what the firewall in front of it does):
 *     198.18.N.1  ↔ 10.213.N.1      198.18.N.10 ↔ 10.213.N.10
 *   home NAT of the phone: 192.168.77.2 → 10.213.N.2
 *
 * The phone only ever dials 198.18.N.x; the appliance only ever sees 10.213.N.2. The static NAT is
 * applied both ways (DNAT on output, SNAT on input) without conntrack helpers, as a 1:1 static
 * mapping does, so TFTP's new server port is translated too. Everything lives in the namespace or
 * on the veth, so deleting the namespace removes the tables and both veth ends.
 */
import { execFileSync } from 'node:child_process';

export interface NatTopology {
  ns: string;
  /** Appliance side (root namespace). */
  bound: { interface: string; media: string; prefix: number };
  /** What the phone dials. */
  public: { interface: string; media: string };
  /** The phone's own (private) address, and what its home NAT turns it into. */
  phone: { address: string; natted: string };
  /** The root namespace's end of the veth pair: where a capture sees the outside leg. */
  veth: string;
}

const run = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { timeout: 10_000, stdio: ['pipe', 'pipe', 'pipe'], ...(input ? { input } : {}) }).toString();

/** Why namespaces cannot be used here, or undefined when they can. */
export function namespacesUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: ip netns needs CAP_SYS_ADMIN';
  try {
    run('ip', ['netns', 'list']);
  } catch (err) {
    return `ip netns unavailable: ${(err as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

/**
 * `half` keeps two suites that jest may run at once apart: each draws N (the third octet of
 * every address) from its own half of 1-250.
 */
export function createTopology(half: 0 | 1 = 0): NatTopology {
  const n = 1 + half * 125 + Math.floor(Math.random() * 125);
  const tag = `${process.pid % 100000}${n}`;
  const root = `ppn${tag}a`.slice(0, 15);
  const t: NatTopology = {
    ns: `ppnat${tag}`,
    veth: root,
    bound: { interface: `10.213.${n}.1`, media: `10.213.${n}.10`, prefix: 24 },
    public: { interface: `198.18.${n}.1`, media: `198.18.${n}.10` },
    phone: { address: '192.168.77.2', natted: `10.213.${n}.2` },
  };
  const peer = `ppn${tag}b`.slice(0, 15);
  run('ip', ['netns', 'add', t.ns]);
  try {
    run('ip', ['link', 'add', root, 'type', 'veth', 'peer', 'name', peer]);
    run('ip', ['link', 'set', peer, 'netns', t.ns]);
    run('ip', ['addr', 'add', `${t.bound.interface}/24`, 'dev', root]);
    run('ip', ['addr', 'add', `${t.bound.media}/24`, 'dev', root]);
    run('ip', ['link', 'set', root, 'up']);
    const inNs = (...args: string[]) => run('ip', ['-n', t.ns, ...args]);
    inNs('link', 'set', 'lo', 'up');
    inNs('addr', 'add', `${t.phone.natted}/24`, 'dev', peer);
    inNs('addr', 'add', `${t.phone.address}/24`, 'dev', peer);
    inNs('link', 'set', peer, 'up');
    // The public addresses are routed out of the veth. Programs that do not bind (the TFTP
    // clients) leave from the home WAN address; the scripted phone binds its private address and
    // goes through the home NAT. TFTP is kept out of the home NAT on purpose: its server answers
    // from a new port, and translating that twice needs a conntrack helper (a home router's ALG).
    inNs('route', 'add', `198.18.${n}.0/24`, 'dev', peer);
    const rules = `
table ip ppnat {
  chain out { type nat hook output priority -100;
    ip daddr ${t.public.interface} dnat to ${t.bound.interface}
    ip daddr ${t.public.media} dnat to ${t.bound.media}
  }
  chain post { type nat hook postrouting priority 100;
    ip saddr ${t.phone.address} snat to ${t.phone.natted}
  }
  chain in { type nat hook input priority 100;
    ip saddr ${t.bound.interface} snat to ${t.public.interface}
    ip saddr ${t.bound.media} snat to ${t.public.media}
  }
}
`;
    run('ip', ['netns', 'exec', t.ns, 'nft', '-f', '-'], rules);
  } catch (err) {
    destroyTopology(t);
    throw err;
  }
  return t;
}

/** Removes the namespace (its nft table and both veth ends go with it). Never throws. */
export function destroyTopology(t: NatTopology | undefined): string[] {
  if (!t) return [];
  const problems: string[] = [];
  try {
    run('ip', ['netns', 'del', t.ns]);
  } catch (err) {
    problems.push((err as Error).message.split('\n')[0] ?? '');
  }
  return problems;
}

export function netnsExec(t: NatTopology): string[] {
  return ['netns', 'exec', t.ns];
}
