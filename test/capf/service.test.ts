/**
 * The CAPF relay service (src/capf/service.ts) on example 5 moved to loopback: it opens
 * listen.capf on the outside interface only, dials capf-server from the inside address, shows
 * itself in `show phone-proxy capf`, the drops view and the metrics, and takes a live reload of
 * capf-server and capf-relay without closing its listener.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { parseDocument } from 'yaml';
import { CapfRelayService } from '../../src/capf/service';
import { parsePolicy } from '../../src/config/load-policy';
import { reloadPlan } from '../../src/config/reload-plan';
import type { ServiceContext } from '../../src/contracts/service';
import type { ApplianceState } from '../../src/contracts/state';
import { Logs } from '../../src/log';
import { type CapfCert, capfCertificate, closed, phoneClient, rawConnect, startCapfServer, stopPeers } from './peers';

// This helper's fixed ports: 64700-64799.
const RELAY = 64710;
const CAPF = 64711;
const NOTHING = 64712;
const OUTSIDE = '127.0.64.1';
const INSIDE = '127.0.65.1';
const CAPF_HOST = '127.0.65.20';

const EXAMPLE5 = readFileSync(path.resolve(__dirname, '../../policies/examples/5-lsc-provisioning.yaml'), 'utf8');

function policyText(edit: (doc: ReturnType<typeof parseDocument>) => void = () => undefined): string {
  const doc = parseDocument(EXAMPLE5.replaceAll('198.51.100.', '127.0.64.').replaceAll('10.10.0.', '127.0.65.'));
  doc.setIn(['listen', 'capf'], RELAY);
  doc.setIn(['capf-server', 'port'], CAPF);
  edit(doc);
  return doc.toString();
}

let dir: string;
let cert: CapfCert;
const lines: Record<string, unknown>[] = [];
let service: CapfRelayService;
let ctx: ServiceContext;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pp-capf-svc-'));
  cert = await capfCertificate(dir);
  await startCapfServer(CAPF_HOST, CAPF, cert);
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  ctx = {
    loaded: parsePolicy(policyText(), path.join(dir, 'policy.yaml')),
    // The relay reads no keys or certificates: it holds none.
    state: {} as ApplianceState,
    logs: new Logs('info', dest as unknown as import('pino').DestinationStream),
    metrics: new Registry(),
  };
  service = new CapfRelayService(ctx);
}, 30_000);

afterAll(async () => {
  await service?.stop();
  stopPeers();
  rmSync(dir, { recursive: true, force: true });
});

test('starts on the outside interface only, relays an enrolment, and shows it everywhere', async () => {
  const listening = await service.start();
  expect(listening).toEqual([{ what: 'capf relay (outside)', protocol: 'tcp', address: OUTSIDE, port: RELAY }]);
  await expect(rawConnect(INSIDE, RELAY)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

  const run = await phoneClient(OUTSIDE, RELAY, cert.certFile, ['enrol-me']);
  expect(run.stdout).toMatch(/Verify return code: 0 \(ok\)/);
  expect(run.stdout).toContain('em-lorne');

  const views = service.operatorViews();
  const view = await views.show.find((v) => v.name === 'phone-proxy capf')?.render([]);
  expect(view?.data).toMatchObject({
    enabled: true,
    capf: { address: CAPF_HOST, port: CAPF, interface: 'inside', from: 'capf-server' },
    counters: { accepted: 1, relayed: 1 },
  });
  expect(view?.lines?.[0]).toBe(
    `CAPF relay on ${OUTSIDE}:${RELAY} (outside, phones use ${OUTSIDE}) -> CAPF ${CAPF_HOST}:${CAPF} (capf-server, interface inside)`,
  );
  const metrics = await ctx.metrics.getSingleMetricAsString('phone_proxy_capf_relay_events_total');
  expect(metrics).toMatch(/phone_proxy_capf_relay_events_total\{event="relayed"\} 1/);
  const areas = await views.drops?.areas();
  expect(areas?.[0]?.area).toBe('capf');
  expect(areas?.[0]?.counts.map((c) => c.reason)).toContain('first-byte-timeouts');
  // Started with the policy's warnings: none for example 5.
  expect(lines.filter((l) => l.msgId === 'PPX-4-190001')).toEqual([]);
}, 30_000);

test('live reload: a new capf-server and limits apply to new connections; the listener stays', async () => {
  const apply = (text: string) => {
    const next = parsePolicy(text, path.join(dir, 'policy.yaml'));
    const plan = reloadPlan(ctx.loaded.policy, next.policy);
    ctx.loaded = { ...next, policy: plan.effective };
    return service.reconfigure({ changed: plan.live });
  };
  const changed = apply(
    policyText((doc) => {
      doc.setIn(['capf-server', 'port'], NOTHING);
      doc.setIn(['capf-relay'], doc.createNode({ 'max-connections-per-source': 1 }));
    }),
  );
  expect(changed).toEqual(expect.arrayContaining(['capf-server.port', 'capf-relay.max-connections-per-source']));
  const before = service.counters['upstream-failures'];
  const run = await phoneClient(OUTSIDE, RELAY, cert.certFile, ['x']);
  expect(run.stdout).toMatch(/no peer certificate available/);
  expect(service.counters['upstream-failures']).toBe(before + 1);
  expect(lines.some((l) => l.msgId === 'PPX-3-190004')).toBe(true);

  // One per source now: a second connection from the same address is refused.
  const held = await rawConnect(OUTSIDE, RELAY);
  await new Promise((r) => setTimeout(r, 100));
  const second = await rawConnect(OUTSIDE, RELAY);
  await closed(second);
  expect(service.counters['refused-source-limit']).toBe(1);
  held.destroy();

  // Back to CAPF: served again, same listener.
  apply(policyText());
  await new Promise((r) => setTimeout(r, 100));
  const ok = await phoneClient(OUTSIDE, RELAY, cert.certFile, ['back-again']);
  expect(ok.stdout).toContain('niaga-kcab');
}, 30_000);

test('with listen.capf off it opens nothing and logs the capf record it cannot serve (%PPX-4-190001)', async () => {
  const off = new CapfRelayService({
    ...ctx,
    metrics: new Registry(),
    loaded: parsePolicy(
      policyText((doc) => {
        doc.deleteIn(['listen', 'capf']);
        doc.deleteIn(['capf-server']);
      }),
      path.join(dir, 'off.yaml'),
    ),
  });
  expect(await off.start()).toEqual([]);
  expect(lines.filter((l) => l.msgId === 'PPX-4-190001').map((l) => l.msg)).toEqual([
    expect.stringMatching(
      /^policy: ctl-file\.records\[1\]\.address: a capf record names 127\.0\.64\.1, but listen\.capf is off/,
    ),
  ]);
  const view = await off.operatorViews().show[0]?.render([]);
  expect(view?.lines).toEqual(['CAPF relay off (listen.capf is not set)']);
  await off.stop();
});
