/**
 * Real TFTP peers for the integration tests: Debian's tftpd-hpa (`in.tftpd`) as the UCM TFTP
 * server, and the `tftp` (tftp-hpa) and `atftp` clients as phones. Every process is started on
 * loopback high ports, bounded by a timeout, and killed by `stopAll()`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { parse, stringify } from 'yaml';
import { parsePolicy } from '../../src/config/load-policy';
import { Logs } from '../../src/log';

const children = new Set<ChildProcess>();

export async function freeUdpPort(address: string): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, address, () => resolve());
  });
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Sends one RRQ and resolves with the first reply (or undefined after `ms`). */
export async function rawRequest(
  address: string,
  port: number,
  packet: Buffer,
  ms = 1000,
  bindAddress = '127.0.0.1',
): Promise<{ msg: Buffer; from: dgram.RemoteInfo } | undefined> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, bindAddress, () => resolve()));
  try {
    return await new Promise((resolve) => {
      const t = setTimeout(() => resolve(undefined), ms);
      s.once('message', (msg, from) => {
        clearTimeout(t);
        resolve({ msg, from });
      });
      s.send(packet, port, address);
    });
  } finally {
    s.close();
  }
}

export const rrqPacket = (file: string, ...opts: string[]) =>
  Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${[file, 'octet', ...opts].join('\0')}\0`, 'latin1')]);

/** tftpd-hpa serving `dir` read-only on address:port, in the foreground (killed by stopAll). */
export async function startTftpd(
  dir: string,
  address: string,
  port: number,
  extra: string[] = [],
): Promise<ChildProcess> {
  const child = spawn(
    'in.tftpd',
    ['--foreground', '--address', `${address}:${port}`, '--secure', '--user', 'root', ...extra, dir],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  // Ready when it answers a request (bounded: 50 tries × 100 ms).
  for (let i = 0; i < 50; i++) {
    const r = await rawRequest(address, port, rrqPacket('.ready-probe'), 100);
    if (r) return child;
    if (child.exitCode !== null) break;
  }
  throw new Error(`in.tftpd did not start on ${address}:${port}`);
}

export interface ClientResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<ClientResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      children.delete(child);
      const code = err ? ((err as { code?: number }).code ?? null) : 0;
      // tftp-hpa exits 0 even after an error packet, so tests compare its output with '': a client
      // killed by the timeout must show up there too, not pass as a short clean transfer.
      const killed =
        err && (err as { killed?: boolean; signal?: string }).signal ? `\n[${cmd} killed after ${timeoutMs} ms]` : '';
      resolve({
        code: typeof code === 'number' ? code : null,
        stdout,
        stderr: stderr + killed,
        ms: performance.now() - t0,
      });
    });
    children.add(child);
  });
}

/** tftp-hpa: `tftp -m binary HOST PORT -c get REMOTE LOCAL` (RFC 1350 only: no options). */
export function tftpHpaGet(address: string, port: number, remote: string, local: string) {
  return run('tftp', ['-m', 'binary', address, String(port), '-c', 'get', remote, local]);
}

/** atftp: `atftp -g -r REMOTE -l LOCAL [--option "blksize N"] HOST PORT`. */
export function atftpGet(address: string, port: number, remote: string, local: string, options: string[] = []) {
  return run('atftp', [
    '-g',
    '-r',
    remote,
    '-l',
    local,
    ...options.flatMap((o) => ['--option', o]),
    address,
    String(port),
  ]);
}

/** A compiled test script (dist-dev/) in a child node process with an IPC channel (killed by stopAll). */
export function spawnDist(script: string, args: string[], nodeArgs: string[] = []): ChildProcess {
  if (!existsSync(script)) throw new Error(`${script} missing: run \`npm run build:dev\` first`);
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Sends `msg` and resolves with the next message that has `key`. */
export function ask<T>(child: ChildProcess, msg: string | undefined, key: string, ms = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      reject(new Error(`child already exited (${child.exitCode ?? child.signalCode}) before "${key}"`));
      return;
    }
    const t = setTimeout(() => reject(new Error(`no "${key}" from child within ${ms} ms`)), ms);
    const on = (m: Record<string, unknown>) => {
      if (!(key in m)) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before "${key}"`)));
    if (msg !== undefined) child.send(msg);
  });
}

export function stopAll(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

/** The default policy with the addresses and ports a test wants. */
export function testPolicy(overrides: (p: Record<string, unknown>) => void, file = '/tmp/tftp-test-policy.yaml') {
  const doc = parse(readFileSync(`${__dirname}/../../policies/default.yaml`, 'utf8')) as Record<string, unknown>;
  overrides(doc);
  const text = stringify(doc);
  writeFileSync(file, text);
  return parsePolicy(text, file);
}

/** Logs captured as parsed JSON lines, at debug level for tftp. */
export function captureLogs(): { logs: Logs; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logs = new Logs('info', dest as unknown as import('pino').DestinationStream);
  logs.setDebug('tftp', true);
  return { logs, lines };
}
