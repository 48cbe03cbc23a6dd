/** Real-world-shaped SIP messages (Cisco 79xx/88xx phones, UCM), CRLF line ends. */
const crlf = (lines: string[], body = ''): string => {
  const text = `${lines.join('\r\n')}\r\n`;
  return `${text.replace(/^(Content-Length|l): X\r$/m, (_m, name: string) => `${name}: ${Buffer.byteLength(body)}\r`)}\r\n${body}`;
};

export const REGISTER = crlf([
  'REGISTER sip:127.0.1.1 SIP/2.0',
  'Via: SIP/2.0/TLS 198.51.100.7:51234;branch=z9hG4bK1a2b3c4d',
  'From: <sip:1000@127.0.1.1>;tag=001122334455abcd-1',
  'To: <sip:1000@127.0.1.1>',
  'Call-ID: 00112233-44550001-aaaa-bbbb@198.51.100.7',
  'Max-Forwards: 70',
  'Date: Sat, 21 Nov 2026 13:00:00 GMT',
  'CSeq: 101 REGISTER',
  'User-Agent: Cisco-CP8865/14.2.1',
  'Contact: <sip:1000@198.51.100.7:51234;transport=tls>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-001122334455>";+u.sip!devicename.ccm.cisco.com="SEP001122334455";+u.sip!model.ccm.cisco.com="36670"',
  'Supported: replaces,join,sdp-anat,norefersub,resource-priority,extended-refer,X-cisco-callinfo,X-cisco-serviceuri,X-cisco-escapecodes,X-cisco-service-control,X-cisco-srtp-fallback,X-cisco-monrec,X-cisco-config,X-cisco-sis-7.0.0,X-cisco-xsi-8.5.1',
  'Reason: SIP;cause=200;text="cisco-alarm:25 Name=SEP001122334455 Load=sip8845_65.14-2-1"',
  'Expires: 3600',
  'Content-Length: X',
]);

export const SDP_PHONE_OFFER = [
  'v=0',
  'o=Cisco-SIPUA 1234 0 IN IP4 198.51.100.7',
  's=SIP Call',
  'b=AS:4064',
  't=0 0',
  'm=audio 24580 RTP/SAVP 0 8 18 101',
  'c=IN IP4 198.51.100.7',
  'b=TIAS:64000',
  'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31',
  'a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^31',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:18 G729/8000',
  'a=fmtp:18 annexb=yes',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=sendrecv',
  'm=video 24582 RTP/SAVP 126',
  'c=IN IP4 198.51.100.7',
  'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz',
  'a=rtpmap:126 H264/90000',
  '',
].join('\r\n');

export const INVITE = crlf(
  [
    'INVITE sip:1001@127.0.1.1;user=phone SIP/2.0',
    'Via: SIP/2.0/TLS 198.51.100.7:51234;branch=z9hG4bK00aa11bb',
    'From: "Alice" <sip:1000@127.0.1.1>;tag=001122334455abcd-2',
    'To: <sip:1001@127.0.1.1>',
    'Call-ID: 00112233-44550002-cccc-dddd@198.51.100.7',
    'Max-Forwards: 70',
    'CSeq: 101 INVITE',
    'User-Agent: Cisco-CP8865/14.2.1',
    'Contact: <sip:1000@198.51.100.7:51234;transport=tls>;+u.sip!devicename.ccm.cisco.com="SEP001122334455"',
    'Expires: 180',
    'Allow: ACK,BYE,CANCEL,INVITE,NOTIFY,OPTIONS,REFER,REGISTER,UPDATE,SUBSCRIBE,INFO',
    'Content-Type: application/sdp',
    'Content-Length: X',
  ],
  SDP_PHONE_OFFER,
);

export const REMOTECC_BODY = [
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<x-cisco-remotecc-request>',
  '  <softkeyeventmsg>',
  '    <softkeyevent>Conference</softkeyevent>',
  '    <dialogid><callid>00112233-44550002-cccc-dddd@198.51.100.7</callid><localtag>001122334455abcd-2</localtag><remotetag>77-1</remotetag></dialogid>',
  '    <linenumber>0</linenumber><participantnum>0</participantnum>',
  '  </softkeyeventmsg>',
  '</x-cisco-remotecc-request>',
  '',
].join('\r\n');

