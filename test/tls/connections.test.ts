/**
 * The connection table under operator actions and abuse, with real sockets: clear by id and
 * by target, a flood of malformed SIP on one connection leaving another untouched, a slow UCM
 * that never reads (bounded queue, counted overflow, connection closed with a log line), and
 * the inactive age-out.
 */

import { createTlsProxyService, type TlsProxyService } from '../../src/tls/service';
import { request } from '../sip/sip-helpers';
import { serve } from '../support/serve';
import { connectPhone, type Harness, harness, ScriptedUcm, type SipPeer, until, within } from './harness';

const PORT = 25561;
const UCM_TCP = 25560;
const UCM_TLS = 25562;

let h: Harness;
let service: TlsProxyService;
const ucm = new ScriptedUcm();
const opened: SipPeer[] = [];

const options = (callId: string) =>
  request('OPTIONS', 'sip:127.0.1.1', {
    via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKo',
    callId,
    cseq: 1,
    from: '<sip:1000@127.0.1.1>;tag=o',
    to: '<sip:127.0.1.1>',
  });

async function phoneWithUpstream(cred = h.pki.phone): Promise<{ phone: SipPeer; up: SipPeer }> {
  const n = ucm.peers.length;
  const phone = await connectPhone(PORT, cred);
  opened.push(phone);
  const up = await ucm.peer(n);
  return { phone, up };
}

