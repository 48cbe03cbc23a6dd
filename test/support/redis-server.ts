/**
 * A real `redis-server` (Debian) for the cluster tests: no persistence, loopback only, on a free
 * port chosen here. Every wait is bounded. `kill()` is the crash (SIGKILL), `stop()` the clean
 * shutdown; `start()` again brings it back on the same port, empty (no persistence), as a
 * restarted production Redis without AOF would be. `cli()` runs redis-cli against it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
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

export interface RedisServerOptions {
  host?: string;
  port?: number;
  /** requirepass: clients AUTH with it (the URL carries it). */
  password?: string;
  /** TLS only (no plain port): PEM files of the server's certificate, its key and the CA clients check it with. */
  tls?: { cert: string; key: string; ca: string };
  /**
   * tls-auth-clients yes: a client must present a certificate the CA signed; redis-cli (cli())
   * then uses this one.
   */
  clientCert?: { cert: string; key: string };
  readyTimeoutMs?: number;
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let out = '';

  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    const args = ['--save', '', '--appendonly', 'no', '--bind', host];
    if (opts.tls) {
      const { cert, key, ca } = opts.tls;
      args.push('--port', '0', '--tls-port', String(port), '--tls-auth-clients', opts.clientCert ? 'yes' : 'no');
      args.push('--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', ca);
    } else args.push('--port', String(port));
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
    url: (db = 0) =>
      `${opts.tls ? 'rediss' : 'redis'}://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ''}${host}:${port}/${db}`,
    start,
    stop: (timeoutMs = 5000) => signal('SIGTERM', timeoutMs),
    kill: () => signal('SIGKILL', 5000),
    running: () => !!child && child.exitCode === null && child.signalCode === null,
    cli: (...args: string[]) =>
      new Promise((resolve, reject) => {
        const auth = opts.password ? ['--no-auth-warning', '-a', opts.password] : [];
        const client = opts.clientCert ? ['--cert', opts.clientCert.cert, '--key', opts.clientCert.key] : [];
        const tls = opts.tls ? ['--tls', '--cacert', opts.tls.ca, ...client] : [];
        execFile(
          'redis-cli',
          ['-h', host, '-p', String(port), ...tls, ...auth, ...args],
          { timeout: 5000 },
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        );
      }),
    output: () => out,
  };
  await start();
  return server;
}

/**
 * A Sentinel (redis-server --sentinel) watching `master` under `name`, on a free port; resolves
 * once it monitors the master. `stop()` ends it.
 */
export async function startRedisSentinel(
  master: RedisServer,
  dir: string,
  name = 'mymaster',
  readyTimeoutMs = 10_000,
): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort(master.host);
  const conf = `${dir}/sentinel-${port}.conf`;
  // Sentinel rewrites its config file, so it gets its own.
  writeFileSync(conf, `port ${port}\nbind ${master.host}\nsentinel monitor ${name} ${master.host} ${master.port} 1\n`);
  const c = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`sentinel not monitoring in ${readyTimeoutMs} ms:\n${out}`)),
      readyTimeoutMs,
    );
    c.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('+monitor master')) {
        clearTimeout(timer);
        resolve();
      }
    });
    c.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sentinel exited (${code}):\n${out}`));
    });
  });
  return {
    port,
    stop: async () => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
