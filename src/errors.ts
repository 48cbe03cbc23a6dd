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

const BRAND = Symbol.for('phone-proxy.error');

export abstract class ApplianceError extends Error {
  /** The catalogue code; set from the subclass's static `code`. */
  readonly code: ErrorCode;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    const cls = new.target as unknown as { code: ErrorCode; name: string };
    this.code = cls.code;
    this.name = cls.name;
    Object.defineProperty(this, BRAND, { value: cls.code });
  }

  /** `x instanceof SomeError` is true for any error carrying SomeError's code, whichever copy made it. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    if (typeof x !== 'object' || x === null) return false;
    const code = (x as { [BRAND]?: unknown })[BRAND];
    if (typeof code !== 'string') return false;
    const own = (this as unknown as { code?: string }).code;
    return own === undefined || own === code;
  }
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

/** The open-files limit cannot hold even the listeners and one call (src/fd-budget.ts). */
export class FdLimitError extends ApplianceError {
  static readonly code = 'EPX_FD_LIMIT';
}

export const ERROR_CLASSES = [PolicyError, ApiError, SipParseError, SipFramingError, FdLimitError] as const;

export type ErrorCode = (typeof ERROR_CLASSES)[number]['code'];

/** Every code of the catalogue, for docs/errors.md and its test. */
export const ERROR_CODES: readonly string[] = ERROR_CLASSES.map((c) => c.code);
