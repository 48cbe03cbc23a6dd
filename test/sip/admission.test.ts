/**
 * Issue 12, end to end with real sockets: two phones over mutual TLS, the appliance with the
 * real media service (8 port pairs per address, 30 s quarantine, 1 s idle timeout), and a
 * scripted UCM on TCP. One phone's INVITE flood answered 404 leaves ports for the other phone;
 * a call held for 3× the idle timeout resumes with audio both ways; a session released under a
 * live call is re-created by the next re-INVITE; offers media termination cannot serve get a
 * 488 with a reason instead of silence.
 */

import { randomBytes } from 'node:crypto';
import { createMediaService, type MediaService } from '../../src/media/service';
import { createTlsProxyService, type TlsProxyService } from '../../src/tls/service';
import { serve } from '../support/serve';
import { connectPhone, type Harness, harness, ScriptedUcm, type SipPeer, sleep, until } from '../tls/harness';
import { audioSdp, header, MediaEndpoint, mediaOf, request, respond, sdpOf } from './sip-helpers';

const PORT = 25961;
const UCM_TCP = 25960;
const UCM_TLS = 25962;
const MEDIA_MIN = 62700;
/** 8 RTP/RTCP pairs per media-termination address: a flood would exhaust them quickly. */
const MEDIA_MAX = 62715;
const PER_PHONE = 4;

let h: Harness;
let media: MediaService;
let service: TlsProxyService;
const ucm = new ScriptedUcm();
/** The flooding phone (SEP001122334455) and the legitimate one (SEP0011223344AA). */
let flooder: SipPeer;
let legit: SipPeer;
let ucmForFlooder: SipPeer;
let ucmForLegit: SipPeer;
const endpoints: MediaEndpoint[] = [];

beforeAll(async () => {
  h = await harness({ mode: 'nonsecure', port: PORT, ucmTcpPort: UCM_TCP, ucmTlsPort: UCM_TLS, mediaPort: MEDIA_MIN });
  const mt = h.ctx.loaded.policy['media-termination'];
  mt['rtp-max-port'] = MEDIA_MAX;
  mt['idle-timeout'] = 1;
  await ucm.start(UCM_TCP, UCM_TLS, h.pki.ucm, h.ctx.state.ldcIssuer?.certPem ?? '');
  // The default 30 s quarantine: a pool that quarantined unused pairs would starve here.
  media = createMediaService(h.ctx, { workers: 1, maxSessionsPerPhone: PER_PHONE });
  await serve(media, h.ctx.control);
  service = createTlsProxyService(h.ctx, { media, phones: { get: () => ({ originalMode: 'encrypted' }) } });
  await serve(service, h.ctx.control);
  flooder = await connectPhone(PORT, h.pki.phone);
  ucmForFlooder = await ucm.peer(0);
  legit = await connectPhone(PORT, h.pki.phone2);
  ucmForLegit = await ucm.peer(1);
}, 30_000);

afterAll(async () => {
  flooder?.sock.destroy();
  legit?.sock.destroy();
  for (const e of endpoints) e.close();
  await service?.stop();
  await media?.stop();
  await ucm.stop();
  h?.cleanup();
});

async function endpoint(address: string): Promise<{ e: MediaEndpoint; port: number }> {
  const e = new MediaEndpoint(address);
  endpoints.push(e);
  return { e, port: await e.bind() };
}

function dialogOf(callId: string, ext: string) {
  return {
    from: `<sip:${ext}@127.0.1.1>;tag=${callId}`,
    to: '<sip:2000@127.0.1.1>',
    callId,
    contact: `<sip:${ext}@127.0.1.100:5061;transport=tls>`,
  };
}

const uri = `sip:2000@127.0.1.1:${PORT};transport=tls`;
const pools = () => media.pools().map((p) => p.pool.stats());
const counted = async (reason: string) =>
  Number(
    new RegExp(`phone_proxy_sip_errors_total\\{reason="${reason}"\\} (\\d+)`).exec(
      await h.ctx.metrics.metrics(),
    )?.[1] ?? 0,
  );

