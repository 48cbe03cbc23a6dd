/**
 * Which server certificate and cipher policy a phone gets, by its source address (pure):
 * the most specific `tls-proxy.remote-addr` subnet containing it (CUBE's
 * `crypto signaling remote-addr <subnet> trustpoint <name> [strict-cipher]`), else the default.
 */
export interface RemoteAddrRule {
  subnet: string;
  trustpoint: string;
  'strict-cipher': boolean;
}

function ipv4ToInt(address: string): number | undefined {
  const m = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(address);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

export function inSubnet(address: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const a = ipv4ToInt(address);
  const n = ipv4ToInt(net ?? '');
  const bits = Number(bitsText);
  if (a === undefined || n === undefined || !(bits >= 0 && bits <= 32)) return false;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (a & mask) >>> 0 === (n & mask) >>> 0;
}

/** Index of the most specific rule matching the address, or -1 for the default. */
export function matchRemoteAddr(address: string, rules: readonly RemoteAddrRule[]): number {
  let best = -1;
  let bestBits = -1;
  rules.forEach((r, n) => {
    const bits = Number(r.subnet.split('/')[1]);
    if (bits > bestBits && inSubnet(address, r.subnet)) {
      best = n;
      bestBits = bits;
    }
  });
  return best;
}

/** IPv4-mapped IPv6 addresses as plain IPv4, for display and matching. */
export function plainAddress(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/i, '');
}
