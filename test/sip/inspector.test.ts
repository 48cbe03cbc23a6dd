/**
 * SIP inspector as a pure state machine (unit: in-memory pipe, a recording media allocator):
 * release on transaction timeout and final errors, 488 when no SDES line is usable, framing
 * errors close only that connection, keep-alives answered locally; issue 12: which messages may
 * allocate media, refusals answered with a reason, sessions re-created after a release.
 */
import pino from 'pino';
import { decideLegs } from '../../src/contracts/leg-decision';
import type { MediaAllocator } from '../../src/contracts/media';
import type { InspectedConnection } from '../../src/contracts/signaling';
import { SipInspector } from '../../src/sip/inspector';
import { audioSdp, request, respond } from './sip-helpers';

function setup(over: Partial<MediaAllocator> = {}, connOver: Partial<InspectedConnection> = {}) {
  const calls: string[] = [];
  let next = 1;
  const base: MediaAllocator = {
    allocate: async ({ callId }) => {
      calls.push(`allocate ${callId}`);
      const id = `m${next++}`;
      return {
        id,
        outside: { address: '127.0.1.11', rtpPort: 30000, rtcpPort: 30001 },
        inside: { address: '127.0.2.11', rtpPort: 30002, rtcpPort: 30003 },
      };
    },
    updateLeg: async (id, leg, u) => {
      calls.push(
        `update ${id} ${leg} ${u.mode}${u.srtp ? ` ${u.srtp.profile}` : ''}${u.peer ? ` ${u.peer.address}:${u.peer.rtpPort}` : ''}`,
      );
    },
    release: async (id, reason) => {
      calls.push(`release ${id} ${reason}`);
    },
  };
  const media: MediaAllocator = { ...base, ...over };
  const toPhone: string[] = [];
  const toUpstream: string[] = [];
  const closed: string[] = [];
  const logLines: string[] = [];
  const errors: string[] = [];
  const conn: InspectedConnection = {
    id: 1,
    deviceName: 'SEP001122334455',
    decision: decideLegs('nonsecure', undefined),
    phone: { address: '198.51.100.7', port: 40000 },
    outsideLocal: { address: '127.0.1.1', port: 5061 },
    upstream: { address: '127.0.2.20', port: 5060, transport: 'tcp' },
    insideLocal: { address: '127.0.2.1', port: 41000 },
    outsideInterface: 'outside',
    insideInterface: 'inside',
    ...connOver,
  };
  const inspector = new SipInspector(
    conn,
    {
      toPhone: (d) => toPhone.push(d.toString()),
      toUpstream: (d) => toUpstream.push(d.toString()),
      close: (r) => closed.push(r),
    },
    {
      media: () => media,
      log: pino({ level: 'debug' }, { write: (s: string) => void logLines.push(s) }),
      counters: { error: (r) => errors.push(r), message: () => undefined },
      randomBytes: (n) => Buffer.alloc(n, 9),
    },
  );
  const flush = () => new Promise((r) => setTimeout(r, 10));
  return { inspector, calls, toPhone, toUpstream, closed, logLines, errors, flush };
}

const KEY = Buffer.alloc(30, 1);
const invite = (callId: string, sdp: string) =>
  request(
    'INVITE',
    'sip:1001@127.0.1.1',
    {
      via: 'SIP/2.0/TLS 198.51.100.7:40000;branch=z9hG4bKa',
      callId,
      cseq: 1,
      from: '<sip:1000@x>;tag=a',
      to: '<sip:1001@x>',
    },
    sdp,
  );

