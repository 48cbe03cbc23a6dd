/**
 * The few SIP header rewrites routing needs (RFC 3261 §19.1 URIs, §20.42 Via): host:port and
 * the transport parameter of a URI, and the appliance's own Via. Pure string functions.
 */
import { createHash } from 'node:crypto';

export interface HostPort {
  host: string;
  port: number;
  /** False when the URI gave no port (the port is then the transport's default). */
  explicitPort?: boolean;
}

export type SipTransport = 'tcp' | 'tls';

const URI = /(sips?:)((?:[^@<>;?\s]*@)?)(\[[^\]]+\]|[^:;?>\s,]+)(?::(\d+))?([^>\s,]*)/i;

/** host:port of the first URI in a header value or Request-URI. */
export function uriHostPort(value: string): HostPort | undefined {
  const m = URI.exec(value);
  if (!m) return undefined;
  const sips = (m[1] ?? '').toLowerCase() === 'sips:';
  const tls = /;transport=tls/i.test(m[5] ?? '');
  return { host: m[3] ?? '', port: m[4] ? Number(m[4]) : sips || tls ? 5061 : 5060, explicitPort: !!m[4] };
}

/** Replaces host:port of the first URI and sets its transport parameter; the rest is kept. */
export function setUriHostPort(value: string, to: HostPort, transport: SipTransport): string {
  return value.replace(URI, (_all, scheme: string, user: string, _host, _port, params: string) => {
    const rest = /;transport=/i.test(params)
      ? params.replace(/;transport=[^;?>]*/i, `;transport=${transport}`)
      : `;transport=${transport}${params}`;
    // A sips: URI promises TLS on every hop (RFC 3261 §26.2.2): toward a TCP leg it becomes sip:.
    const out = transport === 'tcp' && scheme.toLowerCase() === 'sips:' ? 'sip:' : scheme;
    return `${out}${user}${to.host}:${to.port}${rest}`;
  });
}

/** Same host, and same port unless `a` gave none (a phone's registrar URI often has no port). */
export function sameHostPort(a: HostPort | undefined, b: HostPort): boolean {
  return a !== undefined && a.host === b.host && (a.explicitPort === false || a.port === b.port);
}

/**
 * The Via the appliance adds in front of a request it forwards. The branch is derived from the
 * request's own top branch (RFC 3261 §16.11, stateless proxy), so retransmissions get the same one.
 */
export function applianceVia(transport: SipTransport, at: HostPort, topVia: string): string {
  const branch = /;\s*branch=([^;,\s]+)/i.exec(topVia)?.[1] ?? topVia;
  const digest = createHash('sha256').update(branch).digest('hex').slice(0, 24);
  return `SIP/2.0/${transport.toUpperCase()} ${at.host}:${at.port};branch=z9hG4bKpp${digest}`;
}

/** True when a Via value was added by the appliance (our branch prefix). */
export function isApplianceVia(via: string): boolean {
  return /;\s*branch=z9hG4bKpp[0-9a-f]{24}/i.test(via);
}
