/**
 * The appliance's TFTP interceptor alone in a child process (run from dist-dev/ with --expose-gc), so a
 * test can measure its memory while it relays: `baseline` starts sampling live memory (after a
 * full GC) every 50 ms, `peak` answers with the largest growth seen, `stop` exits.
 * argv[2]: JSON { policyFile, stateDir, port, loss? }.
 */
import dgram from 'node:dgram';
import { Registry } from 'prom-client';
import { loadPolicy } from '../../src/config/load-policy';
import { ControlRegistry } from '../../src/control/registry';
import { Logs } from '../../src/log';
import { openState } from '../../src/pki/state';
import { createTftpService } from '../../src/tftp/service';

/**
 * Test-only network faults on what the appliance sends from `address` (deterministic PRNG): a
 * share of datagrams dropped, another share delayed by 1.2 s (so they arrive late, after a
 * retransmission: duplicates and reordering), to check that transfers to phones survive both.
 */
function injectSendFaults(share: number, delayShare: number, address: string): { dropped: () => number } {
  let x = 0x2545f491;
  let dropped = 0;
  const send = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
    let local = '';
    try {
      local = this.address().address;
    } catch {
      // Not bound yet: an upstream request, not a transfer to a phone.
    }
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const r = ((x >>> 0) % 10_000) / 10_000;
    if (local === address && r < share + delayShare) {
      dropped++;
      const cb = args.find((a) => typeof a === 'function') as ((e: Error | null, n: number) => void) | undefined;
      if (cb) process.nextTick(cb, null, 0);
      if (r >= share) {
        const late = args.filter((a) => typeof a !== 'function');
        setTimeout(() => {
          try {
            (send as (...a: unknown[]) => void).apply(this, late);
          } catch {
            // The transfer ended and closed its socket meanwhile: the late packet is simply lost.
          }
        }, 1200).unref();
      }
      return;
    }
    return (send as (...a: unknown[]) => void).apply(this, args);
  } as typeof send;
  return { dropped: () => dropped };
}

async function main() {
  const args = JSON.parse(process.argv[2] ?? '{}') as {
    policyFile: string;
    stateDir: string;
    port: number;
    loss?: { share: number; delayed: number; address: string };
  };
  const loss = args.loss ? injectSendFaults(args.loss.share, args.loss.delayed, args.loss.address) : undefined;
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
      process.send?.({
        peak,
        detail: { ...detail, relay: svc.relay() },
        counters: svc.counters,
        dropped: loss?.dropped() ?? 0,
      });
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
