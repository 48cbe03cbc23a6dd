/**
 * Management API: plain HTTP+JSON on a UNIX socket in the control directory (the state
 * directory unless `--control-dir`; the package: /run/phone-proxy, 0750), reachable only by
 * whoever can open that directory, or on 127.0.0.1 with a bearer token kept in the state
 * directory. Routes:
 *   GET  /show/<word>/<word>...   → ViewResult
 *   POST /clear/<word>/...        → { message }
 *   POST /debug/<category>/<on|off>
 *   POST /command/<word>/...      → { message }  (capture, no capture: other operator commands)
 *   POST /reload                  → { file, applied, restartOnly } (src/policy-reload.ts)
 *   GET  /commands                → registered show/clear names
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { ApiError, catalogueCode } from '../errors';
import type { Logs } from '../log';
import { isDebugCategory } from '../log';
import type { ControlRegistry } from './registry';

export const SOCKET_NAME = 'control.sock';
export const TOKEN_NAME = 'control.token';
export const ENDPOINT_NAME = 'control.json';

/** How a client finds the daemon: written to <control dir>/control.json at start. */
export interface ControlEndpoint {
  socketPath?: string;
  host?: string;
  port?: number;
  pid: number;
}

type Reload = () => Promise<unknown>;

async function route(
  registry: ControlRegistry,
  logs: Logs,
  reload: Reload | undefined,
  method: string,
  url: string,
): Promise<unknown> {
  const words = (url.split('?')[0] ?? '')
    .split('/')
    .filter(Boolean)
    .map((w) => decodeURIComponent(w));
  const [kind, ...rest] = words;
  if (method === 'GET' && kind === 'commands') return registry.list();
  if (method === 'GET' && kind === 'show') {
    const found = registry.findShow(rest);
    if (!found) throw new ApiError(404, `no such view: show ${rest.join(' ')}`);
    return found.item.render(found.args);
  }
  if (method === 'POST' && kind === 'clear') {
    const found = registry.findClear(rest);
    if (!found) throw new ApiError(404, `no such action: clear ${rest.join(' ')}`);
    return { message: await found.item.run(found.args) };
  }
  if (method === 'POST' && kind === 'command') {
    const found = registry.findCommand(rest);
    if (!found) throw new ApiError(404, `no such command: ${rest.join(' ')}`);
    return { message: await found.item.run(found.args) };
  }
  if (method === 'POST' && kind === 'reload' && rest.length === 0 && reload) return reload();
  if (method === 'POST' && kind === 'debug') {
    const [category, state] = rest;
    if (!category || !isDebugCategory(category) || (state !== 'on' && state !== 'off')) {
      throw new ApiError(400, 'usage: debug <tftp|signaling|media|events|errors> on|off');
    }
    logs.setDebug(category, state === 'on');
    return { message: `debug ${category} ${state}` };
  }
  throw new ApiError(404, `unknown request ${method} ${url}`);
}

export interface ControlServer {
  endpoint: ControlEndpoint;
  close(): Promise<void>;
}

