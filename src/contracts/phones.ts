/**
 * What the TLS proxy asks of the secure-phones database (kept by the TFTP interceptor, which
 * learns each phone's original security mode from its config file): the mode UCM expects.
 */
import type { PhoneSecurityMode } from './leg-decision';

export interface SecurePhoneRecords {
  get(deviceName: string): { originalMode: PhoneSecurityMode } | undefined;
}
