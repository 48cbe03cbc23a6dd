/**
 * One engine per thread: media workers each load their own WebAssembly instance (own
 * memory, own sessions), and SrtpEngine.load() caches it per thread. Workers run the
 * compiled binding from dist/ (built by `npm test`); skipped if dist/ is absent.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SrtpEngine } from '../../wasm/srtp';
import { SrtpReferenceContext } from '../../wasm/srtp-reference';
import { masterKey, rtpPacket } from './helpers';

const DIST = path.resolve(__dirname, '../../dist/wasm/srtp.js');
const maybe = existsSync(DIST) ? test : test.skip;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { SrtpEngine } = require(workerData.dist);
const e = SrtpEngine.load();
const cached = SrtpEngine.load() === e;
const h = e.createSession('AES_CM_128_HMAC_SHA1_80', Buffer.from(workerData.key), 'outbound');
const pkt = Buffer.from(workerData.pkt);
e.slot(0).set(pkt);
const n = e.protectRtp(h, 0, pkt.length);
parentPort.postMessage({ cached, handle: h, out: Buffer.from(e.slot(0).subarray(0, n)), heap: e.heapUsed() });
`;

interface Reply {
  cached: boolean;
  handle: number;
  out: Uint8Array;
  heap: number;
}

function runWorker(key: Buffer, pkt: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { dist: DIST, key, pkt } });
    const timer = setTimeout(() => {
      void w.terminate();
      reject(new Error('worker timed out'));
    }, 10_000);
    w.once('message', (m: Reply) => {
      clearTimeout(timer);
      void w.terminate();
      resolve(m);
    });
    w.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

maybe('two worker threads each load their own engine and protect independently', async () => {
  const main = SrtpEngine.load();
  const heapBefore = main.heapUsed();
  const key = masterKey('AES_CM_128_HMAC_SHA1_80', 21);
  const pkts = [rtpPacket(10, 0xaaaa), rtpPacket(11, 0xbbbb)];
  const replies = await Promise.all(pkts.map((p) => runWorker(key, p)));
  const rx = new SrtpReferenceContext('AES_CM_128_HMAC_SHA1_80', key);
  for (const [i, r] of replies.entries()) {
    expect(r.cached).toBe(true);
    expect(r.handle).toBeGreaterThanOrEqual(0);
    const u = rx.unprotectRtp(Buffer.from(r.out));
    expect(u.ok && u.packet).toEqual(pkts[i]);
  }
  // the workers' sessions live in their own memories, not in this thread's
  expect(main.heapUsed()).toBe(heapBefore);
});
