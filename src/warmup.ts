/**
 * Warm-up at start (issue 13). The first call after start spent 25-33 ms inside the appliance
 * on its INVITE (warm: ~1 ms), measured by bench:sip. What it paid, from --cpu-prof of the
 * daemon (bench/results/sip.md):
 *   - in the media worker, ~28 ms, mostly loading the SRTP engine: each worker now loads it
 *     before it reports ready (src/media/worker.ts); its first session set-up remains;
 *   - in the main thread, ~7 ms: first runs of the SIP parser, routing and SDP rewrite (lazy
 *     compilation, regular expressions), the main thread's first load of wasm/srtp.js (key
 *     lengths for checkConfig), the first random key, the first worker round trips.
 * So the daemon, once every service has started, runs canned calls through the real code the
 * TLS proxy uses: a SipInspector on a pipe to nowhere,
 * backed by the real media service. One call per media worker is held up at a time, so each
 * worker sets up one SRTP session (the least-loaded choice spreads them). No
 * socket is opened toward anyone but media termination's own port pairs (which then sit in
 * quarantine like any released pair); peers are TEST-NET-1 addresses (RFC 5737) and nothing is
 * sent there. The canned calls are not logged or counted as SIP traffic; their media sessions
 * are released with reason "warm-up". Bounded in time; a failure is logged and never stops
 * the start.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { LegDecision } from './contracts/leg-decision';
import { decideLegs } from './contracts/leg-decision';
import type { MediaAllocator } from './contracts/media';
import type { Service, ServiceContext } from './contracts/service';
import type { InspectedConnection, Inspector, InspectorPipe } from './contracts/signaling';
import { SipInspector } from './sip/inspector';

export const DEFAULT_WARMUP_TIMEOUT_MS = 5000;
/** Upper bound on canned calls held at once (one per media worker). */
const MAX_WORKERS = 64;
const PHONE = '192.0.2.10';
const PEER = '192.0.2.20';

type Media = Service & MediaAllocator & { workerCount?(): number; workerOf?(id: string): number | undefined };

function isMedia(s: Service): s is Media {
  const m = s as Partial<Media>;
  return (
    s.name === 'media' &&
    typeof m.allocate === 'function' &&
    typeof m.updateLeg === 'function' &&
    typeof m.release === 'function'
  );
}

export interface WarmupResult {
  ok: boolean;
  ms: number;
  /** Canned calls that reached 200 OK at the phone side. */
  calls: number;
  /** Distinct media workers that ran an SRTP leg. */
  workers: number;
  error?: string;
}

/** What a canned connection's pipe received, with waiters for a message to appear. */
class CannedPipe implements InspectorPipe {
  readonly toPhoneLog: string[] = [];
  readonly toUpstreamLog: string[] = [];
  private waiters: (() => void)[] = [];
  closedReason?: string;

  toPhone(data: Buffer): void {
    this.push(this.toPhoneLog, data);
  }

  toUpstream(data: Buffer): void {
    this.push(this.toUpstreamLog, data);
  }

  close(reason: string): void {
    this.closedReason = reason;
    this.wake();
  }

