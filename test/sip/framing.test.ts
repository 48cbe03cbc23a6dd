import { SipFramingError } from '../../src/errors';
import { SipFramer } from '../../src/sip/framing';
import { INVITE, REFER, REGISTER } from './corpus';

describe('SipFramer', () => {
  it('frames messages split at every byte and glued together', () => {
    const stream = Buffer.from(REGISTER + INVITE + REFER);
    const framer = new SipFramer();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) {
      for (const item of framer.push(stream.subarray(i, i + 1))) if (item.kind === 'message') out.push(item.data);
    }
    expect(out.map((b) => b.toString())).toEqual([REGISTER, INVITE, REFER]);
    expect(framer.pending).toBe(0);
  });

  it('uses the compact Content-Length form (l:)', () => {
    const items = new SipFramer().push(Buffer.from(REFER));
    expect(items).toHaveLength(1);
    expect(items[0]?.kind === 'message' && items[0].data.toString().endsWith('</x-cisco-remotecc-request>\r\n')).toBe(
      true,
    );
  });

  it('reports RFC 5626 keep-alive pings and pongs between messages', () => {
    const framer = new SipFramer();
    const kinds = framer.push(Buffer.from(`\r\n\r\n${REGISTER}\r\n`)).map((i) => i.kind);
    expect(kinds).toEqual(['ping', 'message']);
    // a lone CRLF could still be the start of a ping
    expect(framer.push(Buffer.from('X')).map((i) => i.kind)).toEqual(['pong']);
  });

  it.each([
    ['a missing Content-Length', 'OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n\r\n', /no Content-Length/],
    ['a bad Content-Length', 'OPTIONS sip:x SIP/2.0\r\nContent-Length: 1x\r\n\r\n', /invalid Content-Length/],
    ['conflicting lengths', 'OPTIONS sip:x SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\n', /conflicting/],
    ['garbage', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', /not a SIP start line/],
    ['a huge body', 'OPTIONS sip:x SIP/2.0\r\nContent-Length: 999999\r\n\r\n', /exceeds/],
  ])('refuses %s', (_name, text, reason) => {
    expect(() => new SipFramer().push(Buffer.from(text))).toThrow(reason);
  });

  it('refuses endless headers', () => {
    const framer = new SipFramer({ maxHeaderBytes: 100, maxBodyBytes: 100 });
    expect(() => framer.push(Buffer.from(`OPTIONS sip:x SIP/2.0\r\n${'X-A: b\r\n'.repeat(30)}`))).toThrow(
      SipFramingError,
    );
  });
});
