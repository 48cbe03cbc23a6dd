/**
 * The project's TFTP server (server.ts) and client (client.ts) on loopback, against independent
 * peers: atftp with RFC 7440 windows, the npm `tftp` package (gagle/node-tftp) as client and as
 * server, tftpd-hpa, and a scripted UDP client for what no real client does on purpose (skip a
 * block, never ACK, ask in mail mode).
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TftpClient } from '../../src/tftp/client';
import { decodeError, decodePacket, encodeAck } from '../../src/tftp/packet';
import { TftpServer } from '../../src/tftp/server';
import { atftpGet, freeUdpPort, rrqPacket, startTftpd, stopAll } from './peers';

const ADDR = '127.0.55.1';
const CLIENT_ADDR = '127.0.55.2';
const files = new Map<string, Buffer>();
let server: TftpServer;
let work: string;

function pseudoRandom(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// The npm package is CommonJS without types; these are the parts used.
interface NpmTftp {
  createClient(o: Record<string, unknown>): {
    get(remote: string, local: string, cb: (err?: Error) => void): void;
  };
  createServer(o: Record<string, unknown>): {
    listen(): void;
    close(): void;
    on(ev: string, fn: (...a: unknown[]) => void): void;
  };
}
const npmTftp = require('tftp') as NpmTftp;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'tftp-own-'));
  files.set('big.bin', pseudoRandom(300 * 1024 + 17, 0x1234567));
  files.set('small.txt', Buffer.from('hello phone\n'));
  server = new TftpServer({
    address: ADDR,
    port: 0,
    hooks: {
      gate: () => true,
      check: () => undefined,
      refused: () => undefined,
      repeated: () => undefined,
      request: (t) => {
        const f = files.get(t.file);
        if (f) t.sendBuffer(f);
        else t.refuse(1, 'File not found');
      },
    },
  });
  await server.listen();
});

afterAll(async () => {
  await server?.close();
  stopAll();
  rmSync(work, { recursive: true, force: true });
});

/** A scripted client socket: sends, and collects what comes back, bounded in time. */
async function scripted(bind = CLIENT_ADDR) {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, bind, () => r()));
  const got: { msg: Buffer; from: dgram.RemoteInfo }[] = [];
  let waiter: (() => void) | undefined;
  s.on('message', (msg, from) => {
    got.push({ msg, from });
    waiter?.();
  });
  return {
    got,
    send: (b: Buffer, port: number, address = ADDR) => s.send(b, port, address),
    /** Resolves when `n` datagrams have arrived, or after `ms` (then with what there is). */
    until: (n: number, ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        function done() {
          clearTimeout(t);
          waiter = undefined;
          resolve();
        }
        waiter = () => got.length >= n && done();
        waiter();
      }),
    close: () => s.close(),
  };
}

test('atftp with windowsize 8 and blksize 1428: identical file; the OACK grants the window, capped at 16', async () => {
  const out = path.join(work, 'big-atftp');
  const r = await atftpGet(ADDR, server.port, 'big.bin', out, ['blksize 1428', 'windowsize 8']);
  // atftp lists the options it asked for on stderr; anything else there is a complaint ("got wrong block").
  expect(r.stderr.replace(/^Option \w+ = \d+\n/gm, '')).toBe('');
  expect(r.code).toBe(0);
  expect(sha(readFileSync(out))).toBe(sha(files.get('big.bin') as Buffer));
  const c = await scripted();
  try {
    c.send(rrqPacket('big.bin', 'windowsize', '64', 'blksize', '1428', 'tsize', '0'), server.port);
    await c.until(1, 2000);
    expect(decodePacket((c.got[0] as { msg: Buffer }).msg)).toEqual({
      op: 'OACK',
      options: { blksize: '1428', tsize: String(300 * 1024 + 17), windowsize: '16' },
    });
    // Replies come from the listening address, from a port of the transfer's own.
    expect(c.got[0]?.from.address).toBe(ADDR);
    expect(c.got[0]?.from.port).not.toBe(server.port);
  } finally {
    c.close();
  }
});

