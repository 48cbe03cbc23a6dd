/**
 * IP address fields inside SCCP bodies (docs/sccp.md §1, §3). Addresses are in network byte
 * order although every other integer is little-endian. Before protocol version 17 an address is
 * 4 bytes of IPv4; from 17 on it is ipAddrType (u32 LE: 0 v4, 1 v6, 2 v4_v6, 3 invalid) followed
 * by 16 bytes, IPv4 in the first four and zeros after.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { IPv6 } from 'ip-num';

export type AddressLayout = 'ipv4' | 'v17';

/** The protocol version from which address fields carry a type and 16 bytes. */
export const V17 = 17;

export function layoutFor(protocolVersion: number): AddressLayout {
  return protocolVersion >= V17 ? 'v17' : 'ipv4';
}

export const IP_ADDR_TYPE = { v4: 0, v6: 1, v4v6: 2, invalid: 3 } as const;

export interface SccpAddress {
  /** ipAddrType as sent (always 0 in the IPv4 layout). */
  type: number;
  /** Dotted IPv4, or IPv6 text when type is 1. */
  ip: string;
}

export function addressSize(layout: AddressLayout): number {
  return layout === 'v17' ? 20 : 4;
}

export function readIpv4(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

export function writeIpv4(buf: Buffer, at: number, ip: string): void {
  if (!isIPv4(ip)) throw new Error(`"${ip}" is not an IPv4 address`);
  const parts = ip.split('.');
  for (let i = 0; i < 4; i++) buf[at + i] = Number(parts[i]);
}

export function readAddress(buf: Buffer, at: number, layout: AddressLayout): SccpAddress {
  if (layout === 'ipv4') return { type: IP_ADDR_TYPE.v4, ip: readIpv4(buf, at) };
  const type = buf.readUInt32LE(at);
  if (type === IP_ADDR_TYPE.v6) {
    return { type, ip: new IPv6(BigInt(`0x${buf.toString('hex', at + 4, at + 20)}`)).toString() };
  }
  return { type, ip: readIpv4(buf, at + 4) };
}

export function writeAddress(buf: Buffer, at: number, layout: AddressLayout, addr: SccpAddress): void {
  if (layout === 'ipv4') {
    writeIpv4(buf, at, addr.ip);
    return;
  }
  buf.writeUInt32LE(addr.type >>> 0, at);
  buf.fill(0, at + 4, at + 20);
  if (addr.type === IP_ADDR_TYPE.v6) {
    if (!isIPv6(addr.ip)) throw new Error(`"${addr.ip}" is not an IPv6 address`);
    Buffer.from(IPv6.fromString(addr.ip).value.toString(16).padStart(32, '0'), 'hex').copy(buf, at + 4);
  } else {
    writeIpv4(buf, at + 4, addr.ip);
  }
}

/** The address field value for an IP the appliance owns (media-termination address). */
export function addressOf(ip: string): SccpAddress {
  if (isIPv4(ip)) return { type: IP_ADDR_TYPE.v4, ip };
  if (isIPv6(ip)) return { type: IP_ADDR_TYPE.v6, ip };
  throw new Error(`"${ip}" is not an IP address`);
}
