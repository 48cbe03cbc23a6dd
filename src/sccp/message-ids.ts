/**
 * SCCP message ids (docs/sccp.md §5; Wireshark's `message_id[]` and chan-sccp agree on these).
 * The ones the proxy reads or rewrites are named constants; the rest are names for logs only.
 */
export const MSG = {
  KeepAlive: 0x0000,
  Register: 0x0001,
  IpPort: 0x0002,
  OpenReceiveChannelAck: 0x0022,
  Unregister: 0x0027,
  OpenMultiMediaReceiveChannelAck: 0x0031,
  RegisterAck: 0x0081,
  StartMediaTransmission: 0x008a,
  StopMediaTransmission: 0x008b,
  RegisterReject: 0x009d,
  KeepAliveAck: 0x0100,
  OpenReceiveChannel: 0x0105,
  CloseReceiveChannel: 0x0106,
  CallState: 0x0111,
  UnregisterAck: 0x0118,
  OpenMultiMediaReceiveChannel: 0x0131,
  StartMultiMediaTransmission: 0x0132,
  StopMultiMediaTransmission: 0x0133,
  CloseMultiMediaReceiveChannel: 0x0136,
  StartMediaTransmissionAck: 0x0154,
  StartMultiMediaTransmissionAck: 0x0155,
} as const;

export type KnownMessageName = keyof typeof MSG;

/** Names of messages that pass through untouched (logs and show output only). */
const PASS_THROUGH_NAMES: Record<number, string> = {
  3: 'KeypadButton',
  4: 'EnblocCall',
  5: 'Stimulus',
  6: 'OffHook',
  7: 'OnHook',
  8: 'HookFlash',
  9: 'ForwardStatReq',
  10: 'SpeedDialStatReq',
  11: 'LineStatReq',
  12: 'ConfigStatReq',
  13: 'TimeDateReq',
  14: 'ButtonTemplateReq',
  15: 'VersionReq',
  16: 'CapabilitiesRes',
  18: 'ServerReq',
  32: 'Alarm',
  35: 'ConnectionStatisticsRes',
  37: 'SoftKeySetReq',
  38: 'SoftKeyEvent',
  40: 'SoftKeyTemplateReq',
  42: 'MediaTransmissionFailure',
  45: 'RegisterAvailableLines',
  69: 'PortRes',
  130: 'StartTone',
  131: 'StopTone',
  133: 'SetRinger',
  134: 'SetLamp',
  136: 'SetSpeakerMode',
  137: 'SetMicroMode',
  143: 'CallInfo',
  145: 'ForwardStatRes',
  146: 'SpeedDialStatRes',
  147: 'LineStatRes',
  148: 'DefineTimeDate',
  151: 'ButtonTemplate',
  152: 'Version',
  153: 'DisplayText',
  154: 'ClearDisplay',
  155: 'CapabilitiesReq',
  158: 'ServerRes',
  159: 'Reset',
  257: 'StartMulticastMediaReception',
  258: 'StartMulticastMediaTransmission',
  259: 'StopMulticastMediaReception',
  260: 'StopMulticastMediaTransmission',
  263: 'ConnectionStatisticsReq',
  264: 'SoftKeyTemplateRes',
  265: 'SoftKeySetRes',
  272: 'SelectSoftKeys',
  274: 'DisplayPromptStatus',
  275: 'ClearPromptStatus',
  276: 'DisplayNotify',
  277: 'ClearNotify',
  278: 'ActivateCallPlane',
  279: 'DeactivateCallPlane',
  331: 'PortReq',
  332: 'PortClose',
};

const NAME_OF_ID = new Map<number, string>([
  ...Object.entries(PASS_THROUGH_NAMES).map(([id, name]) => [Number(id), name] as [number, string]),
  ...Object.entries(MSG).map(([name, id]) => [id, name] as [number, string]),
]);

/** A readable name for any id, e.g. `OpenReceiveChannel` or `0x0fff`. */
export function messageName(id: number): string {
  return NAME_OF_ID.get(id) ?? `0x${id.toString(16).padStart(4, '0')}`;
}
