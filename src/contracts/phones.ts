/**
 * What the TLS proxy asks of the secure-phones database (kept by the TFTP interceptor, which
 * learns each phone's original security mode from its config file): the mode UCM expects and
 * the mode the appliance forced; and what it tells it: a phone registered, so its record stays
 * alive while the phone does (expiry counts from the last config fetch or registration).
 */
import type { PhoneSecurityMode, UpstreamTransport } from './leg-decision';

export interface PhoneRegistration {
  /** Where the registration came from (the phone's signaling connection). */
  address: string;
  port: number;
  protocol: 'sip' | 'sccp';
  /** The phone's signaling leg: tls on the secure listeners, tcp on the nonsecure ones. */
  transport: UpstreamTransport;
}

export interface SecurePhoneRecords {
  get(deviceName: string): { originalMode: PhoneSecurityMode; forcedMode?: PhoneSecurityMode } | undefined;
  /**
   * A registration (SIP REGISTER accepted by UCM, refreshes included; SCCP RegisterAck and the
   * phone's KeepAlives) refreshes the phone's record. False when there is no live record: only a
   * config fetch knows the phone's mode on UCM, so a registration never creates one.
   */
  touch?(deviceName: string, registration: PhoneRegistration): boolean;
}
