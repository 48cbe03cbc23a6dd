/**
 * Puts media termination into an SDP offer or answer (pure): the first active audio stream is
 * pointed at the media-termination address and ports of the leg the SDP travels on; toward a
 * secure leg it becomes RTP/SAVP with the appliance's own `a=crypto`, toward a nonsecure leg
 * RTP/AVP without crypto. Direction attributes, codecs and all other lines are kept.
 *
 * Other streams (video, a second audio) are rejected with port 0 (RFC 3264 §6): media
 * termination allocates one audio session per call, and Cisco's remote-phone deployments
 * carry audio only through the phone proxy, so relaying video would need a second media
 * session per call that nothing in the appliance would use.
 */
import { SdpError } from '../errors';
import { formatCrypto, parseCryptoFor, SDES_DEFAULT_SUITES, type SdesCrypto, type SdesSuite } from './sdes';
import {
  attributes,
  connectionData,
  type DIRECTIONS,
  direction,
  isIp4Address,
  parseSdp,
  rtcpPort,
  type Sdp,
  type SdpMedia,
  serializeSdp,
} from './sdp';

export interface SdpMediaEndpoint {
  /** 0.0.0.0 = the sender put the stream on hold the RFC 2543 way. */
  address: string;
  rtpPort: number;
  rtcpPort?: number;
}

export interface SdpAudio {
  index: number;
  endpoint: SdpMediaEndpoint;
  proto: string;
  /** Usable crypto lines in the sender's order of preference, and why the others were refused. */
  cryptos: SdesCrypto[];
  refusedCryptos: string[];
  /** a=sendrecv/sendonly/recvonly/inactive; c=0.0.0.0 (RFC 2543 hold) counts as inactive. */
  direction: (typeof DIRECTIONS)[number];
}

/**
 * The audio stream the appliance handles: the first audio m-line with a non-zero port. Media
 * termination binds and sends IPv4 only, so any other connection address (IN IP6, a host name)
 * or a port outside 1-65535 is an SdpError whose message is the reason given to the sender.
 */
export function findAudio(sdp: Sdp, accept: readonly SdesSuite[] = SDES_DEFAULT_SUITES): SdpAudio | undefined {
  const index = sdp.media.findIndex((m) => m.media === 'audio' && m.port !== 0);
  const m = sdp.media[index];
  if (!m) return undefined;
  const c = connectionData(sdp, m);
  if (!c?.address) throw new SdpError('audio stream without a c= connection address');
  if (c.netType !== 'IN' || c.addrType !== 'IP4')
    throw new SdpError(`unsupported c= address type "${c.netType} ${c.addrType}" (media termination is IPv4 only)`);
  if (!isIp4Address(c.address))
    throw new SdpError(`c= address "${c.address.slice(0, 64)}" is not an IPv4 address (host names are not resolved)`);
  const address = c.address;
  if (m.port > 65535) throw new SdpError(`audio port ${m.port} is not a port (1-65535)`);
  const cryptos: SdesCrypto[] = [];
  const refusedCryptos: string[] = [];
  for (const value of attributes(m.lines, 'crypto')) {
    const r = parseCryptoFor(value, accept);
    if (r.ok) cryptos.push(r.crypto);
    else refusedCryptos.push(r.reason);
  }
  const rtcp = rtcpPort(m);
  if (rtcp !== undefined && (rtcp < 1 || rtcp > 65535))
    throw new SdpError(`a=rtcp port ${rtcp} is not a port (1-65535)`);
  return {
    index,
    endpoint: { address, rtpPort: m.port, ...(rtcp !== undefined ? { rtcpPort: rtcp } : {}) },
    proto: m.proto,
    cryptos,
    refusedCryptos,
    direction: address === '0.0.0.0' ? 'inactive' : direction(sdp, m),
  };
}

export interface RewriteTarget {
  address: string;
  rtpPort: number;
  rtcpPort: number;
  /** The appliance's crypto line for this leg, or undefined for RTP/AVP ... */
  crypto?: SdesCrypto;
  /** ... or its lines in order of preference (an offer of several suites, issue 17). */
  cryptos?: readonly SdesCrypto[];
}

function rewriteAudio(m: SdpMedia, t: RewriteTarget, address: string): void {
  const cryptos = t.cryptos ?? (t.crypto ? [t.crypto] : []);
  m.port = t.rtpPort;
  m.proto = cryptos.length > 0 ? 'RTP/SAVP' : 'RTP/AVP';
  const lines: string[] = [];
  for (const l of m.lines) {
    if (l.startsWith('a=crypto:')) continue;
    if (l.startsWith('c=')) lines.push(`c=IN IP4 ${address}`);
    else if (l.startsWith('a=rtcp:'))
      lines.push(/ IN IP4 /.test(l) ? `a=rtcp:${t.rtcpPort} IN IP4 ${address}` : `a=rtcp:${t.rtcpPort}`);
    else lines.push(l);
  }
  for (const c of cryptos) lines.push(`a=crypto:${formatCrypto(c)}`);
  m.lines = lines;
}

function reject(m: SdpMedia): void {
  m.port = 0;
  m.lines = m.lines.filter((l) => !l.startsWith('a=crypto:'));
}

/**
 * Returns the SDP text for the other leg. `holdAddress` keeps an RFC 2543 hold (c=0.0.0.0)
 * visible to the other side instead of hiding it behind the media-termination address.
 */
export function rewriteSdp(text: string, target: RewriteTarget): string {
  const sdp = parseSdp(text);
  return rewriteParsedSdp(sdp, findAudio(sdp), target);
}

/**
 * rewriteSdp on an SDP already parsed and its audio already found (the inspector has both:
 * parsing and checking the crypto lines again per offer and answer was CPU per call, bench:sip).
 * `sdp` is changed in place.
 */
export function rewriteParsedSdp(sdp: Sdp, audio: SdpAudio | undefined, target: RewriteTarget): string {
  const address = audio?.endpoint.address === '0.0.0.0' ? '0.0.0.0' : target.address;
  // o= names the sender's host too: each side sees the appliance there as well (issue 13), which
  // keeps it stable across re-offers since the target address of a leg does not change.
  sdp.session = sdp.session.map((l) =>
    l.startsWith('c=') ? `c=IN IP4 ${address}` : l.startsWith('o=') ? originAt(l, target.address) : l,
  );
  sdp.media.forEach((m, n) => {
    if (audio && n === audio.index) rewriteAudio(m, target, address);
    else reject(m);
  });
  return serializeSdp(sdp);
}

/** `o=<user> <id> <version> IN IP4 <address>` with the address replaced; other forms are kept. */
function originAt(line: string, address: string): string {
  const f = line.slice(2).split(' ');
  if (f.length !== 6 || f[3] !== 'IN' || f[4] !== 'IP4') return line;
  f[5] = address;
  return `o=${f.join(' ')}`;
}