const bigMessage = (callId: string) =>
  request(
    'MESSAGE',
    'sip:127.0.1.1',
    { via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKm', callId, cseq: 1, from: '<sip:a@b>;tag=1', to: '<sip:c@d>' },
    'x'.repeat(60_000),
    'text/plain',
  );

const closedPromise = (p: SipPeer) => new Promise<void>((r) => (p.closed ? r() : p.sock.once('close', () => r())));

beforeAll(async () => {
  h = await harness({ mode: 'nonsecure', port: PORT, ucmTcpPort: UCM_TCP, ucmTlsPort: UCM_TLS, mediaPort: 62400 });
  await ucm.start(UCM_TCP, UCM_TLS, h.pki.ucm, h.ctx.state.ldcIssuer?.certPem ?? '');
  service = createTlsProxyService(h.ctx, {
    maxSendQueueBytes: 256 * 1024,
    idleTimeoutMs: 3000,
    tickMs: 200,
  });
  await serve(service, h.ctx.control);
}, 30_000);

afterAll(async () => {
  for (const p of opened) p.sock.destroy();
  await service?.stop();
  await ucm.stop();
  h?.cleanup();
});

const clear = (args: string[]) =>
  h.ctx.control.findClear(['tls-proxy', 'connection', ...args])?.item.run(args.slice(0));

describe('clear tls-proxy connection', () => {
  it('clears by id, leaving the others', async () => {
    const a = await phoneWithUpstream();
    const b = await phoneWithUpstream(h.pki.phone2);
    const rows = service.table.list();
    const idA = rows.find(
      (r) => r.remote === `127.0.0.1:${a.phone.sock.localPort}` || r.remote.endsWith(`:${a.phone.sock.localPort}`),
    )?.id;
    expect(idA).toBeDefined();
    expect(await clear(['id', String(idA)])).toBe(`cleared 1 connection (${idA})`);
    await within(closedPromise(a.phone), 3000, 'phone A disconnected');
    await within(closedPromise(a.up), 3000, 'upstream A disconnected');
    b.phone.send(options('still-there'));
    await b.up.waitFor((m) => m.includes('still-there'), 'B still relayed');
    b.phone.sock.destroy();
    await until(() => service.table.active === 0, 'all closed');
  });

  it('clears by target (the phone address:port, with or without ipv4:), and refuses bad arguments', async () => {
    const a = await phoneWithUpstream();
    const row = service.table.list()[0];
    expect(row?.phone).toBe('SEP001122334455');
    expect(await clear(['target', `ipv4:${row?.remote}`])).toMatch(/^cleared 1 connection/);
    await within(closedPromise(a.phone), 3000, 'phone disconnected');
    expect(await clear(['target', '127.0.0.1:1'])).toBe('cleared 0 connections');
    expect(() => clear(['id', 'x'])).toThrow(/connection id must be a number, got "x"/);
    expect(() => clear(['target', 'nowhere'])).toThrow(/target must be ip:port/);
    expect(() => clear([])).toThrow(/needs id <n> or target <ip:port>/);
  });
});

describe('isolation and back-pressure', () => {
  it('a flood of malformed messages on one connection does not affect another', async () => {
    const bad = await phoneWithUpstream();
    const good = await phoneWithUpstream(h.pki.phone2);
    // Framable but unparsable messages: each is dropped and counted, the connection stays.
    for (let i = 0; i < 200; i++)
      bad.phone.send(`OPTIONS sip:x SIP/2.0\r\nBroken Header Line\r\nContent-Length: 0\r\n\r\n`);
    good.phone.send(options('good-1'));
    await good.up.waitFor((m) => m.includes('good-1'), 'good relayed during the flood');
    // Then bytes that cannot be framed: that connection (only) is closed.
    bad.phone.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await within(closedPromise(bad.phone), 3000, 'unframable stream closed');
    expect(bad.up.messages).toEqual([]);
    good.phone.send(options('good-2'));
    await good.up.waitFor((m) => m.includes('good-2'), 'good relayed after the flood');
    expect(h.logLines.join('')).toMatch(
      /"msgId":"PPX-4-140001".*SIP stream from phone cannot be framed: not a SIP start line.*; connection closed/,
    );
    const metrics = await h.ctx.metrics.getSingleMetricAsString('phone_proxy_sip_errors_total');
    expect(metrics).toMatch(/reason="parse"} 200/);
    good.phone.sock.destroy();
    await until(() => service.table.active === 0, 'all closed');
  });

  it('a UCM that stops reading: back-pressure keeps the queue bounded, nothing is lost when it reads again', async () => {
    const { phone, up } = await phoneWithUpstream();
    up.sock.pause(); // the scripted UCM stops reading
    const N = 400;
    const msg = (i: number) => bigMessage(`bp-${i}`);
    let written = 0;
    // Bounded: N messages of 60 kB; stop early once the phone's own socket backs up.
    while (written < N && phone.sock.writableLength < 2 * 1024 * 1024) phone.sock.write(msg(written++));
    // The phone's own socket backed up: the appliance stopped reading it (memory stays bounded).
    expect(written).toBeLessThan(N);
    await new Promise((r) => setTimeout(r, 500));
    expect(service.table.counters['queue-overflows']).toBe(0);
    expect(service.table.maxSendQueue.size).toBeLessThanOrEqual(256 * 1024 + 70_000);
    expect(service.table.active).toBe(1);
    while (written < N) phone.sock.write(msg(written++));
    up.sock.resume();
    await until(
      () => up.messages.length === N,
      () => `all ${N} delivered (got ${up.messages.length})`,
      30_000,
    );
    expect(up.messages.map((m) => /Call-ID: (\S+)/.exec(m)?.[1])).toEqual(
      Array.from({ length: N }, (_, i) => `bp-${i}`),
    );
    phone.sock.destroy();
    await until(() => service.table.active === 0, 'closed');
  });

  it('a queue over its limit is counted and closes the connection with a log line', async () => {
    // A second proxy with a 16 kB limit on another port (and its own view registry).
    const n = ucm.peers.length;
    h.ctx.loaded.policy.listen['sip-tls'] = PORT + 10;
    const small = createTlsProxyService(h.ctx, { maxSendQueueBytes: 16 * 1024 });
    await small.start();
    h.ctx.loaded.policy.listen['sip-tls'] = PORT;
    try {
      const phone = await connectPhone(PORT + 10, h.pki.phone);
      opened.push(phone);
      const up = await ucm.peer(n);
      up.sock.pause();
      for (let i = 0; i < 200 && !phone.closed; i++) {
        if (!phone.sock.write(bigMessage(`of-${i}`))) await new Promise((r) => setTimeout(r, 5));
      }
      await within(closedPromise(phone), 10_000, 'connection closed on overflow');
      expect(small.table.counters['queue-overflows']).toBe(1);
      expect(h.logLines.join('')).toMatch(/"msgId":"PPX-4-130013".*overflowed \(\d+ bytes\): peer not reading/);
    } finally {
      await small.stop();
    }
  });

  it('ages out an inactive connection and counts it', async () => {
    const before = service.table.counters['inactive-ageouts'];
    const { phone } = await phoneWithUpstream();
    await within(closedPromise(phone), 5000, 'idle connection aged out');
    expect(service.table.counters['inactive-ageouts']).toBe(before + 1);
    const stats = await h.ctx.control.findShow(['tls-proxy', 'statistics'])?.item.render([]);
    expect(stats?.lines?.join('\n')).toMatch(/No\. of inactive conn\. ageouts : [1-9]/);
  });

  it('counts a phone whose upstream cannot be reached as a connection failure', async () => {
    await ucm.stop();
    const before = service.table.counters['connection-failures'];
    const phone = await connectPhone(PORT, h.pki.phone);
    opened.push(phone);
    await within(closedPromise(phone), 5000, 'phone closed when no member answers');
    expect(service.table.counters['connection-failures']).toBe(before + 1);
  });
});
