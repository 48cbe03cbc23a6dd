/** The CTL service plugs into the TestContext: builds at start, show views, metrics, logs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Registry } from 'prom-client';
import { parseCtl, verifyCtl } from '../../ctl';
import { ControlRegistry } from '../../src/control/registry';
import { Logs } from '../../src/log';
import { CtlService } from '../../src/pki/service';
import { openState } from '../../src/pki/state';
import { serve, type TestContext } from '../support/serve';
import { writePolicy } from './helpers';

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'ctlsvc-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

test('builds the CTL at start and serves show views and metrics', async () => {
  const loaded = writePolicy(work);
  const logLines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => logLines.push(c.toString()));
  const ctx: TestContext = {
    loaded,
    state: await openState(path.join(work, 'var'), loaded),
    logs: new Logs('info', sink),
    control: new ControlRegistry(),
    metrics: new Registry(),
  };
  const svc = new CtlService(ctx);
  expect(await serve(svc, ctx.control)).toEqual([]);
  expect(verifyCtl(parseCtl(svc.ctl())).ok).toBe(true);

  const show = ctx.control.findShow(['ctl-file']);
  const view = await show?.item.render(show.args);
  expect(view?.tables?.[0]?.rows.map((r) => r[1])).toEqual(['sast', 'sast', 'cucm-tftp']);
  const tps = ctx.control.findShow(['crypto', 'trustpoints']);
  const tpView = await tps?.item.render([]);
  expect(JSON.stringify(tpView?.data)).not.toMatch(/PRIVATE KEY/);
  expect(await ctx.metrics.getSingleMetricAsString('phone_proxy_ctl_records')).toMatch(/phone_proxy_ctl_records 3/);
  await new Promise((r) => setImmediate(r));
  expect(logLines.join('')).toMatch(/"msg":"CTL built"/);
  expect(logLines.join('')).not.toMatch(/PRIVATE KEY/);
  await svc.stop();
});
