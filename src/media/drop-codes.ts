/**
 * The media packet path's drop verdicts and the SRTP binding's return codes, as codes of the
 * error catalogue (docs/errors.md; the index is src/error-codes.ts).
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
} from '../../wasm/srtp';
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
} from './relay';

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
