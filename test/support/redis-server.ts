/**
 * A real `redis-server` (Debian) for the cluster tests: no persistence, loopback only, on a free
 * port chosen here. Every wait is bounded. `kill()` is the crash (SIGKILL), `stop()` the clean
 * shutdown; `start()` again brings it back on the same port, empty (no persistence), as a
 * restarted production Redis without AOF would be. `cli()` runs redis-cli against it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import net from 'node:net';

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** `redis://host:port/db` (with AUTH when started with a password). */
  url(db?: number): string;
  /** (Re)starts on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL: the outage. */
  kill(): Promise<void>;
  running(): boolean;
  /** redis-cli's output for one command, e.g. cli('KEYS', 'pp:*'). */
  cli(...args: string[]): Promise<string>;
  /** What redis-server printed so far. */
  output(): string;
}

/** A TCP port free on `host` now (the kernel's pick; released before redis-server binds it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startRedisServer(
  opts: { host?: string; port?: number; password?: string; readyTimeoutMs?: number } = {},
): Promise<RedisServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let out = '';

  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    const args = ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', host];
    if (opts.password) args.push('--requirepass', opts.password);
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server not ready in ${readyTimeoutMs} ms:\n${out}`)),
        readyTimeoutMs,
      );
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          c.stdout?.off('data', onData);
          c.stdout?.on('data', (more: Buffer) => {
            out += more.toString();
          });
          resolve();
        }
      };
      c.stdout?.on('data', onData);
      c.stderr?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      c.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}) before ready:\n${out}`));
      });
    });
  };

  const signal = async (sig: NodeJS.Signals, timeoutMs: number) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(sig);
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  };

  const server: RedisServer = {
    host,
    port,
    url: (db = 0) => `redis://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ''}${host}:${port}/${db}`,
    start,
    stop: (timeoutMs = 5000) => signal('SIGTERM', timeoutMs),
    kill: () => signal('SIGKILL', 5000),
    running: () => !!child && child.exitCode === null && child.signalCode === null,
    cli: (...args: string[]) =>
      new Promise((resolve, reject) => {
        const auth = opts.password ? ['--no-auth-warning', '-a', opts.password] : [];
        execFile('redis-cli', ['-h', host, '-p', String(port), ...auth, ...args], { timeout: 5000 }, (err, stdout) =>
          err ? reject(err) : resolve(stdout),
        );
      }),
    output: () => out,
  };
  await start();
  return server;
}
