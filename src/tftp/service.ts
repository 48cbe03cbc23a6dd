/**
 * The TFTP interceptor (issue 5): listens on every outside interface at `listen.tftp`, answers
 * CTL requests with the appliance's CTL, fetches phone configurations from the UCM TFTP server,
 * rewrites and signs them, relays every other file as a stream, and keeps the secure-phones
 * database. Protocol decisions live in the pure modules next to this one (packet, names,
 * cnf-rewrite, rate-limit); this file owns sockets, timers and the order of things.
 */
import { createHash } from 'node:crypto';
import type dgram from 'node:dgram';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pino from 'pino';
import { parseSignedFile } from '../../ctl';
import type { CtlSource } from '../contracts/ctl';
import type { Listening, OperatorViews, Service, ServiceContext } from '../contracts/service';
import { applianceFiles } from './appliance-files';
import { CnfParseError, type CnfRewriteResult, rewriteCnf } from './cnf-rewrite';
import { checkName, classify } from './names';
import { encodeError, OP_RRQ, OP_WRQ, parseRequest, printable, TftpErrorCode, TftpRequestError } from './packet';
import { RateLimiter } from './rate-limit';
import { ResultCache } from './result-cache';
import { SECURE_PHONES_FILE, SecurePhones } from './secure-phones';
import {
  type Listener,
  type ServerRequest,
  type ServerResponse,
  startListener,
  TFTP_MESSAGES,
  Upstream,
  UpstreamError,
} from './tftp-package';
import { registerTftpMetrics, tftpViews } from './views';

