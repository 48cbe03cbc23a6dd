/**
 * Where media legs are bound: the media-termination instance of the policy, either one global
 * address for every interface or one address per interface (the policy rules forbid both).
 * A leg is bound on the address of the interface its peer is reached through: the outside
 * interface for remote phones, the inside one for UCM-side peers. Pure: policy in, plan out.
 */

import type { Policy } from '../config/policy-schema';
import type { SocketIo } from './messages';
import type { InsideLatch } from './relay';

export type LegRole = 'outside' | 'inside';

export interface MediaPlan {
  name: string;
  /** The global address, when the policy uses one. */
  global?: string;
  /** Interface name → media-termination address (per-interface mode only). */
  byInterface: Map<string, string>;
  /** Bound media-termination address → the public address phones are told (NAT in front, issue 13). */
  advertised: Map<string, string>;
  /** Interface name → role, for every interface of the policy. */
  roles: Map<string, LegRole>;
  minPort: number;
  maxPort: number;
  idleTimeoutMs: number;
  workers: number;
  /** `inside-latch` (issue 13): whether and on what inside legs latch. */
  insideLatch: InsideLatch;
  /** `socket-io`: the workers' socket path (batched addon or node:dgram). */
  socketIo: SocketIo;
}

export function mediaPlan(policy: Policy): MediaPlan {
  const mt = policy['media-termination'];
  const roles = new Map<string, LegRole>();
  for (const i of policy.interfaces) roles.set(i.name, i.role);
  const byInterface = new Map<string, string>();
  const advertised = new Map<string, string>();
  for (const a of mt.addresses ?? []) {
    byInterface.set(a.interface, a.address);
    if (a['public-address']) advertised.set(a.address, a['public-address']);
  }
  return {
    name: mt.name,
    global: mt.address,
    byInterface,
    advertised,
    roles,
    minPort: mt['rtp-min-port'],
    maxPort: mt['rtp-max-port'],
    idleTimeoutMs: mt['idle-timeout'] * 1000,
    workers: mt.workers,
    insideLatch: mt['inside-latch'],
    socketIo: mt['socket-io'],
  };
}

/**
 * The address a leg facing `role` binds on. `interfaceName`, when signaling knows it, picks the
 * interface; otherwise the first interface of that role with a media-termination address.
 * Throws an error naming the interface when the policy has no address for it.
 */
export function legAddress(plan: MediaPlan, role: LegRole, interfaceName?: string): string {
  if (interfaceName !== undefined) {
    const r = plan.roles.get(interfaceName);
    if (r === undefined) throw new Error(`media: interface "${interfaceName}" is not defined in the policy`);
    if (r !== role) throw new Error(`media: interface "${interfaceName}" has role ${r}, not ${role}`);
  }
  if (plan.global !== undefined) return plan.global;
  if (interfaceName !== undefined) {
    const a = plan.byInterface.get(interfaceName);
    if (a === undefined) throw new Error(`media: no media-termination address on interface "${interfaceName}"`);
    return a;
  }
  for (const [ifname, address] of plan.byInterface) if (plan.roles.get(ifname) === role) return address;
  throw new Error(`media: no media-termination address on any ${role} interface`);
}

/** Every distinct address media legs may bind on (one port space each). */
export function planAddresses(plan: MediaPlan): { address: string; interfaces: string[] }[] {
  if (plan.global !== undefined) return [{ address: plan.global, interfaces: [...plan.roles.keys()] }];
  return [...plan.byInterface].map(([ifname, address]) => ({ address, interfaces: [ifname] }));
}

/** The address a phone is told for a bound leg address: its public address behind a NAT, else itself. */
export function advertisedAddress(plan: MediaPlan, bound: string): string {
  return plan.advertised.get(bound) ?? bound;
}