describe('SipInspector', () => {
  it('programs the outside leg from the phone offer (SRTP, its key) and the inside leg from the answer (RTP)', async () => {
    const t = setup();
    t.inspector.fromPhone(
      Buffer.from(invite('c1', audioSdp({ address: '198.51.100.7', port: 7000, proto: 'RTP/SAVP', key: KEY }))),
    );
    await t.flush();
    t.inspector.fromUpstream(
      Buffer.from(
        respond(t.toUpstream[0] as string, 200, 'OK', {
          toTag: 'b',
          body: audioSdp({ address: '10.0.0.30', port: 9000, proto: 'RTP/AVP' }),
        }),
      ),
    );
    await t.flush();
    expect(t.calls).toEqual([
      'allocate c1',
      'update m1 outside srtp AES_CM_128_HMAC_SHA1_80 198.51.100.7:7000',
      'update m1 inside rtp 10.0.0.30:9000',
    ]);
    expect(t.toPhone[0]).toContain(
      `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.alloc(30, 9).toString('base64')}`,
    );
  });

  it('releases media when the INVITE transaction times out (Timer B) and when ringing never ends (Timer C)', async () => {
    const t = setup();
    const sdp = audioSdp({ address: '198.51.100.7', port: 7000, proto: 'RTP/SAVP', key: KEY });
    t.inspector.fromPhone(Buffer.from(invite('c2', sdp)));
    await t.flush();
    t.inspector.tick(1000); // the timer starts with the first tick after the INVITE
    t.inspector.tick(32_000);
    await t.flush();
    expect(t.calls).not.toContain('release m1 transaction timeout');
    t.inspector.tick(34_000);
    await t.flush();
    expect(t.calls).toContain('release m1 transaction timeout');
    expect(t.inspector.sessions()).toEqual([]);

    // Ringing (180 received) gets Timer C: minutes, not 32 s.
    t.inspector.fromPhone(Buffer.from(invite('c2b', sdp)));
    await t.flush();
    t.inspector.fromUpstream(Buffer.from(respond(t.toUpstream.at(-1) as string, 180, 'Ringing', { toTag: 'r' })));
    await t.flush();
    t.inspector.tick(40_000);
    t.inspector.tick(200_000);
    await t.flush();
    expect(t.inspector.sessions()).toEqual([
      { protocol: 'SIP', phone: 'SEP001122334455', callId: 'c2b', state: 'early', mediaSession: 'm2' },
    ]);
    t.inspector.tick(221_000);
    await t.flush();
    expect(t.calls.at(-1)).toBe('release m2 transaction timeout');
  });

  it('releases media on a final error to the initial INVITE, not on one to a re-INVITE', async () => {
    const t = setup();
    const sdp = audioSdp({ address: '198.51.100.7', port: 7000, proto: 'RTP/SAVP', key: KEY });
    t.inspector.fromPhone(Buffer.from(invite('c3', sdp)));
    await t.flush();
    t.inspector.fromUpstream(
      Buffer.from(
        respond(t.toUpstream[0] as string, 200, 'OK', {
          toTag: 'b',
          body: audioSdp({ address: '10.0.0.30', port: 9000, proto: 'RTP/AVP' }),
        }),
      ),
    );
    await t.flush();
    const reinvite = invite('c3', sdp).replace('CSeq: 1 INVITE', 'CSeq: 2 INVITE');
    t.inspector.fromPhone(Buffer.from(reinvite));
    await t.flush();
    t.inspector.fromUpstream(
      Buffer.from(respond(t.toUpstream.at(-1) as string, 491, 'Request Pending', { toTag: 'b' })),
    );
    await t.flush();
    expect(t.calls.some((c) => c.startsWith('release'))).toBe(false);
    expect(t.inspector.sessions()[0]?.state).toBe('confirmed');

    const t2 = setup();
    t2.inspector.fromPhone(Buffer.from(invite('c3b', sdp)));
    await t2.flush();
    t2.inspector.fromUpstream(Buffer.from(respond(t2.toUpstream[0] as string, 486, 'Busy Here', { toTag: 'b' })));
    await t2.flush();
    expect(t2.calls.at(-1)).toBe('release m1 final response 486');
    // A late answer for the ended call allocates nothing and is not forwarded.
    const sent = t2.toPhone.length;
    t2.inspector.fromUpstream(
      Buffer.from(
        respond(t2.toUpstream[0] as string, 200, 'OK', {
          toTag: 'b',
          body: audioSdp({ address: '10.0.0.30', port: 9000, proto: 'RTP/AVP' }),
        }),
      ),
    );
    await t2.flush();
    expect(t2.calls.filter((c) => c.startsWith('allocate'))).toHaveLength(1);
    expect(t2.toPhone.length).toBe(sent);
  });

  it('answers 488 (not forwarded) when no a=crypto line is usable, saying why', async () => {
    const t = setup();
    const sdp = audioSdp({ address: '198.51.100.7', port: 7000, proto: 'RTP/SAVP', key: KEY }).replace(
      /inline:(\S+)/,
      'inline:$1|2^20|1:4',
    );
    t.inspector.fromPhone(Buffer.from(invite('c4', sdp)));
    await t.flush();
    expect(t.toUpstream).toEqual([]);
    expect(t.toPhone[0]).toMatch(
      /^SIP\/2\.0 488 Not Acceptable Here\r\nVia: SIP\/2\.0\/TLS 198\.51\.100\.7:40000;branch=z9hG4bKa\r\n/,
    );
    expect(t.logLines.join('')).toContain('no usable a=crypto line (MKI \\"1:4\\" not supported)');
    expect(t.errors).toEqual(['sdp']);
  });

  it('answers keep-alive pings locally and closes on an unframable stream', async () => {
    const t = setup();
    t.inspector.fromPhone(Buffer.from('\r\n\r\n'));
    expect(t.toPhone).toEqual(['\r\n']);
    expect(t.toUpstream).toEqual([]);
    t.inspector.fromUpstream(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: nope\r\n\r\n'));
    expect(t.closed).toEqual(['SIP framing: invalid Content-Length "nope"']);
    expect(t.errors).toEqual(['framing']);
  });

  it('releases every call when the connection closes', async () => {
    const t = setup();
    t.inspector.fromPhone(
      Buffer.from(invite('c5', audioSdp({ address: '198.51.100.7', port: 7000, proto: 'RTP/SAVP', key: KEY }))),
    );
    await t.flush();
    await t.inspector.closed();
    expect(t.calls.at(-1)).toBe('release m1 connection closed');
  });

  it('decrements Max-Forwards and answers 483 at zero (RFC 3261 §16.6)', async () => {
    const t = setup();
    const opts = (mf: number) =>
      request('OPTIONS', 'sip:127.0.1.1', {
        via: 'SIP/2.0/TLS 198.51.100.7:40000;branch=z9hG4bKo',
        callId: `o${mf}`,
        cseq: 1,
        from: '<sip:a@x>;tag=1',
        to: '<sip:b@x>',
      });
    t.inspector.fromPhone(Buffer.from(opts(70)));
    t.inspector.fromPhone(Buffer.from(opts(70).replace('Max-Forwards: 70', 'Max-Forwards: 0')));
    await t.flush();
    expect(t.toUpstream).toHaveLength(1);
    expect(t.toUpstream[0]).toContain('Max-Forwards: 69\r\n');
    expect(t.toPhone[0]).toMatch(/^SIP\/2\.0 483 Too Many Hops\r\n/);
  });

  describe('issue 12: media admission', () => {
    const phoneSdp = audioSdp({ address: '198.51.100.7', port: 7000, proto: 'RTP/SAVP', key: KEY });
    const warning = (m: string | undefined) => /^Warning: (.*)$/m.exec(m ?? '')?.[1];

    it('a MESSAGE with an SDP body allocates nothing: 488 with a Warning; SDP in an OPTIONS answer is dropped', async () => {
      const t = setup();
      const message = request(
        'MESSAGE',
        'sip:1001@127.0.1.1',
        {
          via: 'SIP/2.0/TLS 198.51.100.7:40000;branch=z9hG4bKm',
          callId: 'msg1',
          cseq: 1,
          from: '<sip:1000@x>;tag=a',
          to: '<sip:1001@x>',
        },
        phoneSdp,
      );
      t.inspector.fromPhone(Buffer.from(message));
      await t.flush();
      expect(t.calls).toEqual([]);
      expect(t.toUpstream).toEqual([]);
      expect(t.toPhone[0]).toMatch(
        /^SIP\/2\.0 488 Not Acceptable Here\r\nVia: SIP\/2\.0\/TLS 198\.51\.100\.7:40000;branch=z9hG4bKm\r\n/,
      );
      expect(warning(t.toPhone[0])).toBe(
        '399 127.0.1.1 "SDP in MESSAGE: only INVITE, UPDATE, PRACK and ACK carry media offers"',
      );
      expect(t.errors).toEqual(['sdp-method']);

      const options = request('OPTIONS', 'sip:127.0.1.1', {
        via: 'SIP/2.0/TLS 198.51.100.7:40000;branch=z9hG4bKo',
        callId: 'opt1',
        cseq: 1,
        from: '<sip:1000@x>;tag=a',
        to: '<sip:127.0.1.1>',
      });
      t.inspector.fromPhone(Buffer.from(options));
      await t.flush();
      const body = audioSdp({ address: '10.0.0.30', port: 9000, proto: 'RTP/AVP' });
      t.inspector.fromUpstream(Buffer.from(respond(t.toUpstream[0] as string, 200, 'OK', { toTag: 'u', body })));
      await t.flush();
      expect(t.calls).toEqual([]);
      const ok = t.toPhone[1] as string;
      expect(ok).toMatch(/^SIP\/2\.0 200 OK\r\n/);
      expect(ok).not.toContain('10.0.0.30');
      expect(ok).not.toMatch(/content-type/i);
      expect(ok).toMatch(/Content-Length: 0\r\n\r\n$/);
      expect(t.errors).toEqual(['sdp-method', 'sdp-method']);
    });

    it.each([
      [
        'IN IP6',
        (s: string) => s.replace('c=IN IP4 198.51.100.7', 'c=IN IP6 2001:db8::7'),
        'unsupported c= address type "IN IP6" (media termination is IPv4 only)',
      ],
      [
        'a host name',
        (s: string) => s.replace('c=IN IP4 198.51.100.7', 'c=IN IP4 phone.example.com'),
        'c= address "phone.example.com" is not an IPv4 address (host names are not resolved)',
      ],
      [
        'a port over 65535',
        (s: string) => s.replace('m=audio 7000', 'm=audio 70000'),
        'audio port 70000 is not a port (1-65535)',
      ],
    ])('an offer with %s gets a 488 saying why, allocates nothing, and ends the call', async (_what, edit, reason) => {
      const t = setup();
      t.inspector.fromPhone(Buffer.from(invite('v6', edit(phoneSdp))));
      await t.flush();
      expect(t.calls).toEqual([]);
      expect(t.toUpstream).toEqual([]);
      expect(t.toPhone[0]).toMatch(/^SIP\/2\.0 488 Not Acceptable Here\r\n/);
      // The reason's own double quotes become single ones inside the Warning's quoted-string.
      expect(warning(t.toPhone[0])).toBe(`399 127.0.1.1 "${reason.replaceAll('"', "'")}"`);
      expect(t.errors).toEqual(['sdp']);
      expect(t.inspector.sessions()).toEqual([]);
    });

    it('an answer with an unsupported c= releases the session its offer allocated at once', async () => {
      const t = setup();
      t.inspector.fromPhone(Buffer.from(invite('v6b', phoneSdp)));
      await t.flush();
      const answer = audioSdp({ address: '10.0.0.30', port: 9000, proto: 'RTP/AVP' }).replace(
        'c=IN IP4 10.0.0.30',
        'c=IN IP6 fd00::30',
      );
      t.inspector.fromUpstream(
        Buffer.from(respond(t.toUpstream[0] as string, 200, 'OK', { toTag: 'b', body: answer })),
      );
      await t.flush();
      expect(t.calls.at(-1)).toBe('release m1 SDP refused');
      expect(t.inspector.sessions()).toEqual([]);
      expect(t.toPhone).toEqual([]); // an answer cannot be answered; it is not passed on either
    });

    it.each([
      ['phone-cap', 486, 'Busy Here'],
      ['connection-cap', 486, 'Busy Here'],
      ['ports-exhausted', 503, 'Service Unavailable'],
      ['global-cap', 503, 'Service Unavailable'],
    ])(
      'an allocation refused for %s is a %d with the reason, counted, and the call ends',
      async (kind, status, phrase) => {
        const asked: unknown[] = [];
        const t = setup({
          allocate: async (req) => {
            asked.push(req);
            throw Object.assign(new Error(`media: refused (${kind})`), { kind });
          },
        });
        t.inspector.fromPhone(Buffer.from(invite('cap', phoneSdp)));
        await t.flush();
        expect(t.toUpstream).toEqual([]);
        expect(t.toPhone[0]?.split('\r\n')[0]).toBe(`SIP/2.0 ${status} ${phrase}`);
        expect(warning(t.toPhone[0])).toBe(`399 127.0.1.1 "media allocation failed: media: refused (${kind})"`);
        expect(t.errors).toEqual(['media-admission']);
        expect(t.inspector.sessions()).toEqual([]);
        // Admission is told who asks: the phone by its device name, and the connection.
        expect(asked[0]).toMatchObject({ callId: 'cap', phone: 'SEP001122334455', connection: 'sip-1' });
      },
    );

    it('a leg update media termination refuses is a 500, and the session it was for is released at once', async () => {
      const t = setup({
        updateLeg: async () => {
          throw new Error('media: peer rtcpPort 65536 is not a port (1-65535)');
        },
      });
      t.inspector.fromPhone(Buffer.from(invite('upd', phoneSdp.replace('a=rtpmap:0', 'a=rtcp:65535\r\na=rtpmap:0'))));
      await t.flush();
      expect(t.toPhone[0]?.split('\r\n')[0]).toBe('SIP/2.0 500 Server Internal Error');
      expect(t.calls).toEqual(['allocate upd', 'release m1 refused']);
      expect(t.errors).toEqual(['media-update']);
    });

    it('a re-INVITE for a session released under the call re-creates it instead of going silent', async () => {
      const gone = new Set<string>();
      const t = setup({ has: (id) => !gone.has(id) });
      t.inspector.fromPhone(Buffer.from(invite('re', phoneSdp)));
      await t.flush();
      const answer = audioSdp({ address: '10.0.0.30', port: 9000, proto: 'RTP/AVP' });
      t.inspector.fromUpstream(
        Buffer.from(respond(t.toUpstream[0] as string, 200, 'OK', { toTag: 'b', body: answer })),
      );
      await t.flush();
      gone.add('m1'); // e.g. `clear phone-proxy media-sessions`
      t.inspector.fromPhone(Buffer.from(invite('re', phoneSdp).replace('CSeq: 1 INVITE', 'CSeq: 2 INVITE')));
      await t.flush();
      expect(t.calls.slice(3)).toEqual([
        'allocate re',
        'update m2 outside srtp AES_CM_128_HMAC_SHA1_80 198.51.100.7:7000',
      ]);
      expect(t.toUpstream.at(-1)).toMatch(/^INVITE /);
      expect(t.inspector.sessions()[0]).toMatchObject({ state: 'confirmed', mediaSession: 'm2' });
      expect(t.errors).toEqual(['media-recreated']);
    });

    it('tells media termination the direction of each SDP, and that the dialog lives until the call ends', async () => {
      const directions: string[] = [];
      let alive: (() => boolean) | undefined;
      const t = setup({
        setDirection: (id, d) => void directions.push(`${id} ${d}`),
        allocate: async (req) => {
          alive = req.dialogAlive;
          return {
            id: 'm9',
            outside: { address: '127.0.1.11', rtpPort: 30000, rtcpPort: 30001 },
            inside: { address: '127.0.2.11', rtpPort: 30002, rtcpPort: 30003 },
          };
        },
      });
      t.inspector.fromPhone(Buffer.from(invite('dir', phoneSdp.replace('a=sendrecv', 'a=sendonly'))));
      await t.flush();
      const answer = audioSdp({ address: '0.0.0.0', port: 9000, proto: 'RTP/AVP' });
      t.inspector.fromUpstream(
        Buffer.from(respond(t.toUpstream[0] as string, 200, 'OK', { toTag: 'b', body: answer })),
      );
      await t.flush();
      expect(directions).toEqual(['m9 sendonly', 'm9 inactive']); // c=0.0.0.0: RFC 2543 hold
      expect(alive?.()).toBe(true);
      t.inspector.fromPhone(
        Buffer.from(
          request('BYE', 'sip:1001@127.0.1.1', {
            via: 'SIP/2.0/TLS 198.51.100.7:40000;branch=z9hG4bKb',
            callId: 'dir',
            cseq: 3,
            from: '<sip:1000@x>;tag=a',
            to: '<sip:1001@x>;tag=b',
          }),
        ),
      );
      await t.flush();
      expect(alive?.()).toBe(false);
    });
  });

  it('behind a NAT (issue 13): Via, Contact, Record-Route and SDP c=/o= toward the phone name the public addresses only', async () => {
    const advertisedMedia: Partial<MediaAllocator> = {
      allocate: async () => ({
        id: 'm1',
        outside: { address: '127.0.1.11', advertised: '203.0.113.11', rtpPort: 30000, rtcpPort: 30001 },
        inside: { address: '127.0.2.11', rtpPort: 30002, rtcpPort: 30003 },
      }),
    };
    const t = setup(advertisedMedia, { outsideAdvertised: '203.0.113.1' });
    const fromUcm = request(
      'INVITE',
      'sip:1000@127.0.2.1:41000;transport=tcp',
      {
        via: 'SIP/2.0/TCP 127.0.2.20:5060;branch=z9hG4bKucm1',
        callId: 'nat1',
        cseq: 1,
        from: '<sip:1001@127.0.2.20>;tag=u',
        to: '<sip:1000@127.0.2.20>',
        contact: '<sip:1001@127.0.2.20:5060;transport=tcp>',
        extra: ['Record-Route: <sip:127.0.2.20:5060;transport=tcp;lr>'],
      },
      audioSdp({ address: '10.0.0.30', port: 9000, proto: 'RTP/AVP' }),
    );
    t.inspector.fromUpstream(Buffer.from(fromUcm));
    await t.flush();
    const seen = t.toPhone[0] as string;
    const head = seen.slice(0, seen.indexOf('\r\n\r\n'));
    expect(head).toMatch(/^Via: SIP\/2\.0\/TLS 203\.0\.113\.1:5061;branch=z9hG4bKpp/m);
    expect(head).toMatch(/^Contact: <sip:1001@203\.0\.113\.1:5061;transport=tls>/m);
    expect(head).toMatch(/^Record-Route: <sip:203\.0\.113\.1:5061;transport=tls;lr;pp-rr=0>/m);
    const sdp = seen.slice(seen.indexOf('\r\n\r\n') + 4);
    expect(sdp).toContain('c=IN IP4 203.0.113.11\r\n');
    expect(sdp).toMatch(/^o=\S+ \d+ \d+ IN IP4 203\.0\.113\.11\r$/m);
    // No bound appliance address and no inside media address reaches the phone (From/To and UCM's
    // own Via are identities a proxy leaves alone).
    expect(seen).not.toMatch(/127\.0\.1\.1[:1]|10\.0\.0\.30|127\.0\.2\.11/);

    // The phone's in-dialog request aimed at the public address is retargeted to UCM's Contact.
    t.inspector.fromPhone(
      Buffer.from(
        request('BYE', 'sip:1001@203.0.113.1:5061;transport=tls', {
          via: 'SIP/2.0/TLS 192.168.1.20:40000;branch=z9hG4bKbye',
          callId: 'nat1',
          cseq: 2,
          from: '<sip:1000@127.0.2.20>;tag=p',
          to: '<sip:1001@127.0.2.20>;tag=u',
          extra: ['Route: <sip:203.0.113.1:5061;transport=tls;lr;pp-rr=0>'],
        }),
      ),
    );
    await t.flush();
    const bye = t.toUpstream.at(-1) as string;
    expect(bye).toMatch(/^BYE sip:1001@127\.0\.2\.20:5060;transport=tcp SIP\/2\.0/);
    expect(bye).toMatch(/^Route: <sip:127\.0\.2\.20:5060;transport=tcp;lr>/m);
  });
});
