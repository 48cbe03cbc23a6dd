/**
 * Object NAT (`object network` with `host` and `nat (real,mapped) static …`) and `name` entries.
 * The ASA never lists the Unified CM servers for the phone proxy: CTL records carry the address
 * the phones use (often the outside interface, by static PAT), and NAT maps it back to the
 * server. The policy wants the server itself, so the importer reads NAT backwards.
 */
import { isIpv4, portNumber } from './addresses';
import type { Ledger } from './ledger';
import { type ConfigLine, startsWith } from './parse-config';

export interface StaticNat {
  object: string;
  /** Real (inside) address. */
  host: string;
  realInterface: string;
  mappedInterface: string;
  /** Mapped address, or 'interface' for the mapped interface's own address (interface PAT). */
  mapped: string;
  service?: { protocol: 'tcp' | 'udp'; realPort: number; mappedPort: number };
  nodes: ConfigLine[];
}

export interface AsaNat {
  statics: StaticNat[];
  /** `name 10.10.0.20 publisher`: the ASA's own names for addresses. */
  names: Map<string, { name: string; node: ConfigLine }>;
}

function readObject(node: ConfigLine): StaticNat | undefined {
  const object = node.words[2];
  const host = node.children.find((c) => startsWith(c, 'host'));
  const nat = node.children.find((c) => startsWith(c, 'nat'));
  if (!object || !host || !isIpv4(host.words[1]) || !nat) return undefined;
  const ifs = nat.words[1]?.match(/^\(([^,()]+),([^,()]+)\)$/);
  if (!ifs || nat.words[2]?.toLowerCase() !== 'static') return undefined;
  const mapped = nat.words[3];
  if (!mapped || (mapped.toLowerCase() !== 'interface' && !isIpv4(mapped))) return undefined;
  const out: StaticNat = {
    object,
    host: host.words[1],
    realInterface: ifs[1] as string,
    mappedInterface: ifs[2] as string,
    mapped: mapped.toLowerCase() === 'interface' ? 'interface' : mapped,
    nodes: [node, host, nat],
  };
  const s = nat.words.findIndex((w) => w.toLowerCase() === 'service');
  if (s > 0) {
    const protocol = nat.words[s + 1]?.toLowerCase();
    const realPort = portNumber(nat.words[s + 2]);
    const mappedPort = portNumber(nat.words[s + 3]);
    if ((protocol !== 'tcp' && protocol !== 'udp') || realPort === undefined || mappedPort === undefined) {
      return undefined;
    }
    out.service = { protocol, realPort, mappedPort };
  }
  return out;
}

export function mapNat(commands: ConfigLine[], ledger: Ledger): AsaNat {
  const statics: StaticNat[] = [];
  const names = new Map<string, { name: string; node: ConfigLine }>();
  for (const node of commands) {
    if (startsWith(node, 'object', 'network')) {
      const s = readObject(node);
      if (s) statics.push(s);
      else if (node.children.some((c) => startsWith(c, 'nat'))) {
        for (const c of node.children.filter((c) => startsWith(c, 'nat'))) {
          ledger.unmapped(c, 'NAT other than static host NAT: the appliance does not translate addresses');
        }
      }
    } else if (startsWith(node, 'name') && isIpv4(node.words[1]) && node.words[2]) {
      names.set(node.words[1], { name: node.words[2], node });
    }
  }
  return { statics, names };
}

/** Signaling ports a static PAT for a Unified CM carries (SCCP, SCCP/TLS, SIP, SIP/TLS). */
export const UCM_PORTS = new Set([2000, 2443, 5060, 5061]);