/** Every way a request can end; `show phone-proxy tftp` and the metrics count each. */
export const OUTCOMES = [
  'ctl-served',
  'config-signed-served',
  'config-unsigned-served',
  'resigned-served',
  'relayed',
  'itl-refused',
  'encrypted-config-refused',
  'upstream-not-found',
  'upstream-timeout',
  'upstream-error',
  'config-parse-error',
  'file-parse-error',
  'access-violation',
  'write-refused',
  'bad-request',
  'rate-limited-source',
  'rate-limited-global',
  'duplicate-request',
  'transfer-failed',
  'internal-error',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** What the interceptor needs from the PKI: the CTL bytes and the signing of a file. */
export interface ApplianceFiles {
  ctl(): Buffer;
  sign(content: Buffer, fileName: string): Buffer;
}

export interface TftpServiceOptions {
  /** The CTL service's CTL; without one (the interceptor started alone) it is built here, once. */
  ctl?: CtlSource;
  /** CTL and signing; the default comes from src/pki (see appliance-files.ts). */
  files?: ApplianceFiles;
  now?: () => number;
  /** Largest configuration file accepted from upstream. */
  maxConfigBytes?: number;
  /** Largest other file re-signed for an `.sgn` request (held in memory to be signed). */
  maxSignedFileBytes?: number;
  /** Overrides the policy's listen.tftp port (tests). */
  port?: number;
}

export interface TftpService extends Service {
  readonly name: 'tftp';
  operatorViews(): OperatorViews;
  readonly securePhones: SecurePhones;
  readonly counters: Record<Outcome, number>;
  readonly cache: ResultCache<CachedConfig>;
  /** Where the listeners are, once started. */
  listeners(): { interface: string; address: string; port: number }[];
  signing(): { count: number; totalMs: number };
  relay(): { peakBufferedBytes: number };
  /** Requests accepted and not yet finished. */
  inProgress(): number;
}

export interface CachedConfig {
  bytes: Buffer;
  /** Absent for re-signed non-configuration files. */
  rewrite: Omit<CnfRewriteResult, 'xml'> | undefined;
}

const DUPLICATE_WINDOW_MS = 30_000;

export function createTftpService(ctx: ServiceContext, opts: TftpServiceOptions = {}): TftpService {
  const { policy } = ctx.loaded;
  const log: pino.Logger = ctx.logs.for('tftp');
  const now = opts.now ?? Date.now;
  const maxConfigBytes = opts.maxConfigBytes ?? 1024 * 1024;
  const maxSignedFileBytes = opts.maxSignedFileBytes ?? 4 * 1024 * 1024;
  const counters = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  const outside = policy.interfaces.filter((i) => i.role === 'outside');
  const upstreamCfg = policy['tftp-server'];
  // Requests to UCM leave from the inside interface the policy names for the TFTP server.
  const inside = policy.interfaces.find((i) => i.name === upstreamCfg.interface);
  const upstream = new Upstream({
    host: upstreamCfg.address,
    port: upstreamCfg.port,
    timeoutMs: upstreamCfg.timeout * 1000,
    localAddress: inside?.address.split('/')[0],
  });
  const limiter = new RateLimiter({
    perSource: policy.tftp['rate-limit']['per-source'],
    global: policy.tftp['rate-limit'].global,
    burst: policy.tftp['rate-limit'].burst,
  });
  const securePhones = new SecurePhones({
    timeoutSec: policy['secure-phones-timeout'],
    file: path.join(ctx.state.dir, SECURE_PHONES_FILE),
    now,
    onError: (err) => log.error({ err: err.message }, 'secure-phones database'),
  });
  const cache = new ResultCache<CachedConfig>();
  const inflight = new Map<string, number>();
  const listeners: (Listener & { iface: string })[] = [];
  const signingStats = { count: 0, totalMs: 0 };
  /** Largest amount of one relayed file held by the appliance at once (taken from UCM, not yet written to the phone). */
  const relayStats = { peakBufferedBytes: 0 };
  let files: ApplianceFiles | undefined = opts.files;
  let sweepTimer: NodeJS.Timeout | undefined;
  const proxy = policy['proxy-server'];

  const count = (o: Outcome) => {
    counters[o]++;
  };

  /** Request-level refusals are answered from the listening socket: no transfer socket for hostile traffic. */
  const prefilter = (msg: Buffer, rinfo: dgram.RemoteInfo, socket: dgram.Socket): boolean => {
    const from = `${rinfo.address}:${rinfo.port}`;
    const op = msg.length >= 2 ? msg.readUInt16BE(0) : 0;
    if (op !== OP_RRQ && op !== OP_WRQ) {
      // Stray DATA/ACK/ERROR to the listening port, or junk: RFC 1350 expects no answer to those.
      count('bad-request');
      log.debug({ from, op, bytes: msg.length }, 'not a TFTP request, dropped');
      return false;
    }
    const verdict = limiter.take(rinfo.address, now());
    if (verdict !== 'ok') {
      count(verdict === 'global' ? 'rate-limited-global' : 'rate-limited-source');
      log.debug({ from, limit: verdict }, 'request over the rate limit, dropped');
      return false;
    }
    const reply = (code: TftpErrorCode, text: string) =>
      socket.send(encodeError(code, text), rinfo.port, rinfo.address);
    let file: string;
    try {
      const req = parseRequest(msg);
      file = req.file;
      if (req.op === 'WRQ') {
        count('write-refused');
        log.debug({ from, file: printable(file) }, 'write request refused');
        reply(TftpErrorCode.AccessViolation, TFTP_MESSAGES.accessViolation);
        return false;
      }
      checkName(file);
    } catch (err) {
      if (!(err instanceof TftpRequestError)) throw err;
      const access = err.code === TftpErrorCode.AccessViolation;
      count(access ? 'access-violation' : 'bad-request');
      log.debug(
        { from, reason: err.reason, request: printable(msg.subarray(2).toString('latin1')) },
        'request refused',
      );
      reply(err.code, access ? TFTP_MESSAGES.accessViolation : TFTP_MESSAGES.illegal);
      return false;
    }
    // A phone retransmits its RRQ while the appliance is still fetching upstream: one transfer per request.
    const key = `${from}/${file}`;
    const t = inflight.get(key);
    const at = now();
    if (t !== undefined && at - t < DUPLICATE_WINDOW_MS) {
      count('duplicate-request');
      log.debug({ from, file }, 'retransmitted request while the first is in progress, dropped');
      return false;
    }
    inflight.set(key, at);
    return true;
  };

  const onRequest = (iface: { name: string; address: string }) => (req: ServerRequest, res: ServerResponse) => {
    const from = `${req.stats.remoteAddress}:${req.stats.remotePort}`;
    const file = req.file;
    const key = `${from}/${file}`;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      inflight.delete(key);
    };
    // Retransmitted RRQs are dropped only while the answer is being prepared (upstream fetch,
    // signing); once the appliance answers, a new RRQ from that port is a new request.
    const setSize = res.setSize.bind(res);
    res.setSize = (n: number) => {
      done();
      setSize(n);
    };
    const abort = req.abort.bind(req);
    req.abort = (m?: string) => {
      done();
      abort(m);
    };
    req.on('close', done);
    req.on('abort', done);
    req.on('error', (err: Error) => {
      done();
      log.debug({ from, file, err: err.message }, 'transfer to phone ended with an error');
    });
    handle(iface, req, res, from).catch((err: Error) => {
      count('internal-error');
      log.error({ from, file, err: err.message }, 'TFTP request failed');
      req.abort(TFTP_MESSAGES.notFound);
    });
  };

  const refuse = (req: ServerRequest, outcome: Outcome, message: string) => {
    count(outcome);
    req.abort(message);
  };

  const serveBuffer = (req: ServerRequest, res: ServerResponse, bytes: Buffer, outcome: Outcome) => {
    count(outcome);
    req.on('error', () => count('transfer-failed'));
    res.setSize(bytes.length);
    res.end(bytes);
  };

  const upstreamFailure = (req: ServerRequest, file: string, from: string, err: unknown) => {
    if (!(err instanceof UpstreamError)) throw err;
    if (err.timedOut) {
      log.warn({ from, file, cause: err.message }, 'UCM TFTP server did not answer; phone gets an error');
      refuse(req, 'upstream-timeout', 'TFTP server timeout');
    } else if (err.tftpCode === TftpErrorCode.FileNotFound) {
      log.debug({ from, file, cause: 'file not found on the UCM TFTP server' }, 'upstream: file not found');
      refuse(req, 'upstream-not-found', TFTP_MESSAGES.notFound);
    } else {
      log.warn({ from, file, cause: err.message, code: err.tftpCode }, 'UCM TFTP server refused the file');
      refuse(
        req,
        'upstream-error',
        err.tftpCode === TftpErrorCode.AccessViolation ? TFTP_MESSAGES.accessViolation : TFTP_MESSAGES.notFound,
      );
    }
  };

  async function handle(
    iface: { name: string; address: string },
    req: ServerRequest,
    res: ServerResponse,
    from: string,
  ) {
    const file = req.file;
    const kind = classify(file);
    log.debug({ from, file, kind: kind.kind, iface: iface.name }, 'RRQ');
    switch (kind.kind) {
      case 'ctl':
        serveBuffer(req, res, needFiles().ctl(), 'ctl-served');
        return;
      case 'itl':
        // The UCM ITL is signed by a UCM key the appliance's CTL does not name: a phone would
        // reject it or, worse, trust the UCM TFTP key for files the appliance signs. Not found
        // makes the phone carry on with the CTL alone (cnf-xml.md §2.2, CTLSEP not found).
        log.debug({ from, file }, 'ITL request answered "file not found" (the CTL is the trust list)');
        refuse(req, 'itl-refused', TFTP_MESSAGES.notFound);
        return;
      case 'encrypted-config':
        log.warn(
          { from, file, device: kind.deviceName },
          'encrypted configuration requested: not supported through the proxy',
        );
        refuse(req, 'encrypted-config-refused', TFTP_MESSAGES.notFound);
        return;
      case 'config':
        await serveConfig(iface, req, res, from, kind);
        return;
      case 'signed-file':
        await serveResigned(req, res, from, kind.plainName);
        return;
      case 'relay':
        await relay(req, res, from);
        return;
    }
  }

  /** The signed name from UCM, its body re-signed; or, when UCM has none, the plain file signed. */
  async function serveResigned(req: ServerRequest, res: ServerResponse, from: string, plainName: string) {
    const file = req.file;
    let upstreamBytes: Buffer;
    let fromSigned = true;
    try {
      upstreamBytes = await upstream.getBuffer(file, maxSignedFileBytes);
    } catch (err) {
      if (!(err instanceof UpstreamError) || err.tftpCode !== TftpErrorCode.FileNotFound) {
        upstreamFailure(req, file, from, err);
        return;
      }
      fromSigned = false;
      try {
        upstreamBytes = await upstream.getBuffer(plainName, maxSignedFileBytes);
      } catch (err2) {
        upstreamFailure(req, plainName, from, err2);
        return;
      }
    }
    const hash = createHash('sha256').update(upstreamBytes).digest('hex');
    let result: { value: { bytes: Buffer }; hit: boolean };
    try {
      result = await cache.get(`${hash}/resign/${file}/${fromSigned}`, () => {
        let content = upstreamBytes;
        let innerName = path.posix.basename(plainName);
        if (fromSigned) {
          const parsed = parseSignedFile(upstreamBytes);
          content = parsed.content;
          innerName = parsed.header.fileName || innerName;
        }
        const t0 = performance.now();
        const bytes = needFiles().sign(content, innerName);
        signingStats.count++;
        signingStats.totalMs += performance.now() - t0;
        return { bytes, rewrite: undefined };
      });
    } catch (err) {
      // Seed 003, "non-configuration file parsing error": UCM's .sgn is not a signed file we can read.
      log.warn(
        { from, file, cause: (err as Error).message },
        `non-configuration file parsing error: ${file}: ${(err as Error).message}`,
      );
      refuse(req, 'file-parse-error', 'File parsing error');
      return;
    }
    log.debug(
      { from, file, source: fromSigned ? file : plainName, cached: result.hit },
      're-signed with the appliance key',
    );
    serveBuffer(req, res, result.value.bytes, 'resigned-served');
  }

  async function serveConfig(
    iface: { name: string; address: string },
    req: ServerRequest,
    res: ServerResponse,
    from: string,
    kind: { deviceName: string; mac: string; signed: boolean; upstreamName: string },
  ) {
    let plain: Buffer;
    try {
      plain = await upstream.getBuffer(kind.upstreamName, maxConfigBytes);
    } catch (err) {
      upstreamFailure(req, kind.upstreamName, from, err);
      return;
    }
    const hash = createHash('sha256').update(plain).digest('hex');
    const cacheKey = `${hash}/${kind.signed ? 'sgn' : 'xml'}/${kind.upstreamName}/${iface.address}`;
    let result: { value: CachedConfig; hit: boolean };
    try {
      result = await cache.get(cacheKey, () => {
        const r = rewriteCnf(plain.toString('latin1'), {
          applianceAddress: iface.address,
          sipTlsPort: policy.listen['sip-tls'],
          sccpTlsPort: policy.listen['sccp-tls'],
          cipcAuthenticated: policy.cipc?.['security-mode'] === 'authenticated',
          disableServiceSettings: !policy['preserve-net-config'],
          proxyServer: proxy ? `${proxy.address}:${proxy.port}` : undefined,
        });
        const xml = Buffer.from(r.xml, 'latin1');
        const { xml: _x, ...meta } = r;
        if (!kind.signed) return { bytes: xml, rewrite: meta };
        const t0 = performance.now();
        const signed = needFiles().sign(xml, kind.upstreamName);
        signingStats.count++;
        signingStats.totalMs += performance.now() - t0;
        return { bytes: signed, rewrite: meta };
      });
    } catch (err) {
      if (err instanceof CnfParseError) {
        // The ASA's "configuration file parsing error": never serve the unrewritten file.
        log.warn(
          {
            from,
            device: kind.deviceName,
            file: kind.upstreamName,
            line: err.line,
            column: err.column,
            cause: err.reason,
          },
          `configuration file parsing error: ${kind.deviceName} ${kind.upstreamName}:${err.line}:${err.column}: ${err.reason}`,
        );
        refuse(req, 'config-parse-error', 'Configuration file parsing error');
        return;
      }
      throw err;
    }
    const r = result.value.rewrite as Omit<CnfRewriteResult, 'xml'>;
    securePhones.record({
      deviceName: kind.deviceName,
      mac: kind.mac,
      address: req.stats.remoteAddress,
      port: req.stats.remotePort,
      interface: iface.name,
      originalMode: r.deviceSecurityMode,
      forcedMode: r.forcedMode,
      protocol: r.protocol,
    });
    if (!kind.signed) {
      // Seed 003, "IP phone requesting unsigned file": the phone has not installed the CTL.
      log.warn(
        { from, device: kind.deviceName },
        'phone requested its unsigned configuration: has it installed the CTL?',
      );
    }
    log.debug(
      {
        from,
        device: kind.deviceName,
        cached: result.hit,
        original: r.deviceSecurityMode,
        forced: r.forcedMode,
        changes: r.changes,
      },
      'configuration rewritten',
    );
    serveBuffer(req, res, result.value.bytes, kind.signed ? 'config-signed-served' : 'config-unsigned-served');
  }

  async function relay(req: ServerRequest, res: ServerResponse, from: string) {
    const file = req.file;
    const up = upstream.get(file);
    const size = await up.size;
    // The stream errors before any size when upstream refuses or times out.
    if (size === null && up.stream.destroyed) {
      const err = await new Promise<unknown>((resolve) => {
        if (up.stream.errored) resolve(up.stream.errored);
        else up.stream.once('error', resolve);
      });
      upstreamFailure(req, file, from, err);
      return;
    }
    let phoneGone = false;
    req.on('abort', () => {
      phoneGone = true;
    });
    req.on('error', () => {
      phoneGone = true;
      up.abort();
      up.stream.destroy();
    });
    try {
      if (size !== null) {
        res.setSize(size);
        await copyInto(
          up.stream,
          res,
          () => phoneGone,
          (written) => {
            const held = up.received() - written;
            if (held > relayStats.peakBufferedBytes) relayStats.peakBufferedBytes = held;
          },
        );
      } else {
        await relaySpooled(up.stream, res, () => phoneGone);
      }
      count('relayed');
      log.debug({ from, file, bytes: size }, 'relayed');
    } catch (err) {
      if (phoneGone) {
        count('transfer-failed');
        return;
      }
      if (err instanceof UpstreamError) {
        count(err.timedOut ? 'upstream-timeout' : 'upstream-error');
        log.warn({ from, file, cause: err.message }, 'relay interrupted by the UCM TFTP server');
        req.abort('I/O error');
        return;
      }
      throw err;
    }
  }

  /** The package's server needs the size before the first block: without tsize, spool to disk first. */
  async function relaySpooled(stream: NodeJS.ReadableStream, res: ServerResponse, gone: () => boolean) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pp-tftp-'));
    const tmp = path.join(dir, 'spool');
    try {
      await pipeline(stream, createWriteStream(tmp, { mode: 0o600 }));
      res.setSize(statSync(tmp).size);
      await copyInto(createReadStream(tmp), res, gone);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  function needFiles(): ApplianceFiles {
    if (!files) files = applianceFiles(ctx, opts.ctl);
    return files;
  }

  const service: TftpService = {
    name: 'tftp',
    securePhones,
    counters,
    cache,
    listeners: () => listeners.map((l) => ({ interface: l.iface, address: l.address, port: l.port })),
    signing: () => ({ ...signingStats }),
    relay: () => ({ ...relayStats }),
    inProgress: () => inflight.size,

    async start(): Promise<Listening[]> {
      const loaded = securePhones.load();
      // Build the CTL now so a PKI problem stops the start, not the first phone.
      needFiles().ctl();
      for (const i of outside) {
        const address = i.address.split('/')[0] as string;
        const l = await startListener({
          address,
          port: opts.port ?? policy.listen.tftp,
          prefilter,
          onRequest: onRequest({ name: i.name, address }),
        });
        listeners.push({ ...l, iface: i.name });
      }
      sweepTimer = setInterval(() => {
        const t = now();
        limiter.sweep(t);
        for (const [k, at] of inflight) if (t - at > DUPLICATE_WINDOW_MS) inflight.delete(k);
        securePhones.prune();
      }, 10_000);
      sweepTimer.unref();
      registerTftpMetrics(ctx.metrics, service);
      log.info(
        {
          listeners: service.listeners(),
          upstream: `${upstreamCfg.address}:${upstreamCfg.port}`,
          securePhones: loaded,
        },
        'TFTP interceptor started',
      );
      return listeners.map((l) => ({ what: `tftp (${l.iface})`, protocol: 'udp', address: l.address, port: l.port }));
    },

    operatorViews: () => tftpViews(service, upstreamCfg, policy['secure-phones-timeout'], now),

    async stop(): Promise<void> {
      if (sweepTimer) clearInterval(sweepTimer);
      for (const l of listeners.splice(0)) await l.close();
      try {
        securePhones.flush();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'secure-phones database not saved');
      }
    },
  };
  return service;
}

/**
 * Writes a stream into the package's response honouring its back-pressure. Not pipe(): the
 * package's response aborts the transfer (error "Aborted" to the phone) when it is unpiped before
 * its last block is acknowledged, which pipe() does as soon as the source ends.
 */
async function copyInto(
  src: AsyncIterable<unknown>,
  res: ServerResponse,
  gone: () => boolean,
  progress?: (written: number) => void,
): Promise<void> {
  let written = 0;
  for await (const chunk of src) {
    if (gone()) throw new Error('phone went away');
    progress?.(written);
    const n = (chunk as Buffer).length;
    const more = res.write(chunk as Buffer, () => {
      written += n;
    });
    if (!more) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          clearInterval(poll);
          resolve();
        };
        // The package never emits 'drain' for an aborted transfer: look at the phone side too.
        const poll = setInterval(() => gone() && done(), 1000);
        res.on('drain', done);
      });
    }
  }
  await new Promise<void>((resolve) => res.end(resolve));
}
