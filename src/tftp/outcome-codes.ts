/**
 * How TFTP requests end, as codes of the error catalogue (docs/errors.md; the index is
 * src/error-codes.ts). `null`: the phone was served.
 */
import type { Outcome } from './types';

/** How each TFTP request ended (src/tftp/types.ts OUTCOMES, counted by `show phone-proxy tftp`). */
export const TFTP_OUTCOME_CODES = {
  'ctl-served': null,
  'config-signed-served': null,
  'config-unsigned-served': null,
  'resigned-served': null,
  relayed: null,
  // A retransmitted request is absorbed by the open transfer: the phone is served once.
  'duplicate-request': null,
  'itl-refused': 'EPX_TFTP_ITL_REFUSED',
  'encrypted-config-refused': 'EPX_TFTP_ENCRYPTED_CONFIG_REFUSED',
  'upstream-not-found': 'EPX_TFTP_UPSTREAM_NOT_FOUND',
  'upstream-timeout': 'EPX_TFTP_UPSTREAM_TIMEOUT',
  'upstream-error': 'EPX_TFTP_UPSTREAM',
  'config-parse-error': 'EPX_TFTP_CONFIG_PARSE',
  'file-parse-error': 'EPX_TFTP_FILE_PARSE',
  // Both are TftpRequestError refusals; the outcome (and tftpCode) tells them apart.
  'access-violation': 'EPX_TFTP_REQUEST_REFUSED',
  'bad-request': 'EPX_TFTP_REQUEST_REFUSED',
  'write-refused': 'EPX_TFTP_WRITE_REFUSED',
  'rate-limited-source': 'EPX_TFTP_RATE_LIMITED_SOURCE',
  'rate-limited-global': 'EPX_TFTP_BUSY',
  'transfer-failed': 'EPX_TFTP_TRANSFER_FAILED',
  'internal-error': 'EPX_TFTP_INTERNAL',
} as const satisfies Record<Outcome, string | null>;
