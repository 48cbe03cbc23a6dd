/**
 * Advertised addresses (issue 13): where a NAT in front of the appliance maps an outside address,
 * phones must be told the public address, never the bound one. One place answers "what does a
 * phone see for this appliance address", for the cnf rewrite, the TLS proxy (SIP headers, member
 * order) and media termination (SDP, SCCP). Pure: policy in, answers out.
 */
import type { Policy } from './policy-schema';

const bound = (cidr: string) => cidr.split('/')[0] ?? '';

/** Bound appliance address → public address, for every interface and media-termination address that has one. */
export function publicAddressMap(policy: Policy): Map<string, string> {
  const map = new Map<string, string>();
  for (const i of policy.interfaces) if (i['public-address']) map.set(bound(i.address), i['public-address']);
  for (const a of policy['media-termination'].addresses ?? [])
    if (a['public-address']) map.set(a.address, a['public-address']);
  return map;
}

/** The address phones on `interfaceName` are told the appliance is at (public when set, else bound). */
export function phoneFacingAddress(policy: Policy, interfaceName: string): string | undefined {
  const i = policy.interfaces.find((x) => x.name === interfaceName);
  return i ? (i['public-address'] ?? bound(i.address)) : undefined;
}

export interface MemberMapping {
  /** How the member appears in UCM's files: its address and its name (lower case). */
  match: string[];
  /** The appliance address phones are given for this member. */
  address: string;
}

/**
 * Members with a `phone-interface`: each gets its own appliance address in the phones' CCM list, so
 * the failover order UCM wrote still means one member per entry. Members without one keep the
 * address of the interface the phone fetched its configuration on (the rewriter's default).
 */
export function memberMappings(policy: Policy): MemberMapping[] {
  const out: MemberMapping[] = [];
  for (const m of policy.cluster.members) {
    const ifname = m['phone-interface'];
    const address = ifname === undefined ? undefined : phoneFacingAddress(policy, ifname);
    if (address !== undefined) out.push({ match: [m.address.toLowerCase(), m.name.toLowerCase()], address });
  }
  return out;
}
