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
import type { Listening, OperatorViews, ServiceContext } from '../contracts/service';
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
import {
  type ApplianceFiles,
  type CachedConfig,
  OUTCOMES,
  type Outcome,
  type TftpService,
  type TftpServiceOptions,
} from './types';
import { registerTftpMetrics, tftpViews } from './views';

// The shared shapes moved to types.ts (issue 16); re-exported for existing importers.
export { type ApplianceFiles, type CachedConfig, OUTCOMES, type Outcome, type TftpService, type TftpServiceOptions };

/** A retransmitted RRQ within this time of the first, while that one is still being answered, is a duplicate. */
const DUPLICATE_WINDOW_MS = 30_000;

type Iface = { name: string; address: string };
type ConfigKind = { deviceName: string; mac: string; signed: boolean; upstreamName: string };

/**
 * The interceptor: one instance per appliance. The steps of a request are the private methods,
 * in order: admit (rate limit, name checks, duplicates), handle (classify the name), then one of
 * serveCtl / serveConfig / serveResigned / relay; views and metrics read the public fields.
 */
export class TftpInterceptor implements TftpService {
  readonly name = 'tftp';
  readonly counters = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  readonly securePhones: SecurePhones;
  readonly cache = new ResultCache<CachedConfig>();

  private readonly policy: ServiceContext['loaded']['policy'];
  private readonly log: pino.Logger;
  private readonly now: () => number;
  private readonly maxConfigBytes: number;
  private readonly maxSignedFileBytes: number;
  private readonly upstream: Upstream;
  private readonly limiter: RateLimiter;
  /** `address:port/file` of requests accepted and not yet answered, with when they arrived. */
  private readonly inflight = new Map<string, number>();
  private readonly listening: (Listener & { iface: string })[] = [];
  private readonly signingStats = { count: 0, totalMs: 0 };
  /** Largest amount of one relayed file held by the appliance at once (taken from UCM, not yet written to the phone). */
  private readonly relayStats = { peakBufferedBytes: 0 };
  private files: ApplianceFiles | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly opts: TftpServiceOptions = {},
  ) {
    this.policy = ctx.loaded.policy;
    this.log = ctx.logs.for('tftp');
    this.now = opts.now ?? Date.now;
    this.maxConfigBytes = opts.maxConfigBytes ?? 1024 * 1024;
    this.maxSignedFileBytes = opts.maxSignedFileBytes ?? 4 * 1024 * 1024;
    this.files = opts.files;
    const upstreamCfg = this.policy['tftp-server'];
    // Requests to UCM leave from the inside interface the policy names for the TFTP server.
    const inside = this.policy.interfaces.find((i) => i.name === upstreamCfg.interface);
    this.upstream = new Upstream({
      host: upstreamCfg.address,
      port: upstreamCfg.port,
      timeoutMs: upstreamCfg.timeout * 1000,
      localAddress: inside?.address.split('/')[0],
    });
    const rl = this.policy.tftp['rate-limit'];
    this.limiter = new RateLimiter({ perSource: rl['per-source'], global: rl.global, burst: rl.burst });
    this.securePhones = new SecurePhones({
      timeoutSec: this.policy['secure-phones-timeout'],
      file: path.join(ctx.state.dir, SECURE_PHONES_FILE),
      now: this.now,
      onError: (err) => this.log.error({ err: err.message }, 'secure-phones database'),
    });
  }

  // ------------------------------------------------------------ service lifecycle and views

  async start(): Promise<Listening[]> {
    const loaded = this.securePhones.load();
    // Build the CTL now so a PKI problem stops the start, not the first phone.
    this.needFiles().ctl();
    for (const i of this.policy.interfaces.filter((x) => x.role === 'outside')) {
      const iface = { name: i.name, address: i.address.split('/')[0] as string };
      const l = await startListener({
        address: iface.address,
        port: this.opts.port ?? this.policy.listen.tftp,
        prefilter: (msg, rinfo, socket) => this.admit(msg, rinfo, socket),
        onRequest: (req, res) => this.accept(iface, req, res),
      });
      this.listening.push({ ...l, iface: i.name });
    }
    this.sweepTimer = setInterval(() => this.sweep(), 10_000);
    this.sweepTimer.unref();
    registerTftpMetrics(this.ctx.metrics, this);
    const up = this.policy['tftp-server'];
    this.log.info(
      { listeners: this.listeners(), upstream: `${up.address}:${up.port}`, securePhones: loaded },
      'TFTP interceptor started',
    );
    return this.listening.map((l) => ({
      what: `tftp (${l.iface})`,
      protocol: 'udp',
      address: l.address,
      port: l.port,
    }));
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const l of this.listening.splice(0)) await l.close();
    try {
      this.securePhones.flush();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'secure-phones database not saved');
    }
  }

  operatorViews(): OperatorViews {
    return tftpViews(this, this.policy['tftp-server'], this.policy['secure-phones-timeout'], this.now);
  }

  listeners(): { interface: string; address: string; port: number }[] {
    return this.listening.map((l) => ({ interface: l.iface, address: l.address, port: l.port }));
  }

  signing(): { count: number; totalMs: number } {
    return { ...this.signingStats };
  }

  relay(): { peakBufferedBytes: number } {
    return { ...this.relayStats };
  }

  inProgress(): number {
    return this.inflight.size;
  }

  private sweep(): void {
    const t = this.now();
    this.limiter.sweep(t);
    for (const [k, at] of this.inflight) if (t - at > DUPLICATE_WINDOW_MS) this.inflight.delete(k);
    this.securePhones.prune();
  }

  private count(o: Outcome): void {
    this.counters[o]++;
  }

  // ------------------------------------------------------------ admission

  /** Request-level refusals are answered from the listening socket: no transfer socket for hostile traffic. */
  private admit(msg: Buffer, rinfo: dgram.RemoteInfo, socket: dgram.Socket): boolean {
    const from = `${rinfo.address}:${rinfo.port}`;
    const op = msg.length >= 2 ? msg.readUInt16BE(0) : 0;
    if (op !== OP_RRQ && op !== OP_WRQ) {
      // Stray DATA/ACK/ERROR to the listening port, or junk: RFC 1350 expects no answer to those.
      this.count('bad-request');
      this.log.debug({ from, op, bytes: msg.length }, 'not a TFTP request, dropped');
      return false;
    }
    const verdict = this.limiter.take(rinfo.address, this.now());
    if (verdict !== 'ok') {
      this.count(verdict === 'global' ? 'rate-limited-global' : 'rate-limited-source');
      this.log.debug({ from, limit: verdict }, 'request over the rate limit, dropped');
      return false;
    }
    const reply = (code: TftpErrorCode, text: string) =>
      socket.send(encodeError(code, text), rinfo.port, rinfo.address);
    let file: string;
    try {
      const req = parseRequest(msg);
      file = req.file;
      if (req.op === 'WRQ') {
        this.count('write-refused');
        this.log.debug({ from, file: printable(file) }, 'write request refused');
        reply(TftpErrorCode.AccessViolation, TFTP_MESSAGES.accessViolation);
        return false;
      }
      checkName(file);
    } catch (err) {
      if (!(err instanceof TftpRequestError)) throw err;
      const access = err.code === TftpErrorCode.AccessViolation;
      this.count(access ? 'access-violation' : 'bad-request');
      this.log.debug(
        { from, reason: err.reason, request: printable(msg.subarray(2).toString('latin1')) },
        'request refused',
      );
      reply(err.code, access ? TFTP_MESSAGES.accessViolation : TFTP_MESSAGES.illegal);
      return false;
    }
    // A phone retransmits its RRQ while the appliance is still fetching upstream: one transfer per request.
    const key = `${from}/${file}`;
    const t = this.inflight.get(key);
    const at = this.now();
    if (t !== undefined && at - t < DUPLICATE_WINDOW_MS) {
      this.count('duplicate-request');
      this.log.debug({ from, file }, 'retransmitted request while the first is in progress, dropped');
      return false;
    }
    this.inflight.set(key, at);
    return true;
  }

  /** An admitted request: track it until it is answered, then handle it. */
  private accept(iface: Iface, req: ServerRequest, res: ServerResponse): void {
    const from = `${req.stats.remoteAddress}:${req.stats.remotePort}`;
    const file = req.file;
    const key = `${from}/${file}`;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      this.inflight.delete(key);
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
      this.log.debug({ from, file, err: err.message }, 'transfer to phone ended with an error');
    });
    this.handle(iface, req, res, from).catch((err: Error) => {
      this.count('internal-error');
      this.log.error({ from, file, err: err.message }, 'TFTP request failed');
      req.abort(TFTP_MESSAGES.notFound);
    });
  }

  // ------------------------------------------------------------ classification and answers

  private async handle(iface: Iface, req: ServerRequest, res: ServerResponse, from: string): Promise<void> {
    const file = req.file;
    const kind = classify(file);
    this.log.debug({ from, file, kind: kind.kind, iface: iface.name }, 'RRQ');
    switch (kind.kind) {
      case 'ctl':
        this.serveCtl(req, res);
        return;
      case 'itl':
        // The UCM ITL is signed by a UCM key the appliance's CTL does not name: a phone would
        // reject it or, worse, trust the UCM TFTP key for files the appliance signs. Not found
        // makes the phone carry on with the CTL alone (cnf-xml.md §2.2, CTLSEP not found).
        this.log.debug({ from, file }, 'ITL request answered "file not found" (the CTL is the trust list)');
        this.refuse(req, 'itl-refused', TFTP_MESSAGES.notFound);
        return;
      case 'encrypted-config':
        this.log.warn(
          { from, file, device: kind.deviceName },
          'encrypted configuration requested: not supported through the proxy',
        );
        this.refuse(req, 'encrypted-config-refused', TFTP_MESSAGES.notFound);
        return;
      case 'config':
        await this.serveConfig(iface, req, res, from, kind);
        return;
      case 'signed-file':
        await this.serveResigned(req, res, from, kind.plainName);
        return;
      case 'relay':
        await this.relayFile(req, res, from);
        return;
    }
  }

  private refuse(req: ServerRequest, outcome: Outcome, message: string): void {
    this.count(outcome);
    req.abort(message);
  }

  private serveBuffer(req: ServerRequest, res: ServerResponse, bytes: Buffer, outcome: Outcome): void {
    this.count(outcome);
    req.on('error', () => this.count('transfer-failed'));
    res.setSize(bytes.length);
    res.end(bytes);
  }

  private serveCtl(req: ServerRequest, res: ServerResponse): void {
    this.serveBuffer(req, res, this.needFiles().ctl(), 'ctl-served');
  }

  /** Maps an upstream failure to the phone's error and the outcome counted. */
  private upstreamFailure(req: ServerRequest, file: string, from: string, err: unknown): void {
    if (!(err instanceof UpstreamError)) throw err;
    if (err.timedOut) {
      this.log.warn({ from, file, cause: err.message }, 'UCM TFTP server did not answer; phone gets an error');
      this.refuse(req, 'upstream-timeout', 'TFTP server timeout');
    } else if (err.tftpCode === TftpErrorCode.FileNotFound) {
      this.log.debug({ from, file, cause: 'file not found on the UCM TFTP server' }, 'upstream: file not found');
      this.refuse(req, 'upstream-not-found', TFTP_MESSAGES.notFound);
    } else {
      this.log.warn({ from, file, cause: err.message, code: err.tftpCode }, 'UCM TFTP server refused the file');
      this.refuse(
        req,
        'upstream-error',
        err.tftpCode === TftpErrorCode.AccessViolation ? TFTP_MESSAGES.accessViolation : TFTP_MESSAGES.notFound,
      );
    }
  }

  /** Signs with the appliance key, timing it for `show phone-proxy tftp`. */
  private sign(content: Buffer, fileName: string): Buffer {
    const t0 = performance.now();
    const bytes = this.needFiles().sign(content, fileName);
    this.signingStats.count++;
    this.signingStats.totalMs += performance.now() - t0;
    return bytes;
  }

  /** The signed name from UCM, its body re-signed; or, when UCM has none, the plain file signed. */
  private async serveResigned(req: ServerRequest, res: ServerResponse, from: string, plainName: string): Promise<void> {
    const file = req.file;
    let upstreamBytes: Buffer;
    let fromSigned = true;
    try {
      upstreamBytes = await this.upstream.getBuffer(file, this.maxSignedFileBytes);
    } catch (err) {
      if (!(err instanceof UpstreamError) || err.tftpCode !== TftpErrorCode.FileNotFound) {
        this.upstreamFailure(req, file, from, err);
        return;
      }
      fromSigned = false;
      try {
        upstreamBytes = await this.upstream.getBuffer(plainName, this.maxSignedFileBytes);
      } catch (err2) {
        this.upstreamFailure(req, plainName, from, err2);
        return;
      }
    }
    const hash = createHash('sha256').update(upstreamBytes).digest('hex');
    let result: { value: { bytes: Buffer }; hit: boolean };
    try {
      result = await this.cache.get(`${hash}/resign/${file}/${fromSigned}`, () => {
        let content = upstreamBytes;
        let innerName = path.posix.basename(plainName);
        if (fromSigned) {
          const parsed = parseSignedFile(upstreamBytes);
          content = parsed.content;
          innerName = parsed.header.fileName || innerName;
        }
        return { bytes: this.sign(content, innerName), rewrite: undefined };
      });
    } catch (err) {
      // Seed 003, "non-configuration file parsing error": UCM's .sgn is not a signed file we can read.
      this.log.warn(
        { from, file, cause: (err as Error).message },
        `non-configuration file parsing error: ${file}: ${(err as Error).message}`,
      );
      this.refuse(req, 'file-parse-error', 'File parsing error');
      return;
    }
    this.log.debug(
      { from, file, source: fromSigned ? file : plainName, cached: result.hit },
      're-signed with the appliance key',
    );
    this.serveBuffer(req, res, result.value.bytes, 'resigned-served');
  }

  /** The rewritten configuration (signed for `.sgn`), cached by upstream content and appliance address. */
  private rewriteAndSign(
    iface: Iface,
    plain: Buffer,
    kind: ConfigKind,
  ): Promise<{ value: CachedConfig; hit: boolean }> {
    const hash = createHash('sha256').update(plain).digest('hex');
    const cacheKey = `${hash}/${kind.signed ? 'sgn' : 'xml'}/${kind.upstreamName}/${iface.address}`;
    const proxy = this.policy['proxy-server'];
    return this.cache.get(cacheKey, () => {
      const r = rewriteCnf(plain.toString('latin1'), {
        applianceAddress: iface.address,
        sipTlsPort: this.policy.listen['sip-tls'],
        sccpTlsPort: this.policy.listen['sccp-tls'],
        cipcAuthenticated: this.policy.cipc?.['security-mode'] === 'authenticated',
        disableServiceSettings: !this.policy['preserve-net-config'],
        proxyServer: proxy ? `${proxy.address}:${proxy.port}` : undefined,
      });
      const xml = Buffer.from(r.xml, 'latin1');
      const { xml: _x, ...meta } = r;
      if (!kind.signed) return { bytes: xml, rewrite: meta };
      return { bytes: this.sign(xml, kind.upstreamName), rewrite: meta };
    });
  }

  private async serveConfig(
    iface: Iface,
    req: ServerRequest,
    res: ServerResponse,
    from: string,
    kind: ConfigKind,
  ): Promise<void> {
    let plain: Buffer;
    try {
      plain = await this.upstream.getBuffer(kind.upstreamName, this.maxConfigBytes);
    } catch (err) {
      this.upstreamFailure(req, kind.upstreamName, from, err);
      return;
    }
    let result: { value: CachedConfig; hit: boolean };
    try {
      result = await this.rewriteAndSign(iface, plain, kind);
    } catch (err) {
      if (err instanceof CnfParseError) {
        // The ASA's "configuration file parsing error": never serve the unrewritten file.
        this.log.warn(
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
        this.refuse(req, 'config-parse-error', 'Configuration file parsing error');
        return;
      }
      throw err;
    }
    const r = result.value.rewrite as Omit<CnfRewriteResult, 'xml'>;
    this.securePhones.record({
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
      this.log.warn(
        { from, device: kind.deviceName },
        'phone requested its unsigned configuration: has it installed the CTL?',
      );
    }
    this.log.debug(
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
    this.serveBuffer(req, res, result.value.bytes, kind.signed ? 'config-signed-served' : 'config-unsigned-served');
  }

  private async relayFile(req: ServerRequest, res: ServerResponse, from: string): Promise<void> {
    const file = req.file;
    const up = this.upstream.get(file);
    const size = await up.size;
    // The stream errors before any size when upstream refuses or times out.
    if (size === null && up.stream.destroyed) {
      const err = await new Promise<unknown>((resolve) => {
        if (up.stream.errored) resolve(up.stream.errored);
        else up.stream.once('error', resolve);
      });
      this.upstreamFailure(req, file, from, err);
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
            if (held > this.relayStats.peakBufferedBytes) this.relayStats.peakBufferedBytes = held;
          },
        );
      } else {
        await relaySpooled(up.stream, res, () => phoneGone);
      }
      this.count('relayed');
      this.log.debug({ from, file, bytes: size }, 'relayed');
    } catch (err) {
      if (phoneGone) {
        this.count('transfer-failed');
        return;
      }
      if (err instanceof UpstreamError) {
        this.count(err.timedOut ? 'upstream-timeout' : 'upstream-error');
        this.log.warn({ from, file, cause: err.message }, 'relay interrupted by the UCM TFTP server');
        req.abort('I/O error');
        return;
      }
      throw err;
    }
  }

  private needFiles(): ApplianceFiles {
    this.files ??= applianceFiles(this.ctx, this.opts.ctl);
    return this.files;
  }
}

export function createTftpService(ctx: ServiceContext, opts: TftpServiceOptions = {}): TftpService {
  return new TftpInterceptor(ctx, opts);
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
