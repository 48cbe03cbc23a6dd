/**
 * The SIP inspector's refusal reasons (SipInspectorCounters.error, counted in
 * phone_proxy_sip_errors_total{reason}) as codes of the error catalogue where one names the
 * failure (docs/errors.md); `null`: counted, with no code of its own. For `show phone-proxy drops`.
 */
export const SIP_DROP_CODES: Record<string, string | null> = {
  framing: 'EPX_SIP_FRAMING',
  parse: 'EPX_SIP_PARSE',
  sdp: 'EPX_SDP_INVALID',
  'media-admission': 'EPX_MEDIA_ALLOCATION',
  'media-update': 'EPX_MEDIA_ALLOCATION',
  identity: null,
  'sdp-method': null,
  'max-forwards': null,
  backlog: null,
  internal: null,
};
