/**
 * The catalogue's other half: what the appliance counts rather than throws (TFTP outcomes,
 * media drop verdicts, SRTP return codes, TLS proxy events), mapped to the same `EPX_…` codes
 * that docs/errors.md explains. Where a thrown class already names the failure, its code is
 * reused, so one failure has one code whether it was thrown or counted.
 *
 * Kept apart from src/errors.ts because these maps import the modules that own each
 * vocabulary, and those modules import src/errors.ts: the product has no import circles.
 * Each map is keyed by its source list, so the compiler (Record over a union) or the
 * catalogue test (over the module's exported constants) fails when a new entry has no code.
 * `null` marks an entry that is not a failure (a file served, a peer closing).
 */
import {
  SRTP_ERR_ALLOC,
  SRTP_ERR_AUTH,
  SRTP_ERR_BAD_MKI,
  SRTP_ERR_BAD_PARAM,
  SRTP_ERR_BAD_SLOT,
  SRTP_ERR_BAD_VERSION,
  SRTP_ERR_CANT_CHECK,
  SRTP_ERR_CIPHER,
  SRTP_ERR_FAIL,
  SRTP_ERR_INIT,
  SRTP_ERR_KEY_EXPIRED,
  SRTP_ERR_NO_CTX,
  SRTP_ERR_PARSE,
  SRTP_ERR_PKT_IDX_ADV,
  SRTP_ERR_PKT_IDX_OLD,
  SRTP_ERR_REPLAY,
  SRTP_ERR_REPLAY_OLD,
  SRTP_ERR_TABLE_FULL,
  SRTP_ERR_TOO_LONG,
  SRTP_ERR_TOO_SHORT,
  SRTP_ERR_TRAP,
} from '../wasm/srtp';
import { ERROR_CODES, type ErrorCode } from './errors';
import {
  DROP_AUTH,
  DROP_MALFORMED,
  DROP_NO_DESTINATION,
  DROP_NOT_CONFIGURED,
  DROP_OTHER_SRTP,
  DROP_OVERSIZE,
  DROP_PROTECT,
  DROP_REPLAY,
  DROP_UNEXPECTED_SOURCE,
} from './media/relay';
import type { Outcome } from './tftp/types';
import type { CounterName } from './tls/connection-table';

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

/** Verdicts of the media packet path (src/media/relay.ts DROP_*), each counted in a leg's drop counters. */
export const MEDIA_DROP_CODES = {
  [DROP_UNEXPECTED_SOURCE]: 'EPX_MEDIA_UNEXPECTED_SOURCE',
  [DROP_MALFORMED]: 'EPX_MEDIA_MALFORMED',
  [DROP_AUTH]: 'EPX_SRTP_AUTH_FAILED',
  [DROP_REPLAY]: 'EPX_SRTP_REPLAY',
  [DROP_OTHER_SRTP]: 'EPX_SRTP_UNPROTECT_FAILED',
  [DROP_NO_DESTINATION]: 'EPX_MEDIA_NO_DESTINATION',
  [DROP_PROTECT]: 'EPX_SRTP_PROTECT_FAILED',
  [DROP_OVERSIZE]: 'EPX_MEDIA_OVERSIZE',
  [DROP_NOT_CONFIGURED]: 'EPX_MEDIA_NOT_CONFIGURED',
} as const satisfies Record<number, string>;

/**
 * Negative return codes of the SRTP binding (wasm/srtp.ts SRTP_ERR_*: libsrtp's, then the
 * shim's). Packet-level ones share the media drop codes; the rest concern session set-up.
 */