/** INVITE from the phone, 200 from UCM, ACK: returns what each side was told and the media endpoints. */
async function establish(phone: SipPeer, ucmSide: SipPeer, callId: string) {
  const phoneKey = randomBytes(30);
  const phoneRtp = await endpoint('127.0.1.101');
  const ucmRtp = await endpoint('127.0.2.31');
  const dialog = dialogOf(callId, '1000');
  const offer = (direction = 'sendrecv') =>
    audioSdp({ address: '127.0.1.101', port: phoneRtp.port, proto: 'RTP/SAVP', key: phoneKey, direction });
  const answer = (direction = 'sendrecv') =>
    audioSdp({ address: '127.0.2.31', port: ucmRtp.port, proto: 'RTP/AVP', direction });
  let cseq = 1;
  /** One offer/answer exchange in the call (INVITE or re-INVITE) up to the 200 at the phone. */
  const exchange = async (phoneDirection: string, ucmDirection: string) => {
    const n = cseq++;
    const to = n === 1 ? dialog.to : `${dialog.to};tag=u-${callId}`;
    phone.send(
      request(
        'INVITE',
        uri,
        { ...dialog, to, via: `SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bK${callId}${n}`, cseq: n },
        offer(phoneDirection),
      ),
    );
    const atUcm = await ucmSide.waitFor(
      (m) => m.startsWith('INVITE') && m.includes(callId) && m.includes(`CSeq: ${n} `),
      `INVITE ${n} of ${callId} at UCM`,
    );
    ucmSide.send(
      respond(atUcm, 200, 'OK', {
        toTag: `u-${callId}`,
        contact: `<sip:2000@127.0.2.20:${UCM_TCP};transport=tcp>`,
        body: answer(ucmDirection),
      }),
    );
    const ok = await phone.waitFor(
      (m) => m.startsWith('SIP/2.0 200') && m.includes(callId) && m.includes(`CSeq: ${n} INVITE`),
      `200 ${n} of ${callId} at phone`,
    );
    phone.send(
      request('ACK', uri, {
        ...dialog,
        to: `${dialog.to};tag=u-${callId}`,
        via: `SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bK${callId}a${n}`,
        cseq: n,
      }),
    );
    return { inside: mediaOf(sdpOf(atUcm)), outside: mediaOf(sdpOf(ok)) };
  };
  const first = await exchange('sendrecv', 'sendrecv');
  phoneRtp.e.secure(phoneKey, first.outside.key as Buffer);
  return { phoneRtp: phoneRtp.e, ucmRtp: ucmRtp.e, exchange, ...first };
}

let words = 0;
/** RTP both ways through the legs the phone and UCM were last told about. */
async function audioBothWays(
  c: { phoneRtp: MediaEndpoint; ucmRtp: MediaEndpoint },
  outside: { address: string; port: number },
  inside: { address: string; port: number },
) {
  const n = ++words;
  const deadline = Date.now() + 5000;
  // The first packets of a re-created session may race its answer; resend until both arrive.
  while (Date.now() < deadline) {
    c.phoneRtp.send(Buffer.from(`phone-${n}`), outside, 0x1111);
    c.ucmRtp.send(Buffer.from(`ucm-${n}`), inside, 0x2222);
    await sleep(50);
    if (c.ucmRtp.payloads().includes(`phone-${n}`) && c.phoneRtp.payloads().includes(`ucm-${n}`)) return;
  }
  throw new Error(
    `no audio both ways (round ${n}): UCM got ${c.ucmRtp.payloads().slice(-3)}, phone got ${c.phoneRtp.payloads().slice(-3)}`,
  );
}

