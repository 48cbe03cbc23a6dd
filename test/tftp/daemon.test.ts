/**
 * The TFTP interceptor inside the real daemon (startDaemon with the TFTP factory), driven through
 * the control API the CLI uses: show/clear views, `debug tftp on|off`, Prometheus counters.
 * Peers: tftpd-hpa upstream, atftp as the phone.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type pino from 'pino';
import { callDaemon } from '../../src/control/api';
import { type Daemon, startDaemon } from '../../src/daemon';
import { CtlService } from '../../src/pki/service';
import { createTftpService } from '../../src/tftp/service';
import { atftpGet, freeUdpPort, startTftpd, stopAll, testPolicy } from './peers';

const OUTSIDE = '127.0.53.1';
const INSIDE_TFTP = '127.0.54.20';
const MAC = '58971ECC97C1';
let work: string;
let stateDir: string;
let daemon: Daemon | undefined;
let ctl: CtlService | undefined;
let port: number;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'tftp-daemon-'));
  const ucm = path.join(work, 'ucm');
  stateDir = path.join(work, 'state');
  mkdirSync(ucm);
  mkdirSync(path.join(work, 'out'));
  chmodSync(work, 0o755);
  chmodSync(ucm, 0o755);
  copyFileSync(path.join(__dirname, '../fixtures/tftp', `SEP${MAC}.cnf.xml`), path.join(ucm, `SEP${MAC}.cnf.xml`));
  const tftpdPort = await freeUdpPort(INSIDE_TFTP);
  await startTftpd(ucm, INSIDE_TFTP, tftpdPort);
  port = await freeUdpPort(OUTSIDE);
  const policyFile = path.join(work, 'policy.yaml');
  testPolicy((p) => {
    p.interfaces = [
      { name: 'outside', address: `${OUTSIDE}/24`, role: 'outside' },
      { name: 'inside', address: '127.0.54.1/24', role: 'inside' },
    ];
    p.cluster = { mode: 'nonsecure', members: [{ name: 'cucm1', address: INSIDE_TFTP, interface: 'inside' }] };
    p['tftp-server'] = { address: INSIDE_TFTP, interface: 'inside', port: tftpdPort };
    p['media-termination'] = {
      addresses: [
        { interface: 'outside', address: '127.0.53.10' },
        { interface: 'inside', address: '127.0.54.10' },
      ],
    };
    p['ctl-file'] = { name: 'ctl', records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: OUTSIDE }] };
    p.listen = { tftp: port, 'sip-tls': 15061, 'sccp-tls': 12443 };
    p.control = {};
  }, policyFile);
  const dest = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  daemon = await startDaemon({
    policyFile,
    stateDir,
    services: (ctx) => {
      ctl = new CtlService(ctx);
      return [ctl, createTftpService(ctx, { ctl })];
    },
    logDestination: dest as unknown as pino.DestinationStream,
  });
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  stopAll();
  rmSync(work, { recursive: true, force: true });
});

const show = (...words: string[]) =>
  callDaemon(stateDir, 'GET', ['show', ...words]) as Promise<{ data: unknown; lines?: string[] }>;

test('the daemon lists the TFTP listener and answers show/clear/debug for it', async () => {
  expect(daemon?.listening).toContainEqual({ what: 'tftp (outside)', protocol: 'udp', address: OUTSIDE, port });

  // debug tftp off: no debug lines for a request.
  const before = lines.length;
  // A CTL built now would carry a later timestamp than the one built at start: wait past a second.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  expect((await atftpGet(OUTSIDE, port, 'CTLFile.tlv', path.join(work, 'out', 'ctl'))).code).toBe(0);
  // Phones get the very CTL the CTL service built (and `show ctl-file` describes), not a second one.
  const built = (ctl as CtlService).ctl();
  expect(readFileSync(path.join(work, 'out', 'ctl')).equals(built)).toBe(true);
  expect(lines.slice(before).filter((l) => l.category === 'tftp' && l.level === 20)).toEqual([]);

  await callDaemon(stateDir, 'POST', ['debug', 'tftp', 'on']);
  const mark = lines.length;
  expect((await atftpGet(OUTSIDE, port, `SEP${MAC}.cnf.xml.sgn`, path.join(work, 'out', 'sgn'))).code).toBe(0);
  const debug = lines.slice(mark).filter((l) => l.category === 'tftp' && l.level === 20);
  expect(debug.map((l) => l.msg)).toEqual(expect.arrayContaining(['RRQ', 'configuration rewritten']));
  await callDaemon(stateDir, 'POST', ['debug', 'tftp', 'off']);

  const tftp = await show('phone-proxy', 'tftp');
  expect((tftp.data as { outcomes: Record<string, number> }).outcomes).toMatchObject({
    'ctl-served': 1,
    'config-signed-served': 1,
  });
  expect(tftp.lines?.[0]).toBe(`listening on outside ${OUTSIDE}:${port}/udp`);

  const phones = await show('phone-proxy', 'secure-phones');
  expect(phones.data).toEqual([
    expect.objectContaining({
      device: `SEP${MAC}`,
      address: '127.0.0.1',
      originalMode: 'nonsecure',
      forcedMode: 'encrypted',
      protocol: 'sip',
    }),
  ]);
  expect(phones.lines?.[0]).toBe('1 in use, timeout 0:05:00');

  const metrics = await daemon?.ctx.metrics.metrics();
  expect(metrics).toContain('phone_proxy_tftp_requests_total{outcome="config-signed-served"} 1');
  expect(metrics).toContain('phone_proxy_secure_phones 1');
  // Both transfers (CTL, configuration) completed on the appliance's own TFTP server.
  expect(metrics).toContain('phone_proxy_tftp_transfer_events_total{side="phone",event="completed"} 2');

  const cleared = (await callDaemon(stateDir, 'POST', ['clear', 'phone-proxy', 'secure-phones', `SEP${MAC}`])) as {
    message: string;
  };
  expect(cleared.message).toBe('cleared 1 secure-phone entry');
  expect(await show('phone-proxy', 'secure-phones')).toMatchObject({ data: [] });
  await expect(
    callDaemon(stateDir, 'POST', ['clear', 'phone-proxy', 'secure-phones', 'SEP000000000000']),
  ).rejects.toThrow('no secure phone SEP000000000000');
});