export const SRTP_ERROR_CODES = {
  [SRTP_ERR_FAIL]: 'EPX_SRTP_CRYPTO_FAILED',
  [SRTP_ERR_CIPHER]: 'EPX_SRTP_CRYPTO_FAILED',
  [SRTP_ERR_BAD_PARAM]: 'EPX_SRTP_SESSION_SETUP',
  [SRTP_ERR_INIT]: 'EPX_SRTP_SESSION_SETUP',
  [SRTP_ERR_ALLOC]: 'EPX_SRTP_CAPACITY',
  [SRTP_ERR_TABLE_FULL]: 'EPX_SRTP_CAPACITY',
  [SRTP_ERR_AUTH]: 'EPX_SRTP_AUTH_FAILED',
  // libsrtp checks SRTCP's E flag before the tag: a forged packet can get this instead (srtp.ts).
  [SRTP_ERR_CANT_CHECK]: 'EPX_SRTP_AUTH_FAILED',
  // A packet naming a key the session does not hold cannot be authenticated either.
  [SRTP_ERR_BAD_MKI]: 'EPX_SRTP_AUTH_FAILED',
  [SRTP_ERR_REPLAY]: 'EPX_SRTP_REPLAY',
  [SRTP_ERR_REPLAY_OLD]: 'EPX_SRTP_REPLAY',
  [SRTP_ERR_PKT_IDX_OLD]: 'EPX_SRTP_REPLAY',
  [SRTP_ERR_PKT_IDX_ADV]: 'EPX_SRTP_INDEX_JUMP',
  [SRTP_ERR_NO_CTX]: 'EPX_SRTP_NO_STREAM',
  [SRTP_ERR_KEY_EXPIRED]: 'EPX_SRTP_KEY_EXPIRED',
  [SRTP_ERR_PARSE]: 'EPX_MEDIA_MALFORMED',
  [SRTP_ERR_BAD_VERSION]: 'EPX_MEDIA_MALFORMED',
  [SRTP_ERR_TOO_SHORT]: 'EPX_MEDIA_MALFORMED',
  [SRTP_ERR_TOO_LONG]: 'EPX_MEDIA_OVERSIZE',
  [SRTP_ERR_BAD_SLOT]: 'EPX_SRTP_ENGINE_FAULT',
  [SRTP_ERR_TRAP]: 'EPX_SRTP_ENGINE_FAULT',
} as const satisfies Record<number, string>;

/** TLS proxy events (src/tls/connection-table.ts COUNTER_NAMES, `show tls-proxy statistics`). */
export const TLS_EVENT_CODES = {
  'remote-closures': null,
  // The idle timeout closing a connection is the policy working, not a failure.
  'inactive-ageouts': null,
  'warnings-suppressed': null,
  'send-failures': 'EPX_TLS_SEND_FAILED',
  'connection-failures': 'EPX_TLS_UPSTREAM',
  'queue-overflows': 'EPX_TLS_QUEUE_OVERFLOW',
  'tls-client-handshake-failures': 'EPX_TLS_UPSTREAM_HANDSHAKE',
  'tls-server-handshake-failures': 'EPX_TLS_HANDSHAKE_FAILED',
  'handshake-timeouts': 'EPX_TLS_HANDSHAKE_TIMEOUT',
  'refused-no-certificate': 'EPX_TLS_NO_CERTIFICATE',
  'refused-bad-certificate': 'EPX_TLS_BAD_CERTIFICATE',
  'refused-global-limit': 'EPX_TLS_GLOBAL_LIMIT',
  'refused-source-limit': 'EPX_TLS_SOURCE_LIMIT',
  'refused-pending-limit': 'EPX_TLS_PENDING_LIMIT',
  'refused-device-limit': 'EPX_TLS_DEVICE_LIMIT',
  'message-timeouts': 'EPX_TLS_MESSAGE_TIMEOUT',
  'listener-errors': 'EPX_TLS_LISTENER',
} as const satisfies Record<CounterName, string | null>;

type Codes<M> = Exclude<M[keyof M], null>;

/** A code of the catalogue: a thrown class's, or a counted condition's. */
export type CatalogueCode =
  | ErrorCode
  | Codes<typeof TFTP_OUTCOME_CODES>
  | Codes<typeof MEDIA_DROP_CODES>
  | Codes<typeof SRTP_ERROR_CODES>
  | Codes<typeof TLS_EVENT_CODES>;

/** Every code of the catalogue once: what docs/errors.md must list, no more and no less. */
export const CATALOGUE_CODES: readonly CatalogueCode[] = [
  ...new Set<CatalogueCode>([
    ...ERROR_CODES,
    ...[TFTP_OUTCOME_CODES, MEDIA_DROP_CODES, SRTP_ERROR_CODES, TLS_EVENT_CODES].flatMap((m) =>
      Object.values(m).filter((c): c is Exclude<typeof c, null> => c !== null),
    ),
  ]),
];
