import { applianceVia, isApplianceVia, sameHostPort, setUriHostPort, uriHostPort } from '../../src/sip/uri';

describe('SIP URI and Via helpers', () => {
  it('reads host:port with transport defaults', () => {
    expect(uriHostPort('<sip:1000@10.0.0.1:5070;transport=tcp>')).toEqual({
      host: '10.0.0.1',
      port: 5070,
      explicitPort: true,
    });
    expect(uriHostPort('sips:1000@example.com')).toEqual({ host: 'example.com', port: 5061, explicitPort: false });
    expect(uriHostPort('<sip:10.0.0.1;transport=tls>')).toMatchObject({ port: 5061 });
    expect(sameHostPort(uriHostPort('sip:127.0.1.1'), { host: '127.0.1.1', port: 15061 })).toBe(true);
  });

  it('rewrites host:port and transport, keeps user, params and header params, and drops sips: toward TCP', () => {
    expect(
      setUriHostPort(
        '"A" <sip:1000@198.51.100.7:51234;transport=tls>;expires=60',
        { host: '127.0.2.1', port: 40000 },
        'tcp',
      ),
    ).toBe('"A" <sip:1000@127.0.2.1:40000;transport=tcp>;expires=60');
    expect(setUriHostPort('<sip:1000@198.51.100.7;user=phone>', { host: 'h', port: 1 }, 'tls')).toBe(
      '<sip:1000@h:1;transport=tls;user=phone>',
    );
    expect(setUriHostPort('<sips:1000@198.51.100.7>', { host: 'h', port: 1 }, 'tcp')).toBe(
      '<sip:1000@h:1;transport=tcp>',
    );
    expect(setUriHostPort('<sips:1000@198.51.100.7>', { host: 'h', port: 1 }, 'tls')).toBe(
      '<sips:1000@h:1;transport=tls>',
    );
  });

  it("derives the appliance's Via branch from the request's, the same for a retransmission", () => {
    const a = applianceVia('tcp', { host: '127.0.2.1', port: 4000 }, 'SIP/2.0/TLS 1.2.3.4:5061;branch=z9hG4bKabc');
    expect(a).toBe(
      applianceVia('tcp', { host: '127.0.2.1', port: 4000 }, 'SIP/2.0/TLS 1.2.3.4:5061;branch=z9hG4bKabc'),
    );
    expect(a).toMatch(/^SIP\/2\.0\/TCP 127\.0\.2\.1:4000;branch=z9hG4bKpp[0-9a-f]{24}$/);
    expect(isApplianceVia(a)).toBe(true);
    expect(isApplianceVia('SIP/2.0/TLS 1.2.3.4:5061;branch=z9hG4bKabc')).toBe(false);
  });
});
