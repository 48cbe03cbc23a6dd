/**
 * Live reload of the TFTP interceptor (issue 15): after `reconfigure`, new requests go to the new
 * UCM TFTP server (two tftpd-hpa, each with its own Ringlist.xml) and meet the new rate limit;
 * the listener stays the same socket. 127.0.53.x outside, 127.0.54.x inside.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { ControlRegistry } from '../../src/control/registry';
import { openState } from '../../src/pki/state';
import { createTftpService, type TftpService } from '../../src/tftp/service';
import { serve, type TestContext } from '../support/serve';
import { captureLogs, freeUdpPort, rawRequest, rrqPacket, startTftpd, stopAll, testPolicy, tftpHpaGet } from './peers';

const OUTSIDE = '127.0.53.1';
const UCM = ['127.0.54.20', '127.0.54.21'] as const;
let work: string;
let svc: TftpService | undefined;

afterAll(async () => {
  await svc?.stop();
  stopAll();
  if (work) rmSync(work, { recursive: true, force: true });
});

function policy(file: string, upstream: string, upstreamPort: number, rate: { 'per-source': number; burst: number }) {
  return testPolicy((p) => {
    p.interfaces = [
      { name: 'outside', address: `${OUTSIDE}/24`, role: 'outside' },
      { name: 'inside', address: '127.0.54.1/24', role: 'inside' },
    ];
    p.cluster = { mode: 'nonsecure', members: [{ name: 'cucm1', address: UCM[0], interface: 'inside' }] };
    p['tftp-server'] = { address: upstream, interface: 'inside', port: upstreamPort };
    p['media-termination'] = {
      addresses: [
        { interface: 'outside', address: '127.0.53.10' },
        { interface: 'inside', address: '127.0.54.10' },
      ],
    };
    p['ctl-file'] = { records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: OUTSIDE }] };
    p.tftp = { 'rate-limit': { ...rate, global: 1000 } };
  }, file);
}

test('a reload points new requests at the new UCM TFTP server and applies the new rate limit', async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'tftp-reload-'));
  const ports: number[] = [];
  for (const [n, address] of UCM.entries()) {
    const dir = path.join(work, `ucm${n}`);
    mkdirSync(dir, { mode: 0o755 });
    writeFileSync(path.join(dir, 'Ringlist.xml'), `<CiscoIPPhoneRingList><!-- ucm${n} --></CiscoIPPhoneRingList>\n`);
    const port = await freeUdpPort(address);
    await startTftpd(dir, address, port);
    ports.push(port);
  }
  const file = path.join(work, 'policy.yaml');
  const first = policy(file, UCM[0], ports[0] as number, { 'per-source': 100, burst: 100 });
  const state = await openState(path.join(work, 'state'), first);
  const ctx: TestContext = {
    loaded: first,
    state,
    logs: captureLogs().logs,
    control: new ControlRegistry(),
    metrics: new Registry(),
  };
  svc = createTftpService(ctx, { port: await freeUdpPort(OUTSIDE) });
  await serve(svc, ctx.control);
  const port = (svc.listeners()[0] as { port: number }).port;
  const fetch = async (name: string) => {
    const out = path.join(work, name);
    const r = await tftpHpaGet(OUTSIDE, port, 'Ringlist.xml', out);
    expect(r.stdout + r.stderr).toBe('');
    return readFileSync(out, 'utf8');
  };
  expect(await fetch('a.xml')).toContain('ucm0');

  ctx.loaded = policy(file, UCM[1], ports[1] as number, { 'per-source': 0.001, burst: 2 });
  const changed = ['tftp-server.address', 'tftp-server.port', 'tftp.rate-limit.per-source', 'tftp.rate-limit.burst'];
  expect(svc.reconfigure?.({ changed: [...changed, 'tls-proxy.max-connections'] })).toEqual(changed);
  expect(svc.listeners()).toEqual([{ interface: 'outside', address: OUTSIDE, port }]);
  expect(await fetch('b.xml')).toContain('ucm1');
  const view = await ctx.control.findShow(['phone-proxy', 'tftp'])?.item.render([]);
  expect(view?.lines).toContain(`upstream TFTP server ${UCM[1]}:${ports[1]}`);

  // A source with a fresh bucket of 2: two requests answered, the third dropped and counted.
  const before = svc.counters['rate-limited-source'];
  const from = '127.0.53.77';
  const replies = [];
  for (let n = 0; n < 3; n++) replies.push(await rawRequest(OUTSIDE, port, rrqPacket('Ringlist.xml'), 500, from));
  expect(replies.map((r) => r !== undefined)).toEqual([true, true, false]);
  expect(svc.counters['rate-limited-source'] - before).toBe(1);
}, 60_000);