describe('issue 12: media admission through the SIP inspector', () => {
  it("one phone's INVITE flood (answered 404) leaves ports for a legitimate phone", async () => {
    const key = randomBytes(30);
    const offer = audioSdp({ address: '127.0.1.100', port: 40000, proto: 'RTP/SAVP', key });
    const flood = async (round: number, count: number) => {
      for (let i = 0; i < count; i++) {
        const callId = `flood-${round}-${i}`;
        flooder.send(
          request(
            'INVITE',
            'sip:2000@127.0.1.1',
            { ...dialogOf(callId, '1000'), via: `SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bK${callId}`, cseq: 1 },
            offer,
          ),
        );
      }
    };
    // Round 1, 20 INVITEs at once: the phone's cap lets 4 through, the others get 486 with a reason.
    await flood(1, 20);
    const through: string[] = [];
    for (let i = 0; i < PER_PHONE; i++)
      through.push(
        await ucmForFlooder.waitFor((m) => m.startsWith('INVITE') && m.includes('flood-1-'), 'a flood INVITE at UCM'),
      );
    const busy: string[] = [];
    for (let i = 0; i < 20 - PER_PHONE; i++)
      busy.push(
        await flooder.waitFor((m) => m.startsWith('SIP/2.0 486 Busy Here'), `486 #${i + 1} at the flooding phone`),
      );
    expect(header(busy[0] as string, 'Warning')).toMatch(
      /^399 127\.0\.1\.1 "media allocation failed: media: phone SEP001122334455 has 4 sessions, the most allowed \(call flood-1-\d+\)"$/,
    );
    expect(media.errors.get('phone-cap')).toBe(20 - PER_PHONE);
    expect(await counted('media-admission')).toBe(20 - PER_PHONE);

    // While the flood holds its 4 sessions, the other phone calls, with audio both ways.
    const call = await establish(legit, ucmForLegit, 'legit-1');
    await audioBothWays(call, call.outside, call.inside);

    // UCM answers the flood 404: those calls never had media, so their pairs are free at once.
    for (const m of through) ucmForFlooder.send(respond(m, 404, 'Not Found', { toTag: 'nf' }));
    await until(() => media.sessions().length === 1, 'flood sessions released');
    // Their sockets close with the worker's next request or within a few ms (releaseLater).
    await until(() => pools().every((p) => p.inUse === 1), 'flood pairs back in the pools');
    expect(pools().map((p) => [p.inUse, p.quarantined])).toEqual([
      [1, 0],
      [1, 0],
    ]);

    // More rounds than the pool has pairs (3 × 4 = 12 calls > 7 free pairs): with unused pairs
    // in quarantine for 30 s the pool would run dry; it does not.
    for (let round = 2; round <= 4; round++) {
      await flood(round, PER_PHONE);
      for (let i = 0; i < PER_PHONE; i++) {
        const m = await ucmForFlooder.waitFor(
          (x) => x.startsWith('INVITE') && x.includes(`flood-${round}-`),
          `flood round ${round} at UCM`,
        );
        ucmForFlooder.send(respond(m, 404, 'Not Found', { toTag: 'nf' }));
      }
      for (let i = 0; i < PER_PHONE; i++)
        await flooder.waitFor(
          (x) => x.startsWith('SIP/2.0 404') && x.includes(`flood-${round}-`),
          `404 of round ${round} at the phone`,
        );
      await until(() => media.sessions().length === 1, `round ${round} released`);
    }
    const second = await establish(legit, ucmForLegit, 'legit-2');
    await audioBothWays(second, second.outside, second.inside);
    expect(media.errors.get('ports-exhausted')).toBeUndefined();
    expect(pools().every((p) => p.quarantined === 0 && p.reusedEarly === 0)).toBe(true);
    // Both legitimate calls end; their pairs heard packets and wait in quarantine.
    for (const id of media.sessions().map((s) => s.id)) await media.release(id, 'test');
    expect(pools().map((p) => p.quarantined)).toEqual([2, 2]);
  }, 30_000);

  it('a call held 3× the idle timeout resumes with audio both ways; a session cleared under the call comes back', async () => {
    const call = await establish(legit, ucmForLegit, 'hold-1');
    await audioBothWays(call, call.outside, call.inside);
    const id = media.sessions().find((s) => s.callId === 'hold-1')?.id;
    expect(id).toBeDefined();

    // Hold: the phone offers sendonly, UCM answers recvonly; then nothing flows for 3 s.
    const held = await call.exchange('sendonly', 'recvonly');
    expect(held.outside).toEqual(call.outside);
    const idleBefore = media.releases.get('idle-timeout') ?? 0;
    await sleep(3 * 1000 + 300);
    expect(media.sessions().map((s) => s.id)).toContain(id);
    expect(media.releases.get('idle-timeout') ?? 0).toBe(idleBefore);

    // Resume: the same session, audio both ways again.
    const resumed = await call.exchange('sendrecv', 'sendrecv');
    expect(resumed.outside).toEqual(call.outside);
    expect(resumed.inside).toEqual(call.inside);
    await audioBothWays(call, resumed.outside, resumed.inside);

    // The operator clears the session under the live call: the next re-INVITE re-creates it
    // (new ports, same keys) rather than going unanswered.
    const clear = h.ctx.control.findClear(['phone-proxy', 'media-sessions', id as string]);
    await clear?.item.run(clear.args);
    expect(media.sessions().map((s) => s.id)).not.toContain(id);
    const again = await call.exchange('sendrecv', 'sendrecv');
    expect(media.sessions().filter((s) => s.callId === 'hold-1')).toHaveLength(1);
    expect(again.outside.key).toEqual(call.outside.key);
    await audioBothWays(call, again.outside, again.inside);
    expect(await counted('media-recreated')).toBe(1);
    for (const s of media.sessions()) await media.release(s.id, 'test');
  }, 30_000);

  it('an offer with IN IP6 or a MESSAGE with SDP gets a 488 with the reason, and no media session', async () => {
    const key = randomBytes(30);
    const v6 = audioSdp({ address: '127.0.1.100', port: 40000, proto: 'RTP/SAVP', key }).replaceAll(
      'IN IP4 127.0.1.100',
      'IN IP6 ::1',
    );
    legit.send(
      request(
        'INVITE',
        'sip:2000@127.0.1.1',
        { ...dialogOf('v6-1', '1000'), via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKv6', cseq: 1 },
        v6,
      ),
    );
    const refused = await legit.waitFor(
      (m) => m.startsWith('SIP/2.0 488') && m.includes('v6-1'),
      '488 to the IPv6 offer',
    );
    expect(header(refused, 'Warning')).toBe(
      `399 127.0.1.1 "unsupported c= address type 'IN IP6' (media termination is IPv4 only)"`,
    );
    const message = request(
      'MESSAGE',
      'sip:2000@127.0.1.1',
      { ...dialogOf('msg-1', '1000'), via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKmsg', cseq: 1 },
      audioSdp({ address: '127.0.1.100', port: 40000, proto: 'RTP/SAVP', key }),
    );
    legit.send(message);
    const no = await legit.waitFor((m) => m.startsWith('SIP/2.0 488') && m.includes('msg-1'), '488 to the MESSAGE');
    expect(header(no, 'Warning')).toContain('SDP in MESSAGE');
    await sleep(100);
    expect(ucmForLegit.messages.some((m) => m.includes('v6-1') || m.includes('msg-1'))).toBe(false);
    expect(media.sessions()).toHaveLength(0);
    expect(await counted('sdp-method')).toBe(1);
    const view = h.ctx.control.findShow(['phone-proxy', 'signaling-sessions']);
    const signaling = (await view?.item.render([]))?.data as { callId: string }[] | undefined;
    // The refused offer set up no call (the earlier tests' calls are still in their dialogs).
    expect(signaling?.map((s) => s.callId)).toEqual(['legit-1', 'legit-2', 'hold-1']);
  });
});
