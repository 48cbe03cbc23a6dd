/**
 * What a requested file name means to the interceptor, and which names are refused. Pure.
 * Names follow docs/cnf-xml.md §2.1: `SEP<12 hex>` device names, CTL/ITL TLV files, everything else relayed.
 */
import { TftpRequestError } from '../errors';
import { TftpErrorCode } from './packet';

/** Longest name accepted (bytes). Phone file names are short; this bounds log lines and upstream requests. */
export const MAX_NAME_LENGTH = 255;

export type FileKind =
  /** CTLFile.tlv or CTLSEP<MAC>.tlv: answered with the appliance's CTL, never forwarded. */
  | { kind: 'ctl'; deviceName?: string }
  /** ITLFile.tlv or ITLSEP<MAC>.tlv: answered "file not found" (see README: the UCM ITL is signed by a key the phone must not trust). */
  | { kind: 'itl'; deviceName?: string }
  /** SEP<MAC>.cnf.xml(.sgn): fetched as the plain name upstream, rewritten, signed. */
  | { kind: 'config'; deviceName: string; mac: string; signed: boolean; upstreamName: string }
  /** SEP<MAC>.cnf.xml.enc.sgn: the proxy cannot read an encrypted config (docs/cnf-xml.md §4, item 9). */
  | { kind: 'encrypted-config'; deviceName: string }
  /**
   * Any other `X.sgn`: the phone checks it against the appliance's CTL, so it is re-signed: the UCM's
   * `X.sgn` with its signature replaced, or the plain `X` signed when UCM has no signed version.
   */
  | { kind: 'signed-file'; plainName: string }
  /** Everything else: relayed as a stream. */
  | { kind: 'relay' };

const SEGMENT = /^[A-Za-z0-9._+,=@~()-]+$/;
const CONFIG = /^SEP([0-9A-Fa-f]{12})\.cnf\.xml(\.sgn|\.enc\.sgn)?$/;
const TLV = /^(CTL|ITL)(?:File|SEP([0-9A-Fa-f]{12}))\.tlv$/;

/** Throws TftpRequestError(AccessViolation) naming the problem for names outside the allowed set. */
export function checkName(name: string): void {
  const refuse = (why: string) => {
    throw new TftpRequestError(TftpErrorCode.AccessViolation, why);
  };
  if (name.length === 0) refuse('empty file name');
  if (Buffer.byteLength(name, 'latin1') > MAX_NAME_LENGTH) refuse(`file name longer than ${MAX_NAME_LENGTH} bytes`);
  if (name.includes('\0')) refuse('file name contains a NUL byte');
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) refuse('absolute path');
  if (name.includes('\\')) refuse('backslash in file name');
  for (const seg of name.split('/')) {
    if (seg === '..') refuse('path traversal ("..")');
    if (seg === '' || seg === '.') refuse('empty or "." path segment');
    if (!SEGMENT.test(seg)) refuse('character outside [A-Za-z0-9._+,=@~()-/] in file name');
  }
}

export function deviceNameOf(mac: string): string {
  return `SEP${mac.toUpperCase()}`;
}

/** Classifies a name that passed checkName(). */
export function classify(name: string): FileKind {
  const tlv = TLV.exec(name);
  if (tlv) {
    const deviceName = tlv[2] ? deviceNameOf(tlv[2]) : undefined;
    return tlv[1] === 'CTL' ? { kind: 'ctl', deviceName } : { kind: 'itl', deviceName };
  }
  const cfg = CONFIG.exec(name);
  if (cfg) {
    const mac = (cfg[1] as string).toUpperCase();
    const deviceName = deviceNameOf(mac);
    if (cfg[2] === '.enc.sgn') return { kind: 'encrypted-config', deviceName };
    // Keep the MAC's case as the phone sent it: the UCM TFTP server's names are case-sensitive.
    return { kind: 'config', deviceName, mac, signed: cfg[2] === '.sgn', upstreamName: `SEP${cfg[1]}.cnf.xml` };
  }
  if (name.endsWith('.sgn') && name.length > 4) return { kind: 'signed-file', plainName: name.slice(0, -4) };
  return { kind: 'relay' };
}
