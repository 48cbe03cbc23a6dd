/**
 * The CAPF relay's counters (src/capf/relay.ts, `show phone-proxy capf`) and their codes in the
 * error catalogue (docs/errors.md; the index is src/error-codes.ts). `null`: not a failure.
 */
export const CAPF_COUNTER_NAMES = [
  'accepted',
  'relayed',
  'remote-closures',
  'idle-ageouts',
  'warnings-suppressed',
  'refused-global-limit',
  'refused-source-limit',
  'first-byte-timeouts',
  'not-tls',
  'upstream-failures',
  'upstream-timeouts',
  'duration-limit',
  'byte-limit',
  'listener-errors',
] as const;
export type CapfCounter = (typeof CAPF_COUNTER_NAMES)[number];

export const CAPF_EVENT_CODES = {
  accepted: null,
  // CAPF answered the TCP connection: the phone's bytes are on their way.
  relayed: null,
  'remote-closures': null,
  // The idle timeout closing a connection is the policy working, not a failure.
  'idle-ageouts': null,
  'warnings-suppressed': null,
  'refused-global-limit': 'EPX_CAPF_GLOBAL_LIMIT',
  'refused-source-limit': 'EPX_CAPF_SOURCE_LIMIT',
  'first-byte-timeouts': 'EPX_CAPF_FIRST_BYTE_TIMEOUT',
  'not-tls': 'EPX_CAPF_NOT_TLS',
  'upstream-failures': 'EPX_CAPF_UPSTREAM',
  'upstream-timeouts': 'EPX_CAPF_UPSTREAM_TIMEOUT',
  'duration-limit': 'EPX_CAPF_MAX_DURATION',
  'byte-limit': 'EPX_CAPF_MAX_BYTES',
  'listener-errors': 'EPX_CAPF_LISTENER',
} as const satisfies Record<CapfCounter, string | null>;
