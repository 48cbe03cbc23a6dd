/**
 * The error catalogue: every error the appliance throws on its control plane is one of these
 * coded classes, and every code is explained for operators in docs/errors.md (a test checks
 * both ways). Codes are stable strings (`EPX_…`) that logs, the control API and tests match on;
 * messages are for people and may change.
 *
 * Classes are branded with a registry symbol rather than relying on prototype identity, so
 * `instanceof` still holds when two copies of a module are loaded (jest's module registry,
 * a worker thread, a second `require` of the package) — the approach undici takes.
 */

import { CodedError, CTL_ERROR_CLASSES } from '../ctl/errors';

/** The appliance's coded errors: the toolkit's branded base (ctl/errors.ts), with the catalogue's codes. */
export abstract class ApplianceError extends CodedError {
  // `declare`: narrows the type only; a field here would reset the code the base set.
  declare readonly code: ErrorCode;
}

/**
 * The catalogue code an error carries, for a log field or an output line: an ApplianceError's,
 * or one passed on from the daemon's control API reply (src/control/api.ts callDaemon).
 */
export function catalogueCode(err: unknown): string | undefined {
  if (err instanceof CommandError) return catalogueCode(err.cause) ?? err.code;
  if (err instanceof ApplianceError) return err.code;
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && code.startsWith('EPX_') ? code : undefined;
}

/** The policy file failed validation; `problems` lists each one with where it is. */
export class PolicyError extends ApplianceError {
  static readonly code = 'EPX_POLICY_INVALID';
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(
      `${file}: policy rejected (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`,
    );
    this.problems = problems;
  }
}

/** A control API request the appliance refuses (unknown view, bad argument); `status` is its HTTP status. */
export class ApiError extends ApplianceError {
  static readonly code = 'EPX_CONTROL_REQUEST';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A SIP message that is not valid SIP (start line, header syntax, Content-Length). */
export class SipParseError extends ApplianceError {
  static readonly code = 'EPX_SIP_PARSE';
}

/** A SIP stream that cannot be split into messages within the framing limits. */
export class SipFramingError extends ApplianceError {
  static readonly code = 'EPX_SIP_FRAMING';
}

/** The state directory cannot be used as it is: a file unreadable, a key not matching its certificate, a CTL not verifying. */
export class StateError extends ApplianceError {
  static readonly code = 'EPX_STATE_INVALID';
}

/**
 * A CLI usage or input problem: one line on stderr, no stack trace, and `exitCode` (2 usage,
 * 1 input). An input that failed with a coded error (a CTL that does not decode) keeps it as
 * `cause`, and the line names the cause's code: it says more than EPX_COMMAND_INPUT.
 */
export class CommandError extends ApplianceError {
  static readonly code = 'EPX_COMMAND_INPUT';
  readonly exitCode: number;
  constructor(message: string, exitCode = 2, options?: ErrorOptions) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/** An ASA running-config cannot become a policy at all; every problem names its line where there is one. */
export class AsaImportError extends ApplianceError {
  static readonly code = 'EPX_ASA_IMPORT';
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(
      `${source}: cannot import (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`,
    );
    this.problems = problems;
  }
}

/** SDP in a SIP body that the appliance cannot rewrite (syntax, or an address or port it cannot terminate). */
export class SdpError extends ApplianceError {
  static readonly code = 'EPX_SDP_INVALID';
}

/**
 * src/sccp/framing.ts's SccpFrame and src/tftp/packet.ts's TftpErrorCode, restated: those
 * modules import this one, and the product has no import circles, type-only ones included.
 */
interface SccpFrameShape {
  length: number;
  headerVersion: number;
  messageId: number;
  body: Buffer;
  raw: Buffer;
}
type TftpErrorNumber = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

/** An SCCP stream whose next header cannot be framed (length out of bounds). */
export class SccpFramingError extends ApplianceError {
  static readonly code = 'EPX_SCCP_FRAMING';
  /** Byte offset in the stream of the header that could not be framed. */
  readonly offset: number;
  readonly reason: string;
  /** Complete messages that preceded the bad header in the same push (the caller may still use them). */
  frames: SccpFrameShape[] = [];

  constructor(offset: number, reason: string) {
    super(`SCCP framing error at stream offset ${offset}: ${reason}`);
    this.offset = offset;
    this.reason = reason;
  }
}

/** A framed SCCP message whose body does not decode as its message id says. */
export class SccpDecodeError extends ApplianceError {
  static readonly code = 'EPX_SCCP_DECODE';
  readonly messageId: number;
  readonly reason: string;

