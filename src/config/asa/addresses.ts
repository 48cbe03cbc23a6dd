/** IPv4 words as the ASA writes them: dotted quads, dotted netmasks, `h:mm:ss` timeouts. */

export function isIpv4(s: string | undefined): s is string {
  if (!s || !/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return false;
  return s.split('.').every((o) => Number(o) <= 255 && (o === '0' || !o.startsWith('0')));
}

/** `255.255.255.0` → 24; undefined for a mask that is not contiguous ones then zeros. */
export function maskToPrefix(mask: string | undefined): number | undefined {
  if (!isIpv4(mask)) return undefined;
  const bits = mask
    .split('.')
    .map((o) => Number(o).toString(2).padStart(8, '0'))
    .join('');
  if (!/^1*0*$/.test(bits)) return undefined;
  return bits.indexOf('0') === -1 ? 32 : bits.indexOf('0');
}

/** `0:05:00` (h:mm:ss, as `timeout secure-phones` shows it) → seconds. */
export function hmsToSeconds(s: string | undefined): number | undefined {
  const m = s?.match(/^(\d{1,3}):([0-5]\d):([0-5]\d)$/);
  if (!m) return undefined;
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

/** Port names the ASA prints instead of numbers, for the ports a phone proxy deals with. */
const PORT_NAMES: Record<string, number> = {
  tftp: 69,
  http: 80,
  https: 443,
  sip: 5060,
  ldap: 389,
  ldaps: 636,
  domain: 53,
  ntp: 123,
};

export function portNumber(s: string | undefined): number | undefined {
  if (!s) return undefined;
  if (/^\d{1,5}$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= 65535 ? n : undefined;
  }
  return PORT_NAMES[s.toLowerCase()];
}
