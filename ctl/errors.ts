/**
 * The toolkit's coded errors. ctl/ stands alone (it imports nothing from src/), so it keeps its
 * own base class, with the same convention as src/errors.ts: a stable `EPX_…` code from the
 * subclass's static `code`, branded with `Symbol.for('phone-proxy.error')`, so the appliance's
 * `instanceof ApplianceError` and its catalogue (docs/errors.md) cover these too. What went
 * wrong inside the file is `reason`, not `code`: `code` is the catalogue's.
 */

const BRAND = Symbol.for('phone-proxy.error');

/**
 * The branded base of every coded error, the toolkit's and the appliance's (src/errors.ts
 * extends it): the code comes from the subclass's static `code`.
 */
export abstract class CodedError extends Error {
  readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    const cls = new.target as unknown as { code: string; name: string };
    this.code = cls.code;
    this.name = cls.name;
    Object.defineProperty(this, BRAND, { value: cls.code });
  }

  /** True for any error carrying this class's code (any coded error for a base), whichever module copy made it. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    if (typeof x !== 'object' || x === null) return false;
    const code = (x as { [BRAND]?: unknown })[BRAND];
    if (typeof code !== 'string') return false;
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass `instanceof` was asked about.
    const own = (this as unknown as { code?: string }).code;
    return own === undefined || own === code;
  }
}

export abstract class CtlToolkitError extends CodedError {
  // `declare`: narrows the type only; a field here would reset the code the base set.
  declare readonly code: CtlErrorCode;
}

export type TlvErrorReason = 'TRUNCATED' | 'OVERRUN' | 'UNKNOWN_TAG' | 'MISSING' | 'BAD_VALUE';

/** A CTL or signed file does not decode; `offset` and `tag` say where it breaks. */
export class TlvError extends CtlToolkitError {
  static readonly code = 'EPX_CTL_TLV';
  readonly reason: TlvErrorReason;
  readonly offset: number;
  readonly tag: number | undefined;
  constructor(reason: TlvErrorReason, offset: number, tag: number | undefined, what: string) {
    super(`offset ${offset}${tag === undefined ? '' : `, tag ${tag}`}: ${what}`);
    this.reason = reason;
    this.offset = offset;
    this.tag = tag;
  }
}

export type SastImportReason = 'NOT_PKCS12' | 'WRONG_PASSPHRASE' | 'NO_KEYS' | 'KEY_MISMATCH' | 'UNSIGNABLE_KEY';

/** A SAST key bundle (PKCS#12) cannot be imported. */
export class SastImportError extends CtlToolkitError {
  static readonly code = 'EPX_SAST_IMPORT';
  readonly reason: SastImportReason;
  constructor(reason: SastImportReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export const CTL_ERROR_CLASSES = [TlvError, SastImportError] as const;

export type CtlErrorCode = (typeof CTL_ERROR_CLASSES)[number]['code'];
