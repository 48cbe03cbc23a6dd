/**
 * The TLS proxy's counted events as codes of the error catalogue (docs/errors.md; the index is
 * src/error-codes.ts). `null`: not a failure.
 */
import type { CounterName } from './connection-table';

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
