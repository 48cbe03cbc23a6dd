/**
 * The device a SIP REGISTER names (pure), to bind it to the phone's certificate (issue 12).
 *
 * A Cisco SIP phone registering with Unified CM names itself in its Contact header:
 * `+u.sip!devicename.ccm.cisco.com="SEP00DE0A1AB001"` (what UCM looks the device up by), and
 * `+sip.instance="<urn:uuid:00000000-0000-0000-0000-00de0a1ab001>"` (RFC 5626 instance id: zeros
 * and the MAC). Its Contact user is a UUID-like string and its AOR the directory number, so those
 * only count when they are `SEP<MAC>` themselves (older loads and some third-party setups). Every
 * name found must be the same device; the REGISTER's identity is that device.
 */
import { canonicalName, type SipMessage } from './message';

export type RegisterIdentity =
  | { kind: 'none' }
  | { kind: 'device'; deviceName: string; sources: string[] }
  | { kind: 'conflict'; names: string[] };

const SEP = /^SEP[0-9A-F]{12}$/;
/** Cisco's instance id: the MAC in the last 12 hex digits, zeros before. */
const CISCO_INSTANCE = /^<?urn:uuid:00000000-0000-0000-0000-([0-9a-f]{12})>?$/i;

function unquote(v: string): string {
  const t = v.trim();
  return t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

/** One Contact value's parameters after the URI (`;name=value`), names lowercased. */
function contactParams(value: string): Map<string, string> {
  const close = value.indexOf('>');
  const semi = value.indexOf(';');
  const tail = close >= 0 ? value.slice(close + 1) : semi >= 0 ? value.slice(semi) : '';
  const out = new Map<string, string>();
  // Quoted values may hold ';' (the instance id's angle brackets do not, but be safe).
  for (const m of tail.matchAll(/;\s*([^=;\s]+)\s*(?:=\s*("[^"]*"|[^;]*))?/g)) {
    out.set((m[1] ?? '').toLowerCase(), unquote(m[2] ?? ''));
  }
  return out;
}

function uriUser(value: string): string | undefined {
  const uri = /<([^>]*)>/.exec(value)?.[1] ?? value.split(';')[0] ?? '';
  return /^sips?:([^@;>]+)@/i.exec(uri.trim())?.[1];
}

/** Contacts split on commas outside quotes and angle brackets. */
function splitContacts(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '<') depth++;
    else if (!quoted && c === '>') depth--;
    else if (!quoted && depth === 0 && c === ',') {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out.map((v) => v.trim()).filter((v) => v.length > 0);
}

export function registerIdentity(msg: SipMessage): RegisterIdentity {
  const found = new Map<string, string[]>();
  const note = (name: string, source: string) => {
    const n = name.toUpperCase();
    found.set(n, [...(found.get(n) ?? []), source]);
  };
  for (const h of msg.headers) {
    const name = canonicalName(h.name);
    if (name === 'contact') {
      for (const c of splitContacts(h.value)) {
        if (c === '*') continue;
        const params = contactParams(c);
        const device = params.get('+u.sip!devicename.ccm.cisco.com');
        if (device) note(device, 'contact devicename');
        const instance = params.get('+sip.instance');
        const mac = instance ? CISCO_INSTANCE.exec(instance)?.[1] : undefined;
        if (mac) note(`SEP${mac}`, 'contact +sip.instance');
        const user = uriUser(c);
        if (user && SEP.test(user.toUpperCase())) note(user, 'contact user');
      }
    } else if (name === 'to') {
      const user = uriUser(h.value);
      if (user && SEP.test(user.toUpperCase())) note(user, 'address of record');
    }
  }
  if (found.size === 0) return { kind: 'none' };
  if (found.size > 1) return { kind: 'conflict', names: [...found.keys()].sort() };
  const [[deviceName, sources]] = [...found.entries()] as [[string, string[]]];
  return { kind: 'device', deviceName, sources };
}

/** Seconds the REGISTER asks for; 0 is a de-registration (RFC 3261 §10.2.2). */
export function registerExpires(msg: SipMessage): number | undefined {
  let min: number | undefined;
  for (const h of msg.headers) {
    const name = canonicalName(h.name);
    if (name === 'contact') {
      for (const c of splitContacts(h.value)) {
        if (c === '*') return 0;
        const e = contactParams(c).get('expires');
        if (e !== undefined && /^\d+$/.test(e)) min = Math.min(min ?? Number(e), Number(e));
      }
    }
  }
  if (min !== undefined) return min;
  const expires = msg.headers.find((h) => canonicalName(h.name) === 'expires')?.value.trim();
  return expires && /^\d+$/.test(expires) ? Number(expires) : undefined;
}
