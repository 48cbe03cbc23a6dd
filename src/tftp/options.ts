/**
 * TFTP option negotiation, both sides. Pure.
 * - RFC 2347 §2-3: the server acknowledges (OACK) the options it accepts and silently ignores the
 *   others; with none accepted it answers as RFC 1350 (DATA 1). The client must accept no option
 *   it did not ask for.
 * - RFC 2348 blksize: 8-65464 bytes; the server may answer a smaller value, never a larger one.
 * - RFC 2349 timeout: 1-255 seconds, echoed exactly or not at all; tsize: 0 in an RRQ, the size
 *   in the OACK (omitted when the server does not know it).
 * - RFC 7440 windowsize: 1-65535 blocks; the server may answer a smaller value.
 */

export const DEFAULT_BLKSIZE = 512;
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** Retransmission timeout the client asked for (ms), when it did. */
  timeoutMs: number | undefined;
  /** What goes in the OACK; undefined: no option accepted, start with DATA 1. */
  oack: Record<string, string> | undefined;
}

/** Integer option value in [min, max], or undefined (then the option is ignored, RFC 2347 §3). */
function intIn(v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined || !/^\d{1,10}$/.test(v)) return undefined;
  const n = Number(v);
  return n >= min && n <= max ? n : undefined;
}

export interface ServerLimits {
  /** Largest block granted (the path MTU decides in practice; 1468 fits a 1500-byte Ethernet MTU). */
  maxBlksize: number;
  /** Largest RFC 7440 window granted. */
  maxWindowsize: number;
}

/** The server's answer to a request's options, for a file of `size` bytes (undefined: not known yet). */
export function negotiateServer(
  requested: Record<string, string>,
  size: number | undefined,
  limits: ServerLimits,
): Negotiated {
  const oack: Record<string, string> = {};
  let blksize = DEFAULT_BLKSIZE;
  let windowsize = 1;
  let timeoutMs: number | undefined;
  const b = intIn(requested.blksize, MIN_BLKSIZE, MAX_BLKSIZE);
  if (b !== undefined) {
    blksize = Math.min(b, limits.maxBlksize);
    oack.blksize = String(blksize);
  }
  const t = intIn(requested.timeout, 1, 255);
  if (t !== undefined) {
    timeoutMs = t * 1000;
    oack.timeout = String(t);
  }
  // RFC 2349 §4: "the client MUST set the size to 0 in a read request"; anything else is ignored.
  if (requested.tsize === '0' && size !== undefined) oack.tsize = String(size);
  const w = intIn(requested.windowsize, 1, 65535);
  if (w !== undefined) {
    windowsize = Math.min(w, limits.maxWindowsize);
    oack.windowsize = String(windowsize);
  }
  return { blksize, windowsize, timeoutMs, oack: Object.keys(oack).length > 0 ? oack : undefined };
}

export interface ClientAccepted {
  blksize: number;
  windowsize: number;
  /** Size the server announced (tsize), when it did. */
  size: number | undefined;
}

/** Checks a server's OACK against what the client asked for; a string says why it is refused (ERROR 8). */
export function acceptOack(sent: Record<string, string>, oack: Record<string, string>): ClientAccepted | string {
  const out: ClientAccepted = { blksize: DEFAULT_BLKSIZE, windowsize: 1, size: undefined };
  for (const [k, v] of Object.entries(oack)) {
    if (!(k in sent)) return `option ${k} was not requested`;
    if (k === 'blksize') {
      const n = intIn(v, MIN_BLKSIZE, Number(sent.blksize));
      if (n === undefined) return `blksize ${v} outside ${MIN_BLKSIZE}-${sent.blksize}`;
      out.blksize = n;
    } else if (k === 'windowsize') {
      const n = intIn(v, 1, Number(sent.windowsize));
      if (n === undefined) return `windowsize ${v} outside 1-${sent.windowsize}`;
      out.windowsize = n;
    } else if (k === 'tsize') {
      const n = intIn(v, 0, Number.MAX_SAFE_INTEGER);
      if (n === undefined) return `tsize ${v} is not a size`;
      out.size = n;
    } else if (k === 'timeout') {
      if (v !== sent.timeout) return `timeout ${v} differs from the ${sent.timeout} requested`;
    }
  }
  return out;
}