export const REFER = crlf(
  [
    'REFER sip:127.0.1.1 SIP/2.0',
    'v: SIP/2.0/TLS 198.51.100.7:51234;branch=z9hG4bK77ee88ff',
    'f: <sip:1000@127.0.1.1>;tag=001122334455abcd-9',
    't: <sip:127.0.1.1>',
    'i: 00112233-44550009-eeee-ffff@198.51.100.7',
    'CSeq: 1000 REFER',
    'm: <sip:1000@198.51.100.7:51234;transport=tls>',
    'r: <urn:X-cisco-remotecc:conference>',
    'c: application/x-cisco-remotecc-request+xml',
    'Expires: 10',
    'l: X',
  ],
  REMOTECC_BODY,
);

export function withBody(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

/** UCM's answer to an INVITE, with the Cisco headers UCM adds. */
export const UCM_200 = crlf(
  [
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/TCP 127.0.2.1:41000;branch=z9hG4bKpp0123456789abcdef01234567',
    'Via: SIP/2.0/TLS 198.51.100.7:51234;branch=z9hG4bK00aa11bb',
    'From: "Alice" <sip:1000@127.0.1.1>;tag=001122334455abcd-2',
    'To: <sip:1001@127.0.1.1>;tag=123456~0e4c5b6a-7a2d-4b0e-9b55-1f0e0d2c3b4a-12345678',
    'Date: Sat, 21 Nov 2026 13:00:01 GMT',
    'Call-ID: 00112233-44550002-cccc-dddd@198.51.100.7',
    'CSeq: 101 INVITE',
    'Allow: INVITE, OPTIONS, INFO, BYE, CANCEL, ACK, PRACK, UPDATE, REFER, SUBSCRIBE, NOTIFY',
    'Allow-Events: presence',
    'Supported: replaces',
    'Server: Cisco-CUCM15.0',
    'Call-Info: <urn:x-cisco-remotecc:callinfo>; security= Unknown; orientation= to; gci= 1-1234; isVoip; call-instance= 1',
    'Send-Info: conference, x-cisco-conference',
    'Session-ID: 0e4c5b6a7a2d4b0e9b551f0e0d2c3b4a;remote=00000000000000000000000000000000',
    'Remote-Party-ID: "Bob" <sip:1001@127.0.2.20>;party=called;screen=no;privacy=off',
    'Contact: <sip:1001@127.0.2.20:5060;transport=tcp>;+u.sip!devicename.ccm.cisco.com="SEP0011223344AA"',
    'Content-Type: application/sdp',
    'Content-Length: X',
  ],
  'v=0\r\no=CiscoSystemsCCM-SIP 123456 1 IN IP4 127.0.2.20\r\ns=SIP Call\r\nc=IN IP4 10.1.1.30\r\nb=TIAS:64000\r\nb=AS:64\r\nt=0 0\r\nm=audio 24600 RTP/AVP 0 101\r\nb=TIAS:64000\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n',
);

/** UCM's NOTIFY carrying a remotecc response body (conference seed). */
export const NOTIFY_REMOTECC = crlf(
  [
    'NOTIFY sip:1000@127.0.2.1:41000;transport=tcp SIP/2.0',
    'Via: SIP/2.0/TCP 127.0.2.20:5060;branch=z9hG4bK1f2e3d4c5b',
    'From: <sip:1000@127.0.2.20>;tag=987654321',
    'To: <sip:1000@127.0.1.1>;tag=001122334455abcd-9',
    'Call-ID: 00112233-44550009-eeee-ffff@198.51.100.7',
    'CSeq: 101 NOTIFY',
    'Max-Forwards: 70',
    'Event: refer',
    'Subscription-State: terminated;reason=timeout',
    'Contact: <sip:1000@127.0.2.20:5060;transport=tcp>',
    'Content-Type: application/x-cisco-remotecc-response+xml',
    'Content-Length: X',
  ],
  '<?xml version="1.0" encoding="UTF-8"?>\r\n<x-cisco-remotecc-response>\r\n <response>\r\n  <code>200</code>\r\n  <reason>OK</reason>\r\n </response>\r\n</x-cisco-remotecc-response>\r\n',
);
