/**
 * Real peers for the CAPF relay tests: `openssl s_server -rev` as UCM's CAPF (TLS, each line
 * sent back reversed), `openssl s_client` as the phone, a listen(0) socket that never accepts
 * (python3: a CAPF whose accept queue is full, so SYNs go unanswered), and raw TCP helpers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createCertificate, generateRsaKey } from '../../src/pki/x509';

const children = new Set<ChildProcess>();

export function stopPeers(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

export interface CapfCert {
  certFile: string;
  keyFile: string;
  certPem: string;
  fingerprint256: string;
}

/** A CAPF-style certificate (a CA: UCM's CAPF certificate signs the LSCs), written to dir. */
export async function capfCertificate(dir: string, cn = 'CAPF-standin'): Promise<CapfCert> {
  const keyPem = await generateRsaKey(2048);
  const certPem = createCertificate({ subject: `CN=${cn},O=capf-test`, subjectKeyPem: keyPem, ca: true });
  const certFile = path.join(dir, `${cn}.pem`);
  const keyFile = path.join(dir, `${cn}.key`);
  writeFileSync(certFile, certPem);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  return { certFile, keyFile, certPem, fingerprint256: new X509Certificate(certPem).fingerprint256 };
}

/** `openssl s_server -rev` on host:port: the CAPF stand-in. Resolves once it accepts. */
export async function startCapfServer(host: string, port: number, cert: CapfCert): Promise<ChildProcess> {
  const child = track(
    spawn('openssl', ['s_server', '-accept', `${host}:${port}`, '-cert', cert.certFile, '-key', cert.keyFile, '-rev'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  for (let i = 0; i < 100 && !out.includes('ACCEPT'); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!out.includes('ACCEPT')) throw new Error(`openssl s_server did not start on ${host}:${port}: ${out}`);
  return child;
}

export interface ClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `openssl s_client` as the phone: verifies the server against `caFile` (failing the handshake
 * otherwise), sends `lines`, waits until every line came back reversed (or `ms`), then closes.
 */
export function phoneClient(
  host: string,
  port: number,
  caFile: string,
  lines: string[],
  ms = 10_000,
): Promise<ClientRun> {
  const child = track(
    spawn(
      'openssl',
      [
        's_client',
        '-connect',
        `${host}:${port}`,
        '-CAfile',
        caFile,
        '-verify_return_error',
        '-showcerts',
        '-nocommands',
        '-no_ign_eof',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    ),
  );
  let stdout = '';
  let stderr = '';
  const expected = lines.map((l) => [...l].reverse().join(''));
  const done = () => expected.every((e) => stdout.includes(e));
  return new Promise((resolve) => {
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      child.stdin?.end();
    };
    const timer = setTimeout(() => {
      end();
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    }, ms);
    child.stdout?.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (done()) end();
    });
    // s_client reads its input once the handshake is over; until then it waits in the pipe.
    child.stdin?.write(`${lines.join('\n')}\n`);
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.stdin?.on('error', () => undefined);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The certificate s_client printed first (the server's), as PEM. */
export function firstPeerCertificate(stdout: string): string | undefined {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout);
  return m?.[0];
}

/** A TCP listener that never accepts (listen backlog 0, python3): connects to it time out once it is full. */
export async function startSilentListener(host: string, port: number): Promise<ChildProcess> {
  const script = [
    'import socket, sys, time',
    's = socket.socket()',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind(("${host}", ${port}))`,
    's.listen(0)',
    'print("ready", flush=True)',
    'time.sleep(600)',
  ].join('\n');
  const child = track(spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`python3 listener exited ${code}`)));
  });
  // Fill the accept queue: the SYNs after these are dropped by the kernel, unanswered.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = net.connect({ host, port });
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 200));
  child.once('exit', () => {
    for (const s of fillers) s.destroy();
  });
  return child;
}

/** A raw TCP client; resolves on connect. */
export function rawConnect(host: string, port: number, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves when the socket is closed (by the peer or otherwise), with the time it took. */
export function closed(s: net.Socket): Promise<number> {
  const t = Date.now();
  return new Promise((resolve) => {
    if (s.destroyed && s.closed) resolve(0);
    s.on('error', () => undefined);
    s.once('close', () => resolve(Date.now() - t));
    // A peer's FIN with allowHalfOpen off ends it here too.
    s.resume();
  });
}