  private push(log: string[], data: Buffer): void {
    // Bounded: a canned call produces a handful of messages.
    if (log.length < 64) log.push(data.toString('latin1'));
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once a message starting with `start` went toward `side`; rejects at the deadline. */
  async next(side: 'phone' | 'upstream', start: string, deadline: number): Promise<string> {
    const log = side === 'phone' ? this.toPhoneLog : this.toUpstreamLog;
    for (;;) {
      const i = log.findIndex((m) => m.startsWith(start));
      if (i >= 0) return log.splice(i, 1)[0] as string;
      if (this.closedReason) throw new Error(`canned connection closed: ${this.closedReason}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${start}" toward the ${side} in time`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

function sipMessage(first: string, headers: string[], body = ''): Buffer {
  const all = [...headers, ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${body.length}`];
  return Buffer.from(`${first}\r\n${all.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

function sdp(address: string, port: number, o: { crypto?: boolean; direction?: string }): string {
  return [
    'v=0',
    `o=Cisco-SIPUA 1 1 IN IP4 ${address}`,
    's=SIP Call',
    't=0 0',
    `m=audio ${port} ${o.crypto ? 'RTP/SAVP' : 'RTP/AVP'} 0 8 18 101`,
    `c=IN IP4 ${address}`,
    ...(o.crypto ? [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${randomBytes(30).toString('base64')}`] : []),
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:18 G729/8000',
    'a=fmtp:18 annexb=no',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    `a=${o.direction ?? 'sendrecv'}`,
    '',
  ].join('\r\n');
}

/** Response to a request text: its Via, From, To (+ tag), Call-ID and CSeq. */
function answer(request: string, status: string, extra: string[] = [], body = ''): Buffer {
  const head = request.slice(0, request.indexOf('\r\n\r\n')).split('\r\n');
  const keep = head.filter((l) => /^(via|from|call-id|cseq|record-route)\s*:/i.test(l));
  const to = head.find((l) => /^to\s*:/i.test(l)) ?? 'To: <sip:warmup@invalid>';
  return sipMessage(`SIP/2.0 ${status}`, [...keep, /;tag=/.test(to) ? to : `${to};tag=wu-far`, ...extra], body);
}

class CannedConnection {
  readonly pipe = new CannedPipe();
  readonly inspector: Inspector;
  private cseq = 100;
  readonly callId: string;
  readonly from: string;
  private to = '';

  constructor(
    readonly conn: InspectedConnection,
    media: MediaAllocator,
    log: Logger,
    readonly index: number,
  ) {
    this.inspector = new SipInspector(conn, this.pipe, {
      media: () => media,
      log,
      counters: { error: () => undefined, message: () => undefined },
      randomBytes,
    });
    this.callId = `warmup-${index}-${randomBytes(6).toString('hex')}@${PHONE}`;
    this.from = `From: "Warm-up" <sip:warmup@${conn.outsideLocal.address}>;tag=wu-${index}`;
  }

  private get here(): string {
    return `${this.conn.outsideLocal.address}:${this.conn.outsideLocal.port}`;
  }

  private phoneRequest(method: string, uri: string, extra: string[], body = ''): Buffer {
    const cseq = method === 'ACK' ? this.cseq : ++this.cseq;
    return sipMessage(
      `${method} ${uri} SIP/2.0`,
      [
        `Via: SIP/2.0/TLS ${PHONE}:5061;branch=z9hG4bKwu${this.index}x${this.cseq}${method === 'ACK' ? 'a' : ''}`,
        this.from,
        this.to || `To: <sip:warmup-peer@${this.conn.outsideLocal.address}>`,
        `Call-ID: ${this.callId}`,
        `CSeq: ${cseq} ${method}`,
        'Max-Forwards: 70',
        `Contact: <sip:warmup@${PHONE}:5061;transport=tls>;+u.sip!devicename.ccm.cisco.com="SEPWARMUP"`,
        'User-Agent: Cisco-CP8865/14.2.1',
        ...extra,
      ],
      body,
    );
  }

  /** Phone-originated call up to 200 OK + ACK, then a hold re-INVITE. */
  async setUp(deadline: number): Promise<void> {
    const inDialog = `sip:warmup-peer@${this.here};transport=tls`;
    this.inspector.fromPhone(
      this.phoneRequest(
        'INVITE',
        `sip:warmup-peer@${this.conn.outsideLocal.address}`,
        ['Allow: INVITE,ACK,BYE'],
        sdp(PHONE, 20000 + this.index * 2, { crypto: true }),
      ),
    );
    const invite = await this.pipe.next('upstream', 'INVITE ', deadline);
    const contact = `Contact: <sip:warmup-peer@${this.conn.upstream.address}:${this.conn.upstream.port};transport=${this.conn.upstream.transport}>`;
    this.inspector.fromUpstream(answer(invite, '100 Trying'));
    this.inspector.fromUpstream(answer(invite, '180 Ringing', [contact]));
    this.inspector.fromUpstream(answer(invite, '200 OK', [contact], sdp(PEER, 30000 + this.index * 2, {})));
    const ok = await this.pipe.next('phone', 'SIP/2.0 200', deadline);
    this.to = ok.split('\r\n').find((l) => /^to\s*:/i.test(l)) ?? '';
    this.inspector.fromPhone(this.phoneRequest('ACK', inDialog, []));
    await this.pipe.next('upstream', 'ACK ', deadline);
    this.inspector.fromPhone(
      this.phoneRequest(
        'INVITE',
        inDialog,
        [],
        sdp(PHONE, 20000 + this.index * 2, { crypto: true, direction: 'sendonly' }),
      ),
    );
    const hold = await this.pipe.next('upstream', 'INVITE ', deadline);
    this.inspector.fromUpstream(
      answer(hold, '200 OK', [contact], sdp(PEER, 30000 + this.index * 2, { direction: 'recvonly' })),
    );
    await this.pipe.next('phone', 'SIP/2.0 200', deadline);
    this.inspector.fromPhone(this.phoneRequest('ACK', inDialog, []));
    await this.pipe.next('upstream', 'ACK ', deadline);
  }

  async hangUp(deadline: number): Promise<void> {
    this.inspector.fromPhone(this.phoneRequest('BYE', `sip:warmup-peer@${this.here};transport=tls`, []));
    const bye = await this.pipe.next('upstream', 'BYE ', deadline);
    this.inspector.fromUpstream(answer(bye, '200 OK'));
    await this.pipe.next('phone', 'SIP/2.0 200', deadline);
  }

  /** A call from UCM to the phone (the other direction of every rewrite), released by UCM's BYE. */
  async incoming(deadline: number): Promise<void> {
    const u = this.conn.upstream;
    const toPhone = `sip:warmup@${this.conn.insideLocal.address}:${this.conn.insideLocal.port};transport=${u.transport}`;
    const callId = `warmup-in-${this.index}-${randomBytes(6).toString('hex')}@${u.address}`;
    const head = (method: string, cseq: number, to: string) => [
      `Via: SIP/2.0/${u.transport.toUpperCase()} ${u.address}:${u.port};branch=z9hG4bKwuin${cseq}${method}`,
      `From: <sip:warmup-peer@${u.address}>;tag=wu-ucm`,
      to,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
      'Max-Forwards: 70',
      `Contact: <sip:warmup-peer@${u.address}:${u.port};transport=${u.transport}>`,
    ];
    this.inspector.fromUpstream(
      sipMessage(`INVITE ${toPhone} SIP/2.0`, head('INVITE', 1, `To: <sip:warmup@${u.address}>`), sdp(PEER, 30100, {})),
    );
    const invite = await this.pipe.next('phone', 'INVITE ', deadline);
    const contact = `Contact: <sip:warmup@${PHONE}:5061;transport=tls>`;
    this.inspector.fromPhone(answer(invite, '180 Ringing', [contact]));
    this.inspector.fromPhone(answer(invite, '200 OK', [contact], sdp(PHONE, 20100, { crypto: true })));
    const ok = await this.pipe.next('upstream', 'SIP/2.0 200', deadline);
    const to = ok.split('\r\n').find((l) => /^to\s*:/i.test(l)) ?? '';
    this.inspector.fromUpstream(sipMessage(`ACK ${toPhone} SIP/2.0`, head('ACK', 1, to)));
    await this.pipe.next('phone', 'ACK ', deadline);
    this.inspector.fromUpstream(sipMessage(`BYE ${toPhone} SIP/2.0`, head('BYE', 2, to)));
    const bye = await this.pipe.next('phone', 'BYE ', deadline);
    this.inspector.fromPhone(answer(bye, '200 OK'));
    await this.pipe.next('upstream', 'SIP/2.0 200', deadline);
  }
}

function cannedConnection(ctx: ServiceContext, index: number, decision: LegDecision): InspectedConnection {
  const { policy } = ctx.loaded;
  const address = (name: string) => policy.interfaces.find((i) => i.name === name)?.address.split('/')[0] ?? '0.0.0.0';
  const outside = policy.interfaces.find((i) => i.role === 'outside') ?? policy.interfaces[0];
  const member = policy.cluster.members[0];
  const transport = decision.upstream;
  return {
    id: -(index + 1),
    decision,
    phone: { address: PHONE, port: 40000 + index },
    outsideLocal: { address: outside?.address.split('/')[0] ?? '0.0.0.0', port: policy.listen['sip-tls'] },
    upstream: {
      address: member?.address ?? PEER,
      port: (transport === 'tls' ? member?.['sip-tls-port'] : member?.['sip-port']) ?? 5060,
      transport,
    },
    insideLocal: { address: member ? address(member.interface) : '0.0.0.0', port: 45000 + index },
    outsideInterface: outside?.name ?? '',
    insideInterface: member?.interface ?? '',
  };
}

/**
 * Runs the canned calls against the started services. Never throws: the outcome is returned
 * (and logged by the caller).
 */
export async function warmUp(
  ctx: ServiceContext,
  services: Service[],
  o: { timeoutMs?: number } = {},
): Promise<WarmupResult> {
  const t0 = performance.now();
  const deadline = Date.now() + (o.timeoutMs ?? DEFAULT_WARMUP_TIMEOUT_MS);
  const real = services.find(isMedia);
  if (!real) return { ok: true, ms: 0, calls: 0, workers: 0 };
  const media: MediaAllocator = {
    allocate: (req) => real.allocate(req),
    updateLeg: (id, leg, cfg) => real.updateLeg(id, leg, cfg),
    release: (id) => real.release(id, 'warm-up'),
    // The path calls take (the inspector releases without waiting), compiled before the first call.
    ...(real.releaseLater ? { releaseLater: (id: string) => real.releaseLater?.(id, 'warm-up') } : {}),
  };
  // Silent: the canned calls must not read as calls in the signaling log.
  const log = ctx.logs.for('signaling').child({ warmup: true }, { level: 'silent' });
  const decision = decideLegs(ctx.loaded.policy.cluster.mode, undefined);
  const workers = Math.max(1, Math.min(MAX_WORKERS, real.workerCount?.() ?? 1));
  const canned: CannedConnection[] = [];
  const warmed = new Set<number>();
  let calls = 0;
  try {
    // Held up one after another: each allocation goes to the least-loaded worker, so every
    // worker gets one call (allocations in flight together would all pick the same worker).
    for (let i = 0; i < workers; i++) {
      const c = new CannedConnection(cannedConnection(ctx, i, decision), media, log, i);
      canned.push(c);
      await c.setUp(deadline);
      calls++;
      for (const s of c.inspector.sessions()) {
        const w = real.workerOf?.(s.mediaSession);
        if (w !== undefined) warmed.add(w);
      }
    }
    for (const c of canned) await c.hangUp(deadline);
    await canned[0]?.incoming(deadline);
    return { ok: true, ms: Math.round(performance.now() - t0), calls, workers: warmed.size };
  } catch (err) {
    return {
      ok: false,
      ms: Math.round(performance.now() - t0),
      calls,
      workers: warmed.size,
      error: (err as Error).message,
    };
  } finally {
    // Whatever happened, nothing canned stays allocated.
    await Promise.all(canned.map((c) => c.inspector.closed().catch(() => undefined)));
  }
}
