/**
 * The appliance's TFTP interceptor alone in a child process (run from dist/ with --expose-gc), so a
 * test can measure its memory while it relays: `baseline` starts sampling live memory (after a
 * full GC) every 50 ms, `peak` answers with the largest growth seen, `stop` exits.
 * argv[2]: JSON { policyFile, stateDir, port }.
 */
import { Registry } from 'prom-client';
import { loadPolicy } from '../../src/config/load-policy';
import { Logs } from '../../src/control/log';
import { ControlRegistry } from '../../src/control/registry';
import { openState } from '../../src/pki/state';
import { createTftpService } from '../../src/tftp/service';

async function main() {
  const args = JSON.parse(process.argv[2] ?? '{}') as { policyFile: string; stateDir: string; port: number };
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const loaded = loadPolicy(args.policyFile);
  const state = await openState(args.stateDir, loaded);
  const ctx = {
    loaded,
    state,
    logs: new Logs('warn'),
    control: new ControlRegistry(),
    metrics: new Registry(),
    services: new Map(),
  };
  const svc = createTftpService(ctx, { port: args.port });
  await svc.start();
  const live = () => {
    // Twice: V8 frees ArrayBuffer backing stores concurrently after a GC; the second GC finishes that sweep.
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  let base = 0;
  let peak = 0;
  let detail = {};
  let timer: NodeJS.Timeout | undefined;
  process.on('message', async (m: string) => {
    if (m === 'baseline') {
      base = live();
      peak = 0;
      const b = process.memoryUsage();
      timer = setInterval(() => {
        const l = live();
        if (l - base > peak) {
          peak = l - base;
          const m = process.memoryUsage();
          detail = {
            heap: m.heapUsed - b.heapUsed,
            arrayBuffers: m.arrayBuffers - b.arrayBuffers,
            external: m.external - b.external,
          };
        }
      }, 50);
      process.send?.({ baseline: base });
    } else if (m === 'peak') {
      if (timer) clearInterval(timer);
      process.send?.({ peak, detail: { ...detail, relay: svc.relay() }, counters: svc.counters });
    } else if (m === 'stop') {
      await svc.stop();
      process.exit(0);
    }
  });
  process.send?.({ ready: true });
}

main().catch((err: Error) => {
  process.stderr.write(`relay-child: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
