/**
 * SDP (RFC 4566) as ordered lines: a session section and one section per `m=` line. Only
 * the lines the appliance rewrites are interpreted; every other line is kept verbatim.
 */
import { SdpError } from '../errors';

export interface SdpMedia {
  media: string;
  port: number;
  /** Port count from `m=<media> <port>/<n>` (rare; kept). */
  portCount?: number;
  proto: string;
  formats: string[];
  /** Lines after the m= line, each without the trailing CRLF. */
  lines: string[];
}

export interface Sdp {
  session: string[];
  media: SdpMedia[];
}

export function parseSdp(text: string): Sdp {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (!lines[0]?.startsWith('v=')) throw new SdpError('SDP does not start with v=');
  const sdp: Sdp = { session: [], media: [] };
  for (const [n, line] of lines.entries()) {
    if (!/^[a-z]=/.test(line)) throw new SdpError(`SDP line ${n + 1} is not <type>=<value>: "${line.slice(0, 40)}"`);
    if (line.startsWith('m=')) {
      const m = /^m=(\S+) (\d+)(?:\/(\d+))? (\S+)(?: (.*))?$/.exec(line);
      if (!m) throw new SdpError(`SDP line ${n + 1}: bad m= line "${line.slice(0, 60)}"`);
      sdp.media.push({
        media: m[1] ?? '',
        port: Number(m[2]),
        ...(m[3] ? { portCount: Number(m[3]) } : {}),
        proto: m[4] ?? '',
        formats: (m[5] ?? '').split(' ').filter(Boolean),
        lines: [],
      });
    } else {
      const last = sdp.media[sdp.media.length - 1];
      (last ? last.lines : sdp.session).push(line);
    }
  }
  return sdp;
}

export function serializeSdp(sdp: Sdp): string {
  const out = [...sdp.session];
  for (const m of sdp.media) {
    const port = m.portCount !== undefined ? `${m.port}/${m.portCount}` : String(m.port);
    out.push(`m=${m.media} ${port} ${m.proto}${m.formats.length ? ` ${m.formats.join(' ')}` : ''}`, ...m.lines);
  }
  return `${out.join('\r\n')}\r\n`;
}

/** The connection address that applies to a media section (its own c= first, then the session's). */
export function connectionAddress(sdp: Sdp, m: SdpMedia): string | undefined {
  const c = m.lines.find((l) => l.startsWith('c=')) ?? sdp.session.find((l) => l.startsWith('c='));
  const parts = c?.slice(2).split(' ');
  return parts?.[2]?.split('/')[0];
}

/** The c= line that applies to a media section, split (RFC 4566 §5.7), or undefined. */
export function connectionData(
  sdp: Sdp,
  m: SdpMedia,
): { netType: string; addrType: string; address: string } | undefined {
  const c = m.lines.find((l) => l.startsWith('c=')) ?? sdp.session.find((l) => l.startsWith('c='));
  if (c === undefined) return undefined;
  const [netType = '', addrType = '', address = ''] = c.slice(2).split(' ');
  return { netType, addrType, address: address.split('/')[0] ?? '' };
}

/** A dotted-quad IPv4 address, each part 0-255 without leading zeros (RFC 4566 IP4-address). */
export function isIp4Address(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** The stream's direction attribute (RFC 4566 §6), media level first; sendrecv by default. */
export function direction(sdp: Sdp, m: SdpMedia): (typeof DIRECTIONS)[number] {
  const is = (l: string): l is `a=${(typeof DIRECTIONS)[number]}` => DIRECTIONS.some((d) => l === `a=${d}`);
  const line = m.lines.find(is) ?? sdp.session.find(is);
  return line ? (line.slice(2) as (typeof DIRECTIONS)[number]) : 'sendrecv';
}

/** Values of `a=<name>:...` lines in a section. */
export function attributes(lines: string[], name: string): string[] {
  const prefix = `a=${name}:`;
  return lines.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
}

/** a=rtcp port (RFC 3605), when present. */
export function rtcpPort(m: SdpMedia): number | undefined {
  const v = attributes(m.lines, 'rtcp')[0];
  const n = v ? Number(v.split(' ')[0]) : Number.NaN;
  return Number.isInteger(n) ? n : undefined;
}

export const DIRECTIONS = ['sendrecv', 'sendonly', 'recvonly', 'inactive'] as const;
