/**
 * The words of `capture NAME [--phone IP] [--media] [--decrypted] [--duration S] [--max-bytes N]
 * [--file PATH]`, checked into a request (pure: no files, no clock). Every limit is here, with
 * why; a request past one is refused with the limit named rather than silently clipped.
 */
import { isIPv4 } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CaptureError } from '../errors';

/** The capture's options as the CLI table (src/cli/spec.ts) and the daemon both parse them. */
export const CAPTURE_OPTIONS = {
  phone: { type: 'string' },
  media: { type: 'boolean' },
  decrypted: { type: 'boolean' },
  duration: { type: 'string' },
  'max-bytes': { type: 'string' },
  file: { type: 'string' },
} as const;

/** A capture runs 5 minutes unless told: long enough for a call, short enough to be forgotten safely. */
export const DEFAULT_DURATION_S = 300;
/** An hour at most: a capture holds a phone's audio (decrypted, in clear); it must end by itself. */
export const MAX_DURATION_S = 3600;
/**
 * 10 MiB unless told (the ASA's buffer is 512 KB in memory; ours is a file): about 8 minutes of
 * one G.711 call both ways, as received and decrypted, with its signaling.
 */
export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
/** 100 MiB at most per capture (both files): the state directory holds keys too and must not fill. */
export const MAX_BYTES = 100 * 1024 * 1024;
/** A header's worth: below this a capture could not hold one packet. */
export const MIN_BYTES = 4096;
/** Names become file names: letters, digits, `-` and `_`, as the ASA's capture names. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

export interface CaptureRequest {
  name: string;
  /** Only this phone's signaling and media; absent: every phone. */
  phone?: string;
  media: boolean;
  decrypted: boolean;
  durationS: number;
  maxBytes: number;
  /** An absolute path for the pcap (`.pcap`), instead of <state>/captures/NAME.pcap. */
  file?: string;
}

export function checkName(name: string | undefined, usage: string): string {
  if (name === undefined) throw new CaptureError(`usage: ${usage}`);
  if (!NAME.test(name))
    throw new CaptureError(`capture name "${name}": 1-32 letters, digits, - or _, starting with a letter or digit`);
  return name;
}

function integer(text: string | undefined, what: string, min: number, max: number, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new CaptureError(`--${what} ${text}: not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new CaptureError(`--${what} ${text}: must be ${min}-${max}`);
  return n;
}

export const CAPTURE_USAGE =
  'capture NAME [--phone IP] [--media [--decrypted]] [--duration S] [--max-bytes N] [--file /ABS/PATH.pcap]';

export function parseCaptureRequest(words: string[]): CaptureRequest {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof CAPTURE_OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: words, options: CAPTURE_OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CaptureError(`${(err as Error).message}; usage: ${CAPTURE_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1)
    throw new CaptureError(`one capture name, not ${positionals.length}; usage: ${CAPTURE_USAGE}`);
  const name = checkName(positionals[0], CAPTURE_USAGE);
  if (values.phone !== undefined && !isIPv4(values.phone))
    throw new CaptureError(`--phone ${values.phone}: not an IPv4 address`);
  if (values.decrypted && !values.media)
    throw new CaptureError('--decrypted needs --media (it adds the media in clear to the media as received)');
  const req: CaptureRequest = {
    name,
    media: values.media === true,
    decrypted: values.decrypted === true,
    durationS: integer(values.duration, 'duration', 1, MAX_DURATION_S, DEFAULT_DURATION_S),
    maxBytes: integer(values['max-bytes'], 'max-bytes', MIN_BYTES, MAX_BYTES, DEFAULT_MAX_BYTES),
  };
  if (values.phone !== undefined) req.phone = values.phone;
  if (values.file !== undefined) req.file = checkFile(values.file);
  return req;
}

/** A path given by the operator: absolute (the daemon's working directory is not theirs), a .pcap. */
function checkFile(file: string): string {
  if (!path.isAbsolute(file)) throw new CaptureError(`--file ${file}: must be an absolute path`);
  if (!file.endsWith('.pcap')) throw new CaptureError(`--file ${file}: must end in .pcap`);
  return path.normalize(file);
}

/** The decrypted media's own file, beside the main one: `x.pcap` → `x-decrypted.pcap`. */
export function decryptedFile(file: string): string {
  return `${file.slice(0, -'.pcap'.length)}-decrypted.pcap`;
}