export async function startControlServer(opts: {
  stateDir: string;
  /** Socket and control.json; default the state directory. The token stays in the state directory. */
  controlDir?: string;
  registry: ControlRegistry;
  logs: Logs;
  /** `POST /reload`: the daemon's live reload; refusals come back as errors. */
  reload?: Reload;
  tcpPort?: number;
}): Promise<ControlServer> {
  const { stateDir, registry, logs } = opts;
  const controlDir = opts.controlDir ?? stateDir;
  const token = opts.tcpPort === undefined ? undefined : loadOrCreateToken(stateDir);
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (token && !tokenMatches(req.headers.authorization, token)) return reply(401, { error: 'bad or missing token' });
    route(registry, logs, opts.reload, req.method ?? 'GET', req.url ?? '/').then(
      (body) => reply(200, body),
      (err: unknown) => {
        const status = err instanceof ApiError ? err.status : 400;
        reply(status, { error: err instanceof Error ? err.message : String(err), code: catalogueCode(err) });
      },
    );
  });

  let endpoint: ControlEndpoint;
  if (opts.tcpPort === undefined) {
    const socketPath = path.join(controlDir, SOCKET_NAME);
    // A socket file here was left by a crashed daemon: assertNoRunningDaemon found nobody answering.
    if (existsSync(socketPath)) unlinkSync(socketPath);
    await listen(server, { path: socketPath });
    // The directory decides who gets in: the state directory is 0700, the package's
    // /run/phone-proxy 0750 (the phone-proxy group may manage the appliance).
    chmodSync(socketPath, 0o660);
    endpoint = { socketPath, pid: process.pid };
  } else {
    await listen(server, { host: '127.0.0.1', port: opts.tcpPort });
    endpoint = { host: '127.0.0.1', port: opts.tcpPort, pid: process.pid };
  }
  const endpointFile = path.join(controlDir, ENDPOINT_NAME);
  writeFileSync(endpointFile, `${JSON.stringify(endpoint)}\n`, { mode: 0o640 });
  chmodSync(endpointFile, 0o640);
  return {
    endpoint,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        try {
          unlinkSync(endpointFile);
        } catch {
          /* already gone */
        }
      }),
  };
}

function listen(server: http.Server, where: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function answers(where: { path: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(where as net.NetConnectOpts);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * One daemon per control directory (the state directory unless --control-dir): checked before
 * any listener opens, so a second start fails with this reason rather than with a port in use.
 */
export async function assertNoRunningDaemon(controlDir: string): Promise<void> {
  const socketPath = path.join(controlDir, SOCKET_NAME);
  let endpoint: ControlEndpoint | undefined;
  try {
    endpoint = JSON.parse(readFileSync(path.join(controlDir, ENDPOINT_NAME), 'utf8')) as ControlEndpoint;
  } catch {
    /* no endpoint file: nothing announced itself */
  }
  const alive =
    (existsSync(socketPath) && (await answers({ path: socketPath }))) ||
    (endpoint?.port !== undefined && (await answers({ host: endpoint.host ?? '127.0.0.1', port: endpoint.port })));
  if (alive) {
    throw new Error(
      `another phone-proxy is already running with control directory ${controlDir} (pid ${endpoint?.pid ?? '?'})`,
    );
  }
}

function loadOrCreateToken(stateDir: string): string {
  const file = path.join(stateDir, TOKEN_NAME);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(24).toString('hex');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.replace(/^Bearer\s+/i, '') ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/**
 * Client side, used by the CLI: finds the daemon through its control directory (control.json);
 * the token of a TCP control API is read from the state directory.
 */
export async function callDaemon(
  controlDir: string,
  method: 'GET' | 'POST',
  words: string[],
  stateDir = controlDir,
): Promise<unknown> {
  const endpointFile = path.join(controlDir, ENDPOINT_NAME);
  let endpoint: ControlEndpoint;
  try {
    endpoint = JSON.parse(readFileSync(endpointFile, 'utf8')) as ControlEndpoint;
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'EACCES' ? `cannot read ${endpointFile}` : `missing ${endpointFile}`;
    throw new Error(`no running phone-proxy found in ${controlDir} (${why})`);
  }
  const headers: Record<string, string> = {};
  if (endpoint.port !== undefined)
    headers.authorization = `Bearer ${readFileSync(path.join(stateDir, TOKEN_NAME), 'utf8').trim()}`;
  const urlPath = `/${words.map(encodeURIComponent).join('/')}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      endpoint.socketPath
        ? { socketPath: endpoint.socketPath, path: urlPath, method, headers }
        : { host: endpoint.host, port: endpoint.port, path: urlPath, method, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { error?: string; code?: string };
          // The daemon's catalogue code goes on with the message, so the CLI line names it.
          if ((res.statusCode ?? 500) >= 400)
            reject(Object.assign(new Error(body.error ?? `HTTP ${res.statusCode}`), { code: body.code }));
          else resolve(body);
        });
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('the daemon did not answer within 10 s')));
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ECONNREFUSED' || err.code === 'ENOENT'
          ? new Error(`phone-proxy is not running for control directory ${controlDir} (${err.code})`)
          : err,
      ),
    );
    req.end();
  });
}
