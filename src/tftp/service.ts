/**
 * The TFTP interceptor (issue 5): listens on every outside interface at `listen.tftp`, answers
 * CTL requests with the appliance's CTL, fetches phone configurations from the UCM TFTP server,
 * rewrites and signs them, relays every other file as a stream, and keeps the secure-phones
 * database. Protocol decisions live in the pure modules next to this one (packet, names,
 * cnf-rewrite, rate-limit); this file owns sockets, timers and the order of things.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pino from 'pino';
import { parseSignedFile } from '../../ctl';
import { memberMappings, phoneFacingAddress } from '../config/advertised';
import { capfEndpointFor } from '../config/capf-rules';
import { listenerEndpoint } from '../config/policy-schema';
import { touches } from '../config/reload-plan';
import type { Listening, OperatorViews, Reconfiguration, ServiceContext } from '../contracts/service';
import { CnfParseError, TftpUpstreamError } from '../errors';
import { LogLimiter } from '../log-limit';
import { ppx } from '../messages';
import { printable } from '../printable';
import { applianceFiles } from './appliance-files';
import { Upstream } from './client';
import { type CnfRewriteResult, rewriteCnf } from './cnf-rewrite';
import { checkName, classify } from './names';
import { TFTP_OUTCOME_CODES } from './outcome-codes';
import { TftpErrorCode } from './packet';
import { PhonesReplica } from './phones-replica';
import { RateLimiter, TokenBucket } from './rate-limit';
import { ResultCache } from './result-cache';
import { SECURE_PHONES_FILE, SecurePhones } from './secure-phones';
import {
  FIRST_PACKETS_PER_SECOND,
  newServerStats,
  type RefusalKind,
  type ServerHooks,
  type ServerStats,
  type ServerTransfer,
  TFTP_MESSAGES,
  TftpServer,
  type TransferEnd,
} from './server';
import {
  type ApplianceFiles,
  type CachedConfig,
  OUTCOMES,
  type Outcome,
  type TftpService,
  type TftpServiceOptions,
  type TransferStats,
} from './types';
import { registerTftpMetrics, tftpViews } from './views';

// The shared shapes moved to types.ts (issue 16); re-exported for existing importers.
export { type ApplianceFiles, type CachedConfig, OUTCOMES, type Outcome, type TftpService, type TftpServiceOptions };

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
  readonly replica?: PhonesReplica;
  readonly cache = new ResultCache<CachedConfig>();

  private policy: ServiceContext['loaded']['policy'];
  private readonly log: pino.Logger;
  private readonly now: () => number;
  private readonly maxConfigBytes: number;
  private readonly maxSignedFileBytes: number;
  /** UCM's TFTP server; none on a SIP edge (`listen.tftp: false`, no `tftp-server`). */
  private upstream: Upstream | undefined;
  private limiter: RateLimiter;
  /** Warnings an Internet host can cause (rate limit, encrypted configuration): one per kind per 15 s. */
  private readonly warnLimiter = new LogLimiter();
  private readonly listening: { server: TftpServer; iface: string }[] = [];
  /** Unacknowledged first packets, all listeners together (see server.ts). */
  private readonly firstPackets = new TokenBucket(FIRST_PACKETS_PER_SECOND, FIRST_PACKETS_PER_SECOND);
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
    this.upstream = this.newUpstream();
    this.limiter = this.newLimiter();
    this.securePhones = new SecurePhones({
      timeoutSec: this.policy['secure-phones-timeout'],
      file: path.join(ctx.state.dir, SECURE_PHONES_FILE),
      now: this.now,
      onError: (err) => this.log.error(...ppx(120001, { err: err.message })),
      onChange: ctx.cluster ? (e) => this.replica?.publish(e) : undefined,
    });
    if (ctx.cluster)
      this.replica = new PhonesReplica(
        ctx.cluster,
        () => this.securePhones,
        () => this.policy['secure-phones-timeout'],
        this.log,
        this.now,
      );
  }

  private newUpstream(): Upstream | undefined {
    const upstreamCfg = this.policy['tftp-server'];
    if (!upstreamCfg) return undefined;
    // Requests to UCM leave from the inside interface the policy names for the TFTP server.
    const inside = this.policy.interfaces.find((i) => i.name === upstreamCfg.interface);
    return new Upstream({
      host: upstreamCfg.address,
      port: upstreamCfg.port,
      timeoutMs: upstreamCfg.timeout * 1000,
      localAddress: inside?.address.split('/')[0],
    });
  }

  private newLimiter(): RateLimiter {
    const rl = this.policy.tftp['rate-limit'];
    return new RateLimiter({ perSource: rl['per-source'], global: rl.global, burst: rl.burst });
  }

  /**
   * Live reload (ctx holds the new policy and state): new requests go to the new UCM TFTP server
   * and meet the new rate limits (buckets start full); new trustpoints mean a new CTL and signer,
   * so rewritten files are made again. Transfers under way finish as they started.
   */
  reconfigure({ changed }: Reconfiguration): string[] {
    const mine = changed.filter(
      (c) => touches([c], 'tftp-server') || touches([c], 'tftp') || touches([c], 'secure-phones-timeout'),
    );
    const signer = changed.filter((c) => touches([c], 'trustpoints'));
    if (mine.length === 0 && signer.length === 0) return [];
    this.policy = this.ctx.loaded.policy;
    if (touches(mine, 'tftp-server')) {
      const stats = this.upstream?.stats;
      this.upstream = this.newUpstream();
      if (this.upstream && stats) Object.assign(this.upstream.stats, stats);
    }
    if (touches(mine, 'tftp')) this.limiter = this.newLimiter();
    this.securePhones.setTimeout(this.policy['secure-phones-timeout']);
    if (signer.length > 0 && !this.opts.files) {
      this.files = undefined;
      this.cache.clear();
      this.needFiles().ctl();
    }
    const up = this.policy['tftp-server'];
    this.log.info(
      { changed: [...mine, ...signer], upstream: up ? `${up.address}:${up.port}` : null },
      'TFTP reconfigured',
    );
    return [...mine, ...signer];
  }

  // ------------------------------------------------------------ service lifecycle and views

  async start(): Promise<Listening[]> {
    const loaded = this.securePhones.load();
    await this.replica?.start();
    // Build the CTL now so a PKI problem stops the start, not the first phone.
    this.needFiles().ctl();
    // listen.tftp: false (a SIP edge without TFTP, and then no tftp-server) opens none; with an
    // address, only that interface. The secure-phones database is kept either way: registrations
    // refresh it.
    const at = !this.upstream
      ? undefined
      : this.opts.port !== undefined
        ? { port: this.opts.port }
        : listenerEndpoint(this.policy.listen, 'tftp');
    for (const i of this.policy.interfaces.filter((x) => x.role === 'outside')) {
      const iface = { name: i.name, address: i.address.split('/')[0] as string };
      if (!at || (at.address !== undefined && at.address !== iface.address)) continue;
      const server = new TftpServer({
        address: iface.address,
        port: at.port,
        hooks: this.hooks(iface),
        firstPackets: this.firstPackets,
        now: this.now,
      });
      await server.listen();
      this.listening.push({ server, iface: i.name });
    }
    this.sweepTimer = setInterval(() => this.sweep(), 10_000);
    this.sweepTimer.unref();
    registerTftpMetrics(this.ctx.metrics, this);
    const up = this.policy['tftp-server'];
    this.log.info(
      { listeners: this.listeners(), upstream: up ? `${up.address}:${up.port}` : 'none', securePhones: loaded },
      'TFTP interceptor started',
    );
    return this.listening.map((l) => ({
      what: `tftp (${l.iface})`,
      protocol: 'udp',
      address: l.server.address,
      port: l.server.port,
    }));
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const l of this.listening.splice(0)) {
      this.addStats(l.server.stats);
      await l.server.close();
    }
    try {
      this.securePhones.flush();
    } catch (err) {
      this.log.error(...ppx(120002, { err: (err as Error).message }));
    }
  }

  operatorViews(): OperatorViews {
    return tftpViews(
      this,
      () => ({ upstream: this.policy['tftp-server'], timeoutSec: this.policy['secure-phones-timeout'] }),
      this.now,
    );
  }

  listeners(): { interface: string; address: string; port: number }[] {
    return this.listening.map((l) => ({ interface: l.iface, address: l.server.address, port: l.server.port }));
  }

  signing(): { count: number; totalMs: number } {
    return { ...this.signingStats };
  }

  relay(): { peakBufferedBytes: number } {
    return { ...this.relayStats };
  }

  inProgress(): number {
    return this.listening.reduce((n, l) => n + l.server.active, 0);
  }

  transfers(): TransferStats {
    const sum = { ...this.stoppedStats };
    for (const l of this.listening) {
      for (const k of Object.keys(sum) as (keyof ServerStats)[]) sum[k] += l.server.stats[k];
    }
    const up = this.upstream?.stats ?? { duplicates: 0, malformed: 0, foreign: 0, retransmissions: 0, socketErrors: 0 };
    return { ...sum, upstream: { ...up } };
  }

  /** Counters of listeners already closed (a restart of the listeners keeps the totals). */
  private readonly stoppedStats = newServerStats();

  private addStats(st: ServerStats): void {
    for (const k of Object.keys(st) as (keyof ServerStats)[]) this.stoppedStats[k] += st[k];
  }

  private sweep(): void {
    this.limiter.sweep(this.now());
    for (const { key, suppressed } of this.warnLimiter.flush(this.now()))
      this.log.warn(...ppx(100001, { kind: key, suppressed }));
    this.securePhones.prune();
  }

  private count(o: Outcome): void {
    this.counters[o]++;
  }

  /** A warning any Internet host can cause: the first per kind in 15 s is written, after the count held back. */
  private mayWarn(kind: Outcome): boolean {
    const d = this.warnLimiter.check(kind, this.now());
    if (d.write && d.suppressed > 0) this.log.warn(...ppx(100001, { kind, suppressed: d.suppressed }));
    return d.write;
  }

  // ------------------------------------------------------------ admission

  /** The listener's policy: rate limits before parsing, names after; refusals counted and logged. */
  private hooks(iface: Iface): ServerHooks {
    return {
      gate: (rinfo) => {
        const verdict = this.limiter.take(rinfo.address, this.now());
        if (verdict === 'ok') return true;
        const outcome = verdict === 'global' ? 'rate-limited-global' : 'rate-limited-source';
        this.count(outcome);
        if (this.mayWarn(outcome)) {
          const limit = verdict === 'global' ? 'global' : 'per-source';
          this.log.warn(...ppx(120003, { from: rinfo.address, limit, code: TFTP_OUTCOME_CODES[outcome] }));
        }
        this.log.debug(
          { from: `${rinfo.address}:${rinfo.port}`, limit: verdict },
          'request over the rate limit, dropped',
        );
        return false;
      },
      check: (req) => checkName(req.file),
      refused: (kind, d) => this.refused(kind, d),
      repeated: (t) => {
        this.count('duplicate-request');
        this.log.debug({ from: fromOf(t), file: t.file }, 'retransmitted request for an open transfer');
      },
      request: (t) => this.accept(iface, t),
    };
  }

  private refused(kind: RefusalKind, d: { from: string; reason: string; request?: Buffer }): void {
    const outcome: Record<RefusalKind, Outcome> = {
      'not-a-request': 'bad-request',
      malformed: 'bad-request',
      mail: 'bad-request',
      'access-violation': 'access-violation',
      write: 'write-refused',
      busy: 'rate-limited-global',
    };
    this.count(outcome[kind]);
    const request = d.request ? printable(d.request.subarray(2).toString('latin1')) : undefined;
    this.log.debug(
      { from: d.from, kind, reason: d.reason, request, code: TFTP_OUTCOME_CODES[outcome[kind]] },
      'request refused',
    );
  }

  /** An admitted request: handle it; whatever escapes is an internal error, answered "file not found". */
  private accept(iface: Iface, t: ServerTransfer): void {
    const from = fromOf(t);
    this.handle(iface, t, from).catch((err: Error) => {
      this.count('internal-error');
      this.log.error(
        ...ppx(120004, { from, file: t.file, err: err.message, code: TFTP_OUTCOME_CODES['internal-error'] }),
      );
      t.refuse(TftpErrorCode.FileNotFound, TFTP_MESSAGES.notFound);
    });
  }

  // ------------------------------------------------------------ classification and answers

  private async handle(iface: Iface, t: ServerTransfer, from: string): Promise<void> {
    const file = t.file;
    const kind = classify(file);
    this.log.debug({ from, file, kind: kind.kind, iface: iface.name }, 'RRQ');
    switch (kind.kind) {
      case 'ctl':
        this.serveCtl(t);
        return;
      case 'itl':
        // The UCM ITL is signed by a UCM key the appliance's CTL does not name: a phone would
        // reject it or, worse, trust the UCM TFTP key for files the appliance signs. Not found
        // makes the phone carry on with the CTL alone (cnf-xml.md §2.2, CTLSEP not found).
        this.log.debug({ from, file }, 'ITL request answered "file not found" (the CTL is the trust list)');
        this.refuse(t, 'itl-refused', TFTP_MESSAGES.notFound);
        return;
      case 'encrypted-config':
        if (this.mayWarn('encrypted-config-refused'))
          this.log.warn(
            ...ppx(120005, {
              from,
              file,
              device: kind.deviceName,
              code: TFTP_OUTCOME_CODES['encrypted-config-refused'],
            }),
          );
        this.refuse(t, 'encrypted-config-refused', TFTP_MESSAGES.notFound);
        return;
      case 'config':
        await this.serveConfig(iface, t, from, kind);
        return;
      case 'signed-file':
        await this.serveResigned(t, from, kind.plainName);
        return;
      case 'relay':
        await this.relayFile(t, from);
        return;
    }
  }

  /** The phone gets an ERROR with the RFC 1350 code its text names (0, "not defined", for the others). */
  private refuse(t: ServerTransfer, outcome: Outcome, message: string): void {
    this.count(outcome);
    t.refuse(codeOf(message), message);
  }

  /** Counts the outcome when the answer starts, as `show` always has, and a failed transfer once more. */
  private serveBuffer(t: ServerTransfer, bytes: Buffer, outcome: Outcome): void {
    this.count(outcome);
    t.sendBuffer(bytes);
    void t.done.then((e) => this.transferEnded(t, e));
  }

  private transferEnded(t: ServerTransfer, e: TransferEnd): void {
    if (e.ok || e.reason === 'stopped' || e.reason === 'refused') return;
    this.count('transfer-failed');
    this.log.debug({ from: fromOf(t), file: t.file, reason: e.reason, detail: e.detail }, 'transfer to phone failed');
  }

  private serveCtl(t: ServerTransfer): void {
    this.serveBuffer(t, this.needFiles().ctl(), 'ctl-served');
  }

  /** Maps an upstream failure to the phone's error and the outcome counted. */
  private upstreamFailure(t: ServerTransfer, file: string, from: string, err: unknown): void {
    if (!(err instanceof TftpUpstreamError)) throw err;
    if (err.timedOut) {
      this.log.warn(...ppx(120006, { from, file, cause: err.message, code: TFTP_OUTCOME_CODES['upstream-timeout'] }));
      this.refuse(t, 'upstream-timeout', 'TFTP server timeout');
    } else if (err.tftpCode === TftpErrorCode.FileNotFound) {
      this.log.debug({ from, file, cause: 'file not found on the UCM TFTP server' }, 'upstream: file not found');
      this.refuse(t, 'upstream-not-found', TFTP_MESSAGES.notFound);
    } else {
      this.log.warn(...ppx(120007, { from, file, cause: err.message, tftpCode: err.tftpCode, code: err.code }));
      this.refuse(
        t,
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

  /** Only transfers use it, and listeners open only with a tftp-server (see start()). */
  private ucm(): Upstream {
    if (!this.upstream) throw new Error('TFTP transfer without a tftp-server: no listener should be open');
    return this.upstream;
  }

  /** The signed name from UCM, its body re-signed; or, when UCM has none, the plain file signed. */
  private async serveResigned(t: ServerTransfer, from: string, plainName: string): Promise<void> {
    const file = t.file;
    let upstreamBytes: Buffer;
    let fromSigned = true;
    try {
      upstreamBytes = await this.ucm().getBuffer(file, this.maxSignedFileBytes);
    } catch (err) {
      if (!(err instanceof TftpUpstreamError) || err.tftpCode !== TftpErrorCode.FileNotFound) {
        this.upstreamFailure(t, file, from, err);
        return;
      }
      fromSigned = false;
      try {
        upstreamBytes = await this.ucm().getBuffer(plainName, this.maxSignedFileBytes);
      } catch (err2) {
        this.upstreamFailure(t, plainName, from, err2);
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
        ...ppx(120008, { from, file, cause: (err as Error).message, code: TFTP_OUTCOME_CODES['file-parse-error'] }),
      );
      this.refuse(t, 'file-parse-error', 'File parsing error');
      return;
    }
    this.log.debug(
      { from, file, source: fromSigned ? file : plainName, cached: result.hit },
      're-signed with the appliance key',
    );
    this.serveBuffer(t, result.value.bytes, 'resigned-served');
  }

  /** The rewritten configuration (signed for `.sgn`), cached by upstream content and appliance address. */
  private rewriteAndSign(
    iface: Iface,
    plain: Buffer,
    kind: ConfigKind,
  ): Promise<{ value: CachedConfig; hit: boolean }> {
    const hash = createHash('sha256').update(plain).digest('hex');
    // Behind a NAT the phone is given the interface's public address (issue 13), never the bound one.
    const advertised = phoneFacingAddress(this.policy, iface.name) ?? iface.address;
    const cacheKey = `${hash}/${kind.signed ? 'sgn' : 'xml'}/${kind.upstreamName}/${advertised}`;
    const proxy = this.policy['proxy-server'];
    const remote = this.policy['remote-phones'];
    return this.cache.get(cacheKey, () => {
      const r = rewriteCnf(plain.toString('latin1'), {
        applianceAddress: advertised,
        members: memberMappings(this.policy),
        srst: remote.srst,
        tvs: remote.tvs,
        capf: capfEndpointFor(this.policy, iface.name),
        serviceUrls: remote['service-urls'],
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

  private async serveConfig(iface: Iface, t: ServerTransfer, from: string, kind: ConfigKind): Promise<void> {
    let plain: Buffer;
    try {
      plain = await this.ucm().getBuffer(kind.upstreamName, this.maxConfigBytes);
    } catch (err) {
      this.upstreamFailure(t, kind.upstreamName, from, err);
      return;
    }
    let result: { value: CachedConfig; hit: boolean };
    try {
      result = await this.rewriteAndSign(iface, plain, kind);
    } catch (err) {
      if (err instanceof CnfParseError) {
        // The ASA's "configuration file parsing error": never serve the unrewritten file.
        this.log.warn(
          ...ppx(120009, {
            from,
            device: kind.deviceName,
            file: kind.upstreamName,
            line: err.line,
            column: err.column,
            cause: err.reason,
            code: err.code,
          }),
        );
        this.refuse(t, 'config-parse-error', 'Configuration file parsing error');
        return;
      }
      throw err;
    }
    const r = result.value.rewrite as Omit<CnfRewriteResult, 'xml'>;
    this.securePhones.record({
      deviceName: kind.deviceName,
      mac: kind.mac,
      address: t.remote.address,
      port: t.remote.port,
      interface: iface.name,
      originalMode: r.deviceSecurityMode,
      forcedMode: r.forcedMode,
      protocol: r.protocol,
    });
    if (!kind.signed) {
      // Seed 003, "IP phone requesting unsigned file": the phone has not installed the CTL.
      this.log.warn(...ppx(120010, { from, device: kind.deviceName }));
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
    this.serveBuffer(t, result.value.bytes, kind.signed ? 'config-signed-served' : 'config-unsigned-served');
  }

  /**
   * Other files stream from UCM to the phone, block by block, holding no more than the
   * transfer's high-water mark: the UCM side waits (its ACK is held) while the phone is slow.
   */
  private async relayFile(t: ServerTransfer, from: string): Promise<void> {
    const file = t.file;
    const up = this.ucm().get(file);
    const size = await up.size;
    // The stream errors before any size when upstream refuses or times out.
    if (size === null && up.stream.destroyed) {
      const err = await new Promise<unknown>((resolve) => {
        if (up.stream.errored) resolve(up.stream.errored);
        else up.stream.once('error', resolve);
      });
      this.upstreamFailure(t, file, from, err);
      return;
    }
    let ok: boolean;
    try {
      if (size !== null) {
        t.begin(size);
        ok = await pump(up.stream, t, () => {
          const held = up.received() - t.acknowledged;
          if (held > this.relayStats.peakBufferedBytes) this.relayStats.peakBufferedBytes = held;
        });
      } else {
        ok = await relaySpooled(up.stream, t);
      }
    } catch (err) {
      if (err instanceof TftpUpstreamError) {
        this.count(err.timedOut ? 'upstream-timeout' : 'upstream-error');
        this.log.warn(...ppx(120011, { from, file, cause: err.message, code: err.code }));
        t.refuse(TftpErrorCode.NotDefined, 'I/O error');
        return;
      }
      throw err;
    }
    if (!ok) {
      // The phone went away (ERROR, timeout): stop the UCM side too.
      up.abort();
      up.stream.destroy();
      const e = await t.done;
      if (e.reason !== 'stopped') this.count('transfer-failed');
      this.log.debug({ from, file, reason: e.reason, detail: e.detail }, 'relay to phone failed');
      return;
    }
    this.count('relayed');
    this.log.debug({ from, file, bytes: size }, 'relayed');
  }

  private needFiles(): ApplianceFiles {
    this.files ??= applianceFiles(this.ctx, this.opts.ctl);
    return this.files;
  }
}

export function createTftpService(ctx: ServiceContext, opts: TftpServiceOptions = {}): TftpService {
  return new TftpInterceptor(ctx, opts);
}

/** The phone's error code for a refusal text (RFC 1350 §5). */
function codeOf(message: string): TftpErrorCode {
  if (message === TFTP_MESSAGES.notFound) return TftpErrorCode.FileNotFound;
  if (message === TFTP_MESSAGES.accessViolation) return TftpErrorCode.AccessViolation;
  if (message === TFTP_MESSAGES.illegal) return TftpErrorCode.IllegalOperation;
  return TftpErrorCode.NotDefined;
}

const fromOf = (t: ServerTransfer) => `${t.remote.address}:${t.remote.port}`;

/** Writes a stream into a transfer honouring its back-pressure; true when the phone ACKed the last block. */
async function pump(src: AsyncIterable<unknown>, t: ServerTransfer, progress?: () => void): Promise<boolean> {
  for await (const chunk of src) {
    if (!(await t.write(chunk as Buffer))) return false;
    progress?.();
  }
  t.end();
  return (await t.done).ok;
}

/**
 * Upstream did not say the size: spool to disk first so the phone's tsize (RFC 2349) gets an
 * answer and the relay never holds the file in memory.
 */
async function relaySpooled(stream: NodeJS.ReadableStream, t: ServerTransfer): Promise<boolean> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pp-tftp-'));
  const tmp = path.join(dir, 'spool');
  try {
    await pipeline(stream, createWriteStream(tmp, { mode: 0o600 }));
    t.begin(statSync(tmp).size);
    return await pump(createReadStream(tmp), t);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