test('window of 4 on real sockets: a skipped block restarts the window right after the last ACK', async () => {
  const c = await scripted();
  try {
    c.send(rrqPacket('big.bin', 'windowsize', '4', 'blksize', '512'), server.port);
    await c.until(1, 2000);
    const tid = (c.got[0] as { from: dgram.RemoteInfo }).from;
    c.send(encodeAck(0), tid.port);
    await c.until(5, 2000);
    const window1 = c.got.slice(1).map((g) => decodePacket(g.msg));
    expect(window1.map((p) => p.op === 'DATA' && p.block)).toEqual([1, 2, 3, 4]);
    // As if block 2 was lost: ACK 1, the last block received in order.
    c.send(encodeAck(1), tid.port);
    await c.until(9, 2000);
    expect(
      c.got
        .slice(5)
        .map((g) => decodePacket(g.msg))
        .map((p) => p.op === 'DATA' && p.block),
    ).toEqual([2, 3, 4, 5]);
    // A duplicate ACK 1 sends nothing more (Sorcerer's Apprentice) before the 1 s timer.
    c.send(encodeAck(1), tid.port);
    await c.until(10, 500);
    expect(c.got).toHaveLength(9);
    c.send(Buffer.concat([Buffer.from([0, 5, 0, 0]), Buffer.from('done\0')]), tid.port);
  } finally {
    c.close();
  }
});

test('the npm tftp package as a client (windowsize 4, its default) and lock-step: identical files', async () => {
  for (const windowSize of [4, 1]) {
    const out = path.join(work, `big-npm-${windowSize}`);
    await new Promise<void>((resolve, reject) =>
      npmTftp
        .createClient({ host: ADDR, port: server.port, windowSize, retries: 3 })
        .get('big.bin', out, (err) => (err ? reject(err) : resolve())),
    );
    expect(sha(readFileSync(out))).toBe(sha(files.get('big.bin') as Buffer));
  }
}, 20_000);

test('the client fetches from the npm tftp package server and from tftpd-hpa, from its local address', async () => {
  const root = path.join(work, 'npm-root');
  mkdirSync(root);
  writeFileSync(path.join(root, 'fw.bin'), files.get('big.bin') as Buffer);
  const port = await freeUdpPort('127.0.55.20');
  const npmServer = npmTftp.createServer({ host: '127.0.55.20', port, root, denyPUT: true });
  await new Promise<void>((resolve) => {
    npmServer.on('listening', () => resolve());
    npmServer.listen();
  });
  try {
    const client = new TftpClient({ host: '127.0.55.20', port, timeoutMs: 6000, localAddress: CLIENT_ADDR });
    const got = await client.getBuffer('fw.bin', 1024 * 1024);
    expect(sha(got)).toBe(sha(files.get('big.bin') as Buffer));
  } finally {
    npmServer.close();
  }
  const hpaPort = await freeUdpPort('127.0.55.21');
  await startTftpd(root, '127.0.55.21', hpaPort);
  const c2 = new TftpClient({ host: '127.0.55.21', port: hpaPort, timeoutMs: 6000, localAddress: CLIENT_ADDR });
  const g = c2.get('fw.bin');
  expect(await g.size).toBe(300 * 1024 + 17);
  const chunks: Buffer[] = [];
  for await (const x of g.stream) chunks.push(x as Buffer);
  expect(sha(Buffer.concat(chunks))).toBe(sha(files.get('big.bin') as Buffer));
  await expect(c2.getBuffer('missing.bin', 1000)).rejects.toMatchObject({ tftpCode: 1, timedOut: false });
}, 30_000);

test('WRQ and mail mode are refused with an ERROR packet; stray packets at the listening port get no answer', async () => {
  const c = await scripted();
  try {
    c.send(Buffer.concat([Buffer.from([0, 2]), Buffer.from('up.bin\0octet\0')]), server.port);
    c.send(Buffer.concat([Buffer.from([0, 1]), Buffer.from('small.txt\0mail\0')]), server.port);
    c.send(encodeAck(1), server.port);
    await c.until(3, 700);
    expect(c.got.map((g) => decodeError(g.msg))).toEqual([
      { code: 2, message: 'Access violation' },
      { code: 4, message: 'Mail mode not supported' },
    ]);
  } finally {
    c.close();
  }
});

test('transfers are capped: at the cap the oldest client that never ACKed is dropped for the new one', async () => {
  const capped = new TftpServer({
    address: ADDR,
    port: 0,
    maxTransfers: 2,
    hooks: {
      gate: () => true,
      check: () => undefined,
      refused: () => undefined,
      repeated: () => undefined,
      request: (t) => t.sendBuffer(files.get('big.bin') as Buffer),
    },
  });
  await capped.listen();
  const clients = await Promise.all([scripted(), scripted(), scripted()]);
  try {
    for (const c of clients) {
      c.send(rrqPacket('big.bin'), capped.port);
      await c.until(1, 1000);
    }
    expect(clients.map((c) => c.got.length)).toEqual([1, 1, 1]);
    expect(capped.stats.evicted).toBe(1);
    expect(capped.active).toBe(2);
  } finally {
    for (const c of clients) c.close();
    await capped.close();
  }
  expect(capped.active).toBe(0);
});