  /** `name`: the message's name (src/sccp/message-ids.ts), passed in so the catalogue imports no protocol module. */
  constructor(messageId: number, reason: string, name: string) {
    super(`SCCP ${name} (0x${messageId.toString(16).padStart(4, '0')}): ${reason}`);
    this.messageId = messageId;
    this.reason = reason;
  }
}

/** A phone's TFTP request is refused; `tftpCode` is the TFTP error number the phone gets (2 access violation, 4 illegal operation). */
export class TftpRequestError extends ApplianceError {
  static readonly code = 'EPX_TFTP_REQUEST_REFUSED';
  constructor(
    readonly tftpCode: TftpErrorNumber,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** A TFTP packet after the request that is not what its opcode says (short, not NUL-terminated, unknown opcode). */
export class TftpPacketError extends ApplianceError {
  static readonly code = 'EPX_TFTP_PACKET';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** A transfer from UCM's TFTP server failed: `tftpCode` is the error it sent (undefined: timeout or a local limit). */
export class TftpUpstreamError extends ApplianceError {
  static readonly code = 'EPX_TFTP_UPSTREAM';
  constructor(
    message: string,
    readonly tftpCode: number | undefined,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

/** A configuration file from UCM that is not well-formed XML; where it breaks is line, column and offset. */
export class CnfParseError extends ApplianceError {
  static readonly code = 'EPX_TFTP_CONFIG_PARSE';
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
    readonly offset: number,
  ) {
    super(`line ${line}, column ${column}: ${reason}`);
  }
}

/** The upstream leg to a UCM member cannot be set up; `handshake` is true when TCP connected and TLS failed. */
export class TlsUpstreamError extends ApplianceError {
  static readonly code = 'EPX_TLS_UPSTREAM';
  constructor(
    message: string,
    readonly handshake: boolean,
  ) {
    super(message);
  }
}

/** A media allocation or update is refused; `kind` is the cause counted in the media service's errors (sessions-full, bind-failed, ...). */
export class MediaError extends ApplianceError {
  static readonly code = 'EPX_MEDIA_ALLOCATION';
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

/** No free RTP port pair on a media-termination address. */
export class PortExhaustedError extends ApplianceError {
  static readonly code = 'EPX_MEDIA_PORTS_EXHAUSTED';
  constructor(address: string, inUse: number, quarantined: number) {
    super(`media: no free RTP port pair on ${address} (${inUse} in use, ${quarantined} in quarantine)`);
  }
}

/**
 * A media worker refused a request. `sysCode` is the system error behind it (`EADDRINUSE` when a
 * port is taken), `address`/`port` the socket concerned; `code` is the catalogue's.
 */
export class WorkerError extends ApplianceError {
  static readonly code = 'EPX_MEDIA_WORKER';
  constructor(
    message: string,
    readonly sysCode?: string,
    readonly address?: string,
    readonly port?: number,
  ) {
    super(message);
  }
}

/** The open-files limit cannot hold even the listeners and one call (src/fd-budget.ts). */
export class FdLimitError extends ApplianceError {
  static readonly code = 'EPX_FD_LIMIT';
}

/** Redis unreachable at start and the policy does not allow starting alone (appliance-cluster). */
export class ClusterUnreachableError extends ApplianceError {
  static readonly code = 'EPX_CLUSTER_UNREACHABLE';
}

/** The cluster's shared trust in Redis cannot be used: it does not open with the secret file, or is damaged. */
export class ClusterTrustError extends ApplianceError {
  static readonly code = 'EPX_CLUSTER_TRUST';
}

export const ERROR_CLASSES = [
  PolicyError,
  ApiError,
  SipParseError,
  SipFramingError,
  StateError,
  CommandError,
  AsaImportError,
  SdpError,
  SccpFramingError,
  SccpDecodeError,
  TftpRequestError,
  TftpPacketError,
  TftpUpstreamError,
  CnfParseError,
  TlsUpstreamError,
  MediaError,
  PortExhaustedError,
  WorkerError,
  FdLimitError,
  ClusterUnreachableError,
  ClusterTrustError,
  // ctl/ may not import src/, so its classes live in ctl/errors.ts (same brand) and are listed here.
  ...CTL_ERROR_CLASSES,
] as const;

export type ErrorCode = (typeof ERROR_CLASSES)[number]['code'];

/** Every code a class of this catalogue raises (src/error-codes.ts adds the codes of counted conditions). */
export const ERROR_CODES: readonly ErrorCode[] = ERROR_CLASSES.map((c) => c.code);
