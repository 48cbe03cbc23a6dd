import {
  canonicalName,
  getHeader,
  makeResponse,
  parseCSeq,
  parseSipMessage,
  serializeSipMessage,
} from '../../src/sip/message';
import { INVITE, REFER, REGISTER } from './corpus';

describe('SIP message codec', () => {
  it('round-trips Cisco messages byte for byte', () => {
    for (const text of [REGISTER, INVITE])
      expect(serializeSipMessage(parseSipMessage(Buffer.from(text))).toString()).toBe(text);
  });

  it('understands compact header names and keeps the body bytes', () => {
    const msg = parseSipMessage(Buffer.from(REFER));
    expect(getHeader(msg, 'call-id')).toBe('00112233-44550009-eeee-ffff@198.51.100.7');
    expect(getHeader(msg, 'content-type')).toBe('application/x-cisco-remotecc-request+xml');
    expect(parseCSeq(msg)).toEqual({ seq: 1000, method: 'REFER' });
    expect(canonicalName('v')).toBe('via');
    const out = serializeSipMessage(msg);
    expect(out.subarray(out.indexOf('\r\n\r\n') + 4).equals(msg.body)).toBe(true);
  });

  it('unfolds continuation lines', () => {
    const msg = parseSipMessage(
      Buffer.from(
        'OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP a;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1\r\n OPTIONS\r\nl: 0\r\n\r\n',
      ),
    );
    expect(parseCSeq(msg)).toEqual({ seq: 1, method: 'OPTIONS' });
  });

  it.each([
    ['a bad start line', 'HELLO\r\nl: 0\r\n\r\n', /bad start line/],
    ['no Call-ID', 'OPTIONS sip:a SIP/2.0\r\nVia: x\r\nCSeq: 1 OPTIONS\r\n\r\n', /missing call-id/],
    ['a bad CSeq', 'OPTIONS sip:a SIP/2.0\r\nVia: x\r\nCall-ID: a\r\nCSeq: one\r\n\r\n', /bad CSeq/],
    ['a header without a name', 'OPTIONS sip:a SIP/2.0\r\n: x\r\n\r\n', /line 2: header without a name/],
  ])('refuses %s with where and what', (_n, text, reason) => {
    expect(() => parseSipMessage(Buffer.from(text))).toThrow(reason);
  });

  it('fixes Content-Length when the body changes and builds responses from requests', () => {
    const msg = parseSipMessage(Buffer.from(INVITE));
    msg.body = Buffer.from('v=0\r\n');
    expect(serializeSipMessage(msg).toString()).toContain('Content-Length: 5\r\n');
    const resp = serializeSipMessage(makeResponse(msg, 488, 'Not Acceptable Here')).toString();
    expect(
      resp.startsWith(
        'SIP/2.0 488 Not Acceptable Here\r\nVia: SIP/2.0/TLS 198.51.100.7:51234;branch=z9hG4bK00aa11bb\r\n',
      ),
    ).toBe(true);
    expect(resp).toContain('CSeq: 101 INVITE\r\n');
  });
});
