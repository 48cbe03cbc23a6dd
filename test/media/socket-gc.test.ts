/**
 * The batched socket path allocates nothing per packet: 1,000,000 SRTP packets from the C load
 * generator (native libsrtp2, sendmmsg; bench/pps/loadgen.c) through the appliance's real
 * sockets to the C sink (recvmmsg, native libsrtp2 checks nothing here: the legs out are RTP,
 * and every payload byte is checked against the generator's pattern). GC events are V8's
 * --trace-gc lines of the relay process, every isolate (main thread and worker): what remains
 * comes from the control plane's timers, not from packets. node:dgram costs ~70 per million
 * (bench/RESULTS.md), a plain node:dgram relay ~1,100. Ports 65100-65199 on the bench's
 * addresses (127.0.1.17, 127.0.2.17).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildHelpers, CLoadGen, CSink } from '../../bench/pps/c-load';
import { OUTSIDE, type RelayCommand, type RelayReply } from '../../bench/pps/relay';

const RELAY = path.resolve(__dirname, '../../dist-dev/bench/pps/relay.js');
const CALLS = 10;
const PHONE = '127.0.1.57';
const PEER = '127.0.2.57';
const SSRC = 0x30000;
const PACKETS = 1_000_000;
const RATE = 80_000;
const BIN_DIR = path.join(os.tmpdir(), `pp-socket-gc-${process.pid}`);

let child: ChildProcess | undefined;
let gcLines = 0;
const replies: ((r: RelayReply) => void)[] = [];

function ask(c: RelayCommand): Promise<RelayReply> {
  return new Promise((resolve) => {
    replies.push(resolve);
    child?.send(c);
  });
}

afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(BIN_DIR, { recursive: true, force: true });
});

test('1,000,000 packets through the batched socket path: no GC per packet, every byte intact', async () => {
  if (!existsSync(RELAY)) throw new Error(`${RELAY} missing: run npm run build:dev first`);
  const bins = buildHelpers(BIN_DIR);
  const sink = new CSink(bins.sink, [{ address: PEER, suite: 'rtp', ssrcBase: SSRC, calls: CALLS }]);
  const [sinkPort] = await sink.started();
  child = fork(RELAY, ['appliance'], { execArgv: ['--trace-gc'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  child.stdout?.on('data', (d: Buffer) => {
    gcLines += (d.toString('latin1').match(/ ms: (Scavenge|Mark-Compact|Mark-sweep|Minor)/g) ?? []).length;
  });
  await new Promise<void>((r) => child?.once('message', () => r()));
  child.on('message', (m: RelayReply) => replies.shift()?.(m));
  const keys = Array.from({ length: CALLS }, (_, i) => [...Buffer.alloc(30, i + 1)]);
  const setup = await ask({
    cmd: 'setup',
    calls: CALLS,
    s2rSink: { address: PEER, port: sinkPort as number },
    r2sSink: { address: PHONE, port: 9 },
    phone: { address: PHONE, port: 9 },
    peer: { address: PEER, port: 9 },
    keys,
    workers: 1,
    minPort: 65100,
    maxPort: 65199,
    socketIo: 'batched',
  });
  if (!('ok' in setup) || setup.ok !== 'setup') throw new Error(`relay setup: ${JSON.stringify(setup)}`);
  expect(setup.io).toBe('batched');
  const gen = new CLoadGen(bins.loadgen, PHONE, OUTSIDE, 'srtp80', SSRC, setup.s2r);
  try {
    // Warm up (JIT, first latches), then the measured million.
    await gen.run(20_000, 500);
    await new Promise((r) => setTimeout(r, 300));
    const before = (await sink.count())[0] as { good: number; bad: number };
    const gc0 = gcLines;
    const sent = await gen.run(RATE, Math.round((PACKETS / RATE) * 1000));
    await new Promise((r) => setTimeout(r, 500));
    const after = (await sink.count())[0] as { good: number; bad: number };
    const gc = gcLines - gc0;
    const delivered = after.good - before.good;
    console.log(`socket path: ${sent} sent, ${delivered} delivered, ${gc} GC events (all isolates)`);
    expect(sent).toBeGreaterThanOrEqual(0.95 * PACKETS);
    expect(after.bad - before.bad).toBe(0);
    // A shared 2-core machine may drop some in the kernel; most must get through.
    expect(delivered).toBeGreaterThan(0.5 * sent);
    // Per packet nothing: a handful from the relay's timers and IPC over ~13 s, not ~70 per million.
    expect(gc).toBeLessThanOrEqual(10);
  } finally {
    await gen.quit();
    await sink.quit();
    child.send({ cmd: 'exit' } satisfies RelayCommand);
  }
}, 60_000);
