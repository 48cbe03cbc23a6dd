/**
 * The SCCP inspector's refusal reasons (counted in phone_proxy_sccp_errors_total{reason}) as
 * codes of the error catalogue where one names the failure (docs/errors.md); `null`: counted,
 * with no code of its own. For `show phone-proxy drops`.
 */
export const SCCP_DROP_CODES: Record<string, string | null> = {
  framing: 'EPX_SCCP_FRAMING',
  dropped: null,
  refused: null,
  overload: null,
};
