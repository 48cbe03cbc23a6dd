/**
 * SIP inspection for one phone connection and its upstream connection. Messages from either
 * side are framed, parsed, rewritten and forwarded in arrival order (one queue for both
 * directions, so an answer is never processed before the offer it answers):
 *
 * - routing headers: the appliance adds its own Via to requests it forwards (removed again
 *   from the responses), and rewrites Contact, Record-Route/Route and Request-URI host:port
 *   so that each side sees the appliance, on the transport of its own leg;
 * - SDP offers and answers go through media termination (sdp-rewrite.ts), with SDES keys the
 *   appliance generates per leg; only the offer/answer methods (INVITE, UPDATE, PRACK, ACK and
 *   their 1xx/2xx answers) may allocate media: another request with SDP gets a 488, another
 *   response loses its SDP body (issue 12);
 * - media admission: a session counts against its phone and its connection; a refusal is a
 *   486 (this phone's or connection's cap) or a 503 (the appliance's), with a Warning saying why;
 * - an SDP media termination cannot serve (IN IP6, a host name, a port over 65535) gets a 488
 *   with a Warning, and a session allocated for it is released at once;
 * - BYE, CANCEL, a final error to the initial INVITE, an INVITE transaction timeout, or the
 *   connection closing release the call's media session;
 * - every other body (remotecc XML in REFER/NOTIFY, DTMF, ...) passes byte-for-byte;
 * - a REGISTER naming a device other than the certificate's gets a 403 (bindIdentity); one UCM
 *   accepts (2xx, not a de-registration) is reported through `registered`.
 *
 * No sockets and no clock: bytes come in through fromPhone/fromUpstream, go out through the
 * pipe, and time arrives with tick().
 */
import type { Logger } from 'pino';
import type { AllocateRequest, MediaAllocator, MediaSessionInfo, UpdateLegConfig } from '../contracts/media';
import type { PhoneRegistration } from '../contracts/phones';
import type { InspectedConnection, Inspector, InspectorPipe, SignalingSession } from '../contracts/signaling';
import { SipFramingError } from '../errors';
import { ppx } from '../messages';
import { type FramedItem, SipFramer } from './framing';
import {
  callIdOf,
  canonicalName,
  contentType,
  getHeader,
  isRequest,
  makeResponse,
  parseCSeq,
  parseSipMessage,
  type SipMessage,
  serializeSipMessage,
} from './message';
import { registerExpires, registerIdentity } from './register-identity';
import { SDES_KEY_BYTES, type SdesCrypto, type SdesSuite } from './sdes';
import { parseSdp, type Sdp } from './sdp';
import { findAudio, rewriteParsedSdp } from './sdp-rewrite';
import { ALL_SUITES, offerSuites, showsGcm, strongestCrypto } from './suite-choice';
import {
  applianceVia,
  type HostPort,
  isApplianceVia,
  type SipTransport,
  sameHostPort,
  setUriHostPort,
  uriHostPort,
} from './uri';

export type Side = 'outside' | 'inside';

/** RFC 3261 §13, RFC 3311 (UPDATE), RFC 3262 (PRACK): the only messages that carry offers and answers. */
const OFFER_ANSWER_METHODS = new Set(['INVITE', 'UPDATE', 'PRACK', 'ACK']);

/** Allocation refusals that are the phone's own limit (486: this phone is busy) or the appliance's (503). */
const BUSY_CAUSES = new Set(['phone-cap', 'connection-cap']);
const UNAVAILABLE_CAUSES = new Set(['global-cap', 'sessions-full', 'ports-exhausted', 'not-running']);

interface Refusal {
  status: number;
  phrase: string;
  /** Counted through SipInspectorCounters.error (a short static string). */
  counter: string;
  reason: string;
}

export interface SipInspectorCounters {
  /** Reason is a short static string (e.g. 'parse', 'framing', 'sdp'). */
  error(reason: string): void;
  message(direction: 'from-phone' | 'from-upstream'): void;
}

export interface SipInspectorDeps {
  media: () => MediaAllocator | undefined;
  log: Logger;
  counters: SipInspectorCounters;
  randomBytes: (n: number) => Buffer;
  /** Initial INVITE without any response (RFC 3261 Timer B = 64*T1). */
  inviteTimeoutMs?: number;
  /** Initial INVITE after a provisional response (RFC 3261 Timer C, > 3 min). */
  ringingTimeoutMs?: number;
  /** Messages waiting for inspection before the connection is closed as overloaded. */
  maxBacklog?: number;
  /** Refuse (403) a REGISTER naming a device other than the certificate's (default true). */
  bindIdentity?: boolean;
  /** UCM accepted a registration of this device (refreshes included, de-registrations not). */
  registered?: (deviceName: string, registration: PhoneRegistration) => void;
  /** `media-termination.srtp-suites`: the SDES suites legs may negotiate (default: all the engine has). */
  srtpSuites?: readonly SdesSuite[];
  /** `media-termination.srtp-gcm-sides`: sides offered GCM before they showed it (suite-choice.ts). */
  gcmSides?: readonly Side[];
}

interface Call {
  callId: string;
  state: 'calling' | 'early' | 'confirmed' | 'terminated';
  inviteCseq?: number;
  /** When the current INVITE timer started; set on the first tick after a state change. */
  since?: number;
  media?: Promise<MediaSessionInfo>;
  mediaId?: string;
  /** The appliance's SDES key toward each side (what it sends with on that leg), once agreed. */
  sendKey: Partial<Record<Side, SdesCrypto>>;
  /** Lines the appliance offered toward a side that has not answered yet (one key per line). */
  offered: Partial<Record<Side, SdesCrypto[]>>;
  /** The side's own SDP in this call had a GCM line it can use (suite-choice.ts). */
  gcmSeen: Partial<Record<Side, boolean>>;
  /** Who sent the initial INVITE: named in the call's one info line, at its end. */
  from?: 'phone' | 'upstream';
}

export class SipInspector implements Inspector {
  private readonly framers = { outside: new SipFramer(), inside: new SipFramer() };
  private readonly calls = new Map<string, Call>();
  private queue: Promise<void> = Promise.resolve();
  private backlog = 0;
  private closing = false;
  private malformed = 0;
  private readonly ended = new Set<string>();
  /** The phone's own Contact host:port, where UCM's requests to the appliance are retargeted. */
  private phoneContact?: HostPort;
  /** Per Call-ID, the inside peer's own Contact URI: where the phone's in-dialog requests go. */
  private readonly insideContacts = new Map<string, string>();
  /** Record-Route values naming the member, as UCM's side wrote them; the phone sees `;pp-rr=<index>`. */
  private readonly memberRoutes: string[] = [];
  private readonly phoneName: string;
  /** REGISTERs sent upstream and not answered yet, by Call-ID and CSeq: who, and whether it binds. */
  private readonly pendingRegisters = new Map<string, { deviceName: string; binds: boolean }>();
  /** The phone offered or answered GCM on this connection once: it takes GCM in later calls too. */
  private phoneTakesGcm = false;
  private readonly suites: readonly SdesSuite[];

  constructor(
    private readonly conn: InspectedConnection,
    private readonly pipe: InspectorPipe,
    private readonly deps: SipInspectorDeps,
    private readonly onClosed: () => void = () => undefined,
  ) {
    this.phoneName = conn.deviceName ?? `${conn.phone.address}:${conn.phone.port}`;
    this.suites = deps.srtpSuites ?? ALL_SUITES;
  }

  fromPhone(chunk: Buffer): void {
    this.feed('outside', chunk);
  }

  fromUpstream(chunk: Buffer): void {
    this.feed('inside', chunk);
  }

  tick(nowMs: number): void {
    const calling = this.deps.inviteTimeoutMs ?? 32_000;
    const ringing = this.deps.ringingTimeoutMs ?? 180_000;
    for (const call of this.calls.values()) {
      const limit = call.state === 'calling' ? calling : call.state === 'early' ? ringing : undefined;
      call.since ??= nowMs;
      if (limit !== undefined && nowMs - call.since > limit) {
        this.deps.log.info(
          { conn: this.conn.id, callId: call.callId },
          'INVITE transaction timed out; releasing media',
        );
        this.enqueue(() => this.endCall(call, 'transaction timeout'));
      }
    }
  }

  async closed(): Promise<void> {
    this.closing = true;
    await this.queue;
    await Promise.all([...this.calls.values()].map((c) => this.endCall(c, 'connection closed')));
    this.onClosed();
  }

  /**
   * What the phone-side framer holds of a message not yet whole (the proxy's complete-message
   * timeout reads it). 0 once closing: a stream that could not be framed is being closed anyway.
   */
  heldFromPhone(): number {
    return this.closing ? 0 : this.framers.outside.pending;
  }

  sessions(): SignalingSession[] {
    return [...this.calls.values()].map((c) => ({
      protocol: 'SIP' as const,
      phone: this.phoneName,
      callId: c.callId,
      state: c.state,
      mediaSession: c.mediaId ?? '-',
    }));
  }

  private feed(side: Side, chunk: Buffer): void {
    if (this.closing) return;
    let items: FramedItem[];
    try {
      items = this.framers[side].push(chunk);
    } catch (err) {
      const reason = err instanceof SipFramingError ? err.message : String(err);
      this.deps.counters.error('framing');
      this.deps.log.warn(
        ...ppx(140001, { conn: this.conn.id, from: side === 'outside' ? 'phone' : 'upstream', reason }),
      );
      this.closing = true;
      this.pipe.close(`SIP framing: ${reason}`);
      return;
    }
    for (const item of items) {
      if (item.kind === 'ping') this.send(side, Buffer.from('\r\n')); // RFC 5626 pong, answered locally
      if (item.kind !== 'message') continue;
      if (++this.backlog > (this.deps.maxBacklog ?? 200)) {
        this.deps.counters.error('backlog');
        this.closing = true;
        this.pipe.close('SIP inspection backlog exceeded');
        return;
      }
      this.enqueue(async () => {
        this.backlog--;
        await this.handle(side, item.data, item.head);
      });
    }
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue.then(job).catch((err) => {
      this.deps.counters.error('internal');
      this.deps.log.error(...ppx(140002, { conn: this.conn.id, err: String(err) }));
    });
  }

  private send(to: Side, data: Buffer): void {
    if (to === 'outside') this.pipe.toPhone(data);
    else this.pipe.toUpstream(data);
  }

  private async handle(from: Side, data: Buffer, head?: string): Promise<void> {
    this.deps.counters.message(from === 'outside' ? 'from-phone' : 'from-upstream');
    let msg: SipMessage;
    try {
      msg = parseSipMessage(data, head);
    } catch (err) {
      this.deps.counters.error('parse');
      // A flood of bad messages must not flood the log: the first few, then one per 100.
      if (++this.malformed > 5 && this.malformed % 100 !== 0) return;
      this.deps.log.warn(
        ...ppx(140003, {
          conn: this.conn.id,
          from: from === 'outside' ? 'phone' : 'upstream',
          reason: (err as Error).message,
        }),
      );
      return;
    }
    const to: Side = from === 'outside' ? 'inside' : 'outside';
    if (this.deps.log.isLevelEnabled('debug'))
      this.deps.log.debug(
        {
          conn: this.conn.id,
          from,
          start: msg.start.kind === 'request' ? msg.start.method : msg.start.status,
          callId: callIdOf(msg),
        },
        'SIP',
      );
    if (!this.forwardable(msg, from)) return;
    if (!this.registerAllowed(msg, from)) return;
    this.rewriteRouting(msg, from);
    const call = this.trackBefore(msg, from);
    if (contentType(msg) === 'application/sdp' && msg.body.length > 0) {
      if (this.carriesOfferAnswer(msg)) {
        const ok = await this.rewriteMedia(msg, from, call);
        if (!ok) return;
      } else if (isRequest(msg)) {
        this.refuse(msg, from, {
          status: 488,
          phrase: 'Not Acceptable Here',
          counter: 'sdp-method',
          reason: `SDP in ${msg.start.method}: only INVITE, UPDATE, PRACK and ACK carry media offers`,
        });
        return;
      } else {
        // A response outside offer/answer (e.g. to OPTIONS) keeps no SDP: nothing is allocated
        // for it, and the other side's addresses do not leak through it unrewritten.
        this.deps.counters.error('sdp-method');
        msg.body = Buffer.alloc(0);
        msg.headers = msg.headers.filter((h) => canonicalName(h.name) !== 'content-type');
      }
    }
    this.send(to, serializeSipMessage(msg));
    if (call) await this.trackAfter(msg, call);
    else if (isRequest(msg) && (msg.start.method === 'BYE' || msg.start.method === 'CANCEL'))
      await this.endAdopted(msg.start.method, callIdOf(msg));
    if (from === 'inside' && !isRequest(msg)) this.registerAnswered(msg);
  }

  // ---- registration ---------------------------------------------------------------------

  /**
   * Issue 12: a phone's certificate names its device; a REGISTER from it must not name another
   * (Contact's devicename or Cisco +sip.instance, a SEP<MAC> Contact user or AOR). One naming
   * none passes: UCM then has no device to bind the line to either. Answered 403, counted
   * (`identity`) and logged. Also notes the REGISTER so UCM's 2xx refreshes the phone's record.
   */
  private registerAllowed(msg: SipMessage, from: Side): boolean {
    if (from !== 'outside' || msg.start.kind !== 'request' || msg.start.method !== 'REGISTER') return true;
    const id = registerIdentity(msg);
    const cert = this.conn.deviceName;
    if (this.deps.bindIdentity !== false && cert !== undefined) {
      const refuse = (reason: string) =>
        this.refuse(msg, from, { status: 403, phrase: 'Forbidden', counter: 'identity', reason });
      if (id.kind === 'conflict') return refuse(`REGISTER names several devices (${id.names.join(', ')})`);
      if (id.kind === 'device' && id.deviceName !== cert.toUpperCase())
        return refuse(`REGISTER names ${id.deviceName} (${id.sources.join(', ')}); the certificate is ${cert}`);
    }
    const deviceName = cert ?? (id.kind === 'device' ? id.deviceName : undefined);
    const cseq = parseCSeq(msg);
    if (deviceName && cseq) {
      if (this.pendingRegisters.size >= 16)
        this.pendingRegisters.delete(this.pendingRegisters.keys().next().value as string);
      this.pendingRegisters.set(`${callIdOf(msg)}/${cseq.seq}`, {
        deviceName,
        binds: registerExpires(msg) !== 0,
      });
    }
    return true;
  }

  private registerAnswered(msg: SipMessage): void {
    const cseq = parseCSeq(msg);
    if (cseq?.method !== 'REGISTER' || msg.start.kind !== 'response' || msg.start.status < 200) return;
    const key = `${callIdOf(msg)}/${cseq.seq}`;
    const pending = this.pendingRegisters.get(key);
    if (!pending) return;
    this.pendingRegisters.delete(key);
    if (msg.start.status >= 300 || !pending.binds) return;
    this.deps.registered?.(pending.deviceName, {
      address: this.conn.phone.address,
      port: this.conn.phone.port,
      protocol: 'sip',
      transport: this.conn.decision.phoneSignaling,
    });
  }

  /** RFC 3261 §16.6 step 3: a request is forwarded with Max-Forwards one less; at 0 it gets 483. */
  private forwardable(msg: SipMessage, from: Side): boolean {
    if (!isRequest(msg)) return true;
    const mf = msg.headers.find((h) => canonicalName(h.name) === 'max-forwards');
    if (!mf || !/^\d{1,3}$/.test(mf.value)) return true;
    const hops = Number(mf.value);
    if (hops > 0) {
      mf.value = String(hops - 1);
      return true;
    }
    if (msg.start.method !== 'ACK') this.send(from, serializeSipMessage(makeResponse(msg, 483, 'Too Many Hops')));
    this.deps.counters.error('max-forwards');
    return false;
  }

  /** Requests by method; responses by their CSeq method and a 1xx/2xx status. */
  private carriesOfferAnswer(msg: SipMessage): boolean {
    if (msg.start.kind === 'request') return OFFER_ANSWER_METHODS.has(msg.start.method);
    const method = parseCSeq(msg)?.method ?? '';
    return method !== 'ACK' && OFFER_ANSWER_METHODS.has(method) && msg.start.status < 300;
  }

  /**
   * A refusal the appliance answers itself: counted, logged, and for a request (other than
   * ACK) a response to the sender carrying the reason in a Warning (RFC 3261 §20.43).
   */
  private refuse(msg: SipMessage, from: Side, r: Refusal): false {
    this.deps.counters.error(r.counter);
    this.deps.log.warn(
      ...ppx(140004, { conn: this.conn.id, callId: callIdOf(msg), status: r.status, reason: r.reason }),
    );
    if (isRequest(msg) && msg.start.method !== 'ACK') {
      // Our Via was added already; the sender's own Vias are what the response must carry back.
      this.popApplianceViaFromRequest(msg);
      const res = makeResponse(msg, r.status, r.phrase);
      const at = this.legOf(from).at.host;
      const text = r.reason
        .replace(/[\\"]/g, "'")
        .replace(/[^\x20-\x7e]/g, '?')
        .slice(0, 200);
      res.headers.splice(res.headers.length - 1, 0, { name: 'Warning', value: `399 ${at} "${text}"` });
      this.send(from, serializeSipMessage(res));
    }
    return false;
  }

  // ---- routing headers ----------------------------------------------------------------

  /** The appliance as the phone knows it: the public address behind a NAT (issue 13), else the bound one. */
  private outsideShown(): HostPort {
    return { host: this.conn.outsideAdvertised ?? this.conn.outsideLocal.address, port: this.conn.outsideLocal.port };
  }

  /** A URI naming the appliance's phone side, by the address shown or the bound one. */
  private isOutsideLocal(hp: HostPort | undefined): boolean {
    const bound: HostPort = { host: this.conn.outsideLocal.address, port: this.conn.outsideLocal.port };
    return sameHostPort(hp, this.outsideShown()) || sameHostPort(hp, bound);
  }

  private legOf(side: Side): { at: HostPort; transport: SipTransport } {
    return side === 'outside'
      ? { at: this.outsideShown(), transport: this.conn.decision.phoneSignaling }
      : {
          at: { host: this.conn.insideLocal.address, port: this.conn.insideLocal.port },
          transport: this.conn.upstream.transport,
        };
  }

  private rewriteRouting(msg: SipMessage, from: Side): void {
    const to: Side = from === 'outside' ? 'inside' : 'outside';
    const toLeg = this.legOf(to);
    const member: HostPort = { host: this.conn.upstream.address, port: this.conn.upstream.port };
    const outsideLocal = this.outsideShown();
    if (isRequest(msg)) {
      const top = msg.headers.findIndex((h) => canonicalName(h.name) === 'via');
      const topVia = msg.headers[top]?.value ?? '';
      msg.headers.splice(Math.max(top, 0), 0, { name: 'Via', value: applianceVia(toLeg.transport, toLeg.at, topVia) });
      const target = uriHostPort(msg.start.uri);
      if (from === 'outside' && this.isOutsideLocal(target)) {
        // In a dialog the phone targets the Contact it was shown (ours): give the request the
        // inside peer's own Contact back (a proxy routes on it; UCM's Contact is UCM anyway).
        msg.start.uri =
          this.insideContacts.get(callIdOf(msg)) ?? setUriHostPort(msg.start.uri, member, this.conn.upstream.transport);
      } else if (from === 'inside' && sameHostPort(target, this.legOf('inside').at)) {
        const phone = this.phoneContact ?? { host: this.conn.phone.address, port: this.conn.phone.port };
        msg.start.uri = setUriHostPort(msg.start.uri, phone, this.conn.decision.phoneSignaling);
      }
    } else {
      this.popApplianceVia(msg);
    }
    for (const h of msg.headers) {
      const name = canonicalName(h.name);
      if (name === 'contact' && h.value.trim() !== '*') {
        if (from === 'outside') this.phoneContact = uriHostPort(h.value) ?? this.phoneContact;
        else if (parseCSeq(msg)?.method !== 'REGISTER') {
          const uri = /<([^>]+)>/.exec(h.value)?.[1] ?? h.value.split(';')[0]?.trim();
          if (uri) this.insideContacts.set(callIdOf(msg), uri);
        }
        h.value = h.value
          .split(/,(?=\s*(?:[^,]*<|sips?:))/)
          .map((v) => setUriHostPort(v, toLeg.at, toLeg.transport))
          .join(',');
      } else if (name === 'record-route' || name === 'route') {
        h.value = h.value
          .split(',')
          .map((v) => {
            const hp = uriHostPort(v);
            if (to === 'outside' && hp?.host === member.host) return this.hideRoute(v, outsideLocal);
            if (to === 'inside' && this.isOutsideLocal(hp))
              return this.restoreRoute(v) ?? setUriHostPort(v, member, this.conn.upstream.transport);
            return v;
          })
          .join(',');
      }
    }
  }

  /**
   * A route entry naming the member, shown to the phone as ours. The original (port, transport,
   * parameters) is kept in a small per-connection table and its index rides in a URI parameter,
   * which the phone copies verbatim into its route set (RFC 3261 §12.1).
   */
  private hideRoute(value: string, outsideLocal: HostPort): string {
    const original = value.trim();
    let index = this.memberRoutes.indexOf(original);
    if (index < 0 && this.memberRoutes.length < 32) index = this.memberRoutes.push(original) - 1;
    const shown = setUriHostPort(value, outsideLocal, this.conn.decision.phoneSignaling);
    return index < 0 ? shown : shown.replace(/>/, `;pp-rr=${index}>`);
  }

  private restoreRoute(value: string): string | undefined {
    const m = /;pp-rr=(\d+)/.exec(value);
    return m ? this.memberRoutes[Number(m[1])] : undefined;
  }

  /** Responses come back with the appliance's Via on top: remove it (RFC 3261 §16.7 step 3). */
  private popApplianceVia(msg: SipMessage): void {
    const top = msg.headers.findIndex((h) => canonicalName(h.name) === 'via');
    const header = msg.headers[top];
    if (!header) return;
    const values = header.value.split(/,(?=\s*SIP\/)/i);
    if (!isApplianceVia(values[0] ?? '')) return;
    values.shift();
    if (values.length === 0) msg.headers.splice(top, 1);
    else header.value = values.join(',').trim();
  }

  // ---- calls and media ----------------------------------------------------------------

  private trackBefore(msg: SipMessage, from: Side): Call | undefined {
    const callId = callIdOf(msg);
    let call = this.calls.get(callId);
    if (!call && isRequest(msg) && msg.start.method === 'INVITE') {
      const who = from === 'outside' ? 'phone' : 'upstream';
      call = {
        callId,
        state: 'calling',
        inviteCseq: parseCSeq(msg)?.seq,
        sendKey: {},
        offered: {},
        gcmSeen: {},
        from: who,
      };
      this.calls.set(callId, call);
      this.ended.delete(callId);
      // One info line per call (at its end): a synchronous log write is CPU per call (bench:sip).
      if (this.deps.log.isLevelEnabled('debug'))
        this.deps.log.debug({ conn: this.conn.id, callId, from: who }, 'call started');
    }
    return call;
  }

  private async trackAfter(msg: SipMessage, call: Call): Promise<void> {
    const cseq = parseCSeq(msg);
    if (isRequest(msg)) {
      if (msg.start.method === 'BYE') await this.endCall(call, 'BYE');
      else if (msg.start.method === 'CANCEL' && call.state !== 'confirmed') await this.endCall(call, 'CANCEL');
      return;
    }
    if (cseq?.method !== 'INVITE' || msg.start.kind !== 'response') return;
    const status = msg.start.status;
    if (cseq.seq !== call.inviteCseq || call.state === 'confirmed') return; // re-INVITE outcomes keep the call
    if (status >= 100 && status < 200 && call.state === 'calling') {
      call.state = 'early';
      call.since = undefined;
    } else if (status >= 200 && status < 300) {
      call.state = 'confirmed';
    } else if (status >= 300) {
      await this.endCall(call, `final response ${status}`);
    }
  }

  private async endCall(call: Call, reason: string): Promise<void> {
    if (call.state === 'terminated') return;
    call.state = 'terminated';
    this.calls.delete(call.callId);
    // Remember recently ended calls so a late answer does not allocate media again.
    this.ended.add(call.callId);
    this.insideContacts.delete(call.callId);
    if (this.ended.size > 256) this.ended.delete(this.ended.values().next().value as string);
    const media = call.media;
    if (!media) return;
    try {
      const m = await media;
      const allocator = this.deps.media();
      // Not waiting for the worker: the destroy rides with its next request (one round trip less).
      if (allocator?.releaseLater) allocator.releaseLater(m.id, reason);
      else await allocator?.release(m.id, reason);
      this.deps.log.info(
        {
          conn: this.conn.id,
          callId: call.callId,
          ...(call.from ? { from: call.from } : {}),
          media: String(m.id),
          reason,
        },
        'call ended; media released',
      );
    } catch (err) {
      this.deps.log.warn(...ppx(140005, { conn: this.conn.id, callId: call.callId, err: String(err) }));
    }
  }

  /**
   * A BYE or CANCEL with no dialog here: the call may be one this node took over from a dead one
   * (issue 14, docs/cluster.md §7), its media adopted but its dialog not. Only the phone that
   * owned it (the certificate's device name, as the snapshot carries it) ends it.
   */
  private async endAdopted(method: string, callId: string): Promise<void> {
    const phone = this.conn.deviceName;
    const media = this.deps.media();
    if (!phone || !media?.releaseTakenOver) return;
    try {
      const n = await media.releaseTakenOver(callId, phone, method);
      if (n > 0)
        this.deps.log.info(
          { conn: this.conn.id, callId, phone, sessions: n, reason: method },
          'call taken over ended; media released',
        );
    } catch (err) {
      this.deps.log.warn(...ppx(140005, { conn: this.conn.id, callId, err: String(err) }));
    }
  }

  /**
   * An in-dialog offer or answer for a call this connection holds no media of: it may be one
   * this node took over from a dead node (issue 14, docs/cluster.md §7), the phone's hold or
   * resume re-INVITE arriving here now. Continued, not allocated: the adopted session's ports,
   * and the keys the dead node sent with (a new key fails authentication at the peer until it
   * has the answer). The offerer's line of that suite keeps its tag; the other side gets tag 1.
   */
  private continueTakenOver(call: Call, media: MediaAllocator, from: Side, audio: ReturnType<typeof findAudio>): void {
    const phone = this.conn.deviceName;
    if (!phone || !media.claimTakenOver) return;
    const callId = call.callId;
    const taken = media.claimTakenOver(callId, phone, () => !this.closing && this.calls.has(callId));
    if (!taken) return;
    call.media = Promise.resolve(taken.info);
    call.mediaId = String(taken.info.id);
    call.state = 'confirmed';
    for (const side of ['outside', 'inside'] as const) {
      const k = taken.sendKeys[side];
      if (!k || !(k.profile in SDES_KEY_BYTES)) continue;
      const suite = k.profile as SdesSuite;
      const tag = (side === from ? audio?.cryptos.find((c) => c.suite === suite)?.tag : undefined) ?? 1;
      call.sendKey[side] = { tag, suite, key: Buffer.from(k.key) };
    }
  }

  private newKey(suite: SdesSuite, tag: number): SdesCrypto {
    return { tag, suite, key: this.deps.randomBytes(SDES_KEY_BYTES[suite]) };
  }

  /** A fresh offer toward `side`: one key per suite it can use (suite-choice.ts), tags 1, 2, ... */
  private offerKeys(call: Call, side: Side): SdesCrypto[] {
    const gcm =
      (this.deps.gcmSides ?? []).includes(side) ||
      call.gcmSeen[side] === true ||
      (side === 'outside' && this.phoneTakesGcm);
    return offerSuites(this.suites, gcm).map((suite, i) => this.newKey(suite, i + 1));
  }

  private legMode(side: Side): 'rtp' | 'srtp' {
    return side === 'outside' ? this.conn.decision.outsideMedia : this.conn.decision.insideMedia;
  }

  /**
   * Offer or answer from `from`: learn that side's address and key, program its media leg, and
   * rewrite the SDP for the other side. Returns false when the message was refused (and
   * answered when it was a request); a session this message allocated is then released, and
   * the call with it when the message was its initial offer or answer.
   */
  private async rewriteMedia(msg: SipMessage, from: Side, known: Call | undefined): Promise<boolean> {
    const to: Side = from === 'outside' ? 'inside' : 'outside';
    const callId = callIdOf(msg);
    const sdpRefusal = (reason: string): Refusal => ({
      status: 488,
      phrase: 'Not Acceptable Here',
      counter: 'sdp',
      reason,
    });
    const media = this.deps.media();
    if (!media) return this.refuse(msg, from, sdpRefusal('media termination is not running'));
    const text = msg.body.toString('utf8');
    let audio: ReturnType<typeof findAudio>;
    let parsed: Sdp;
    try {
      parsed = parseSdp(text);
      audio = findAudio(parsed, this.suites);
    } catch (err) {
      // An SDP media termination cannot serve: refused before anything is allocated for it. A
      // call it was to set up ends here, releasing what its offer allocated (re-INVITEs keep theirs).
      const refused = this.refuse(msg, from, sdpRefusal((err as Error).message));
      if (known && known.state !== 'confirmed') await this.endCall(known, 'SDP refused');
      return refused;
    }
    if (!known && !this.calls.has(callId) && this.ended.has(callId))
      return this.refuse(msg, from, sdpRefusal('SDP for a call that has ended'));
    const call: Call = known ??
      this.calls.get(callId) ?? { callId, state: 'confirmed', sendKey: {}, offered: {}, gcmSeen: {} };
    this.calls.set(callId, call);
    if (call.mediaId !== undefined && media.has?.(call.mediaId) === false) {
      // Released under a live call (idle timer, `clear`): this offer re-creates it.
      this.deps.counters.error('media-recreated');
      this.deps.log.info({ conn: this.conn.id, callId, media: call.mediaId }, 'media session gone; re-creating it');
      call.media = undefined;
      call.mediaId = undefined;
    }
    if (call.media === undefined && hasToTag(msg)) this.continueTakenOver(call, media, from, audio);
    const created = call.media === undefined;
    let update: UpdateLegConfig | undefined;
    if (audio) {
      const mode = this.legMode(from);
      let srtp: { profile: SdesSuite; recvKey: Buffer; sendKey: Buffer } | undefined;
      if (mode === 'srtp') {
        if (showsGcm(audio.cryptos)) {
          call.gcmSeen[from] = true;
          if (from === 'outside') this.phoneTakesGcm = true;
        }
        const offered = call.offered[from];
        const mine = call.sendKey[from];
        // An answer picks one of the lines we offered (tag and suite) or the tag we agreed before;
        // an offer: its strongest line we allow (issue 17).
        const answered = offered?.find((o) => audio.cryptos.some((c) => c.tag === o.tag && c.suite === o.suite));
        const theirs =
          (answered && audio.cryptos.find((c) => c.tag === answered.tag && c.suite === answered.suite)) ??
          (mine && audio.cryptos.find((c) => c.tag === mine.tag && c.suite === mine.suite)) ??
          strongestCrypto(audio.cryptos);
        if (!theirs) {
          const refused = this.refuse(
            msg,
            from,
            sdpRefusal(
              `no usable a=crypto line${audio.refusedCryptos.length ? ` (${audio.refusedCryptos.join('; ')})` : ''}`,
            ),
          );
          if (created && call.state !== 'confirmed') await this.endCall(call, 'media refused');
          return refused;
        }
        if (answered) call.sendKey[from] = answered;
        else if (!mine || mine.suite !== theirs.suite || mine.tag !== theirs.tag)
          call.sendKey[from] = this.newKey(theirs.suite, theirs.tag);
        call.offered[from] = undefined;
        srtp = { profile: theirs.suite, recvKey: theirs.key, sendKey: (call.sendKey[from] as SdesCrypto).key };
      } else if (audio.refusedCryptos.length > 0 || audio.cryptos.length > 0) {
        this.deps.log.debug({ conn: this.conn.id, callId }, 'a=crypto from a nonsecure leg ignored');
      }
      const hold = audio.endpoint.address === '0.0.0.0';
      update = { ...(hold ? {} : { peer: audio.endpoint }), mode, ...(srtp ? { srtp } : {}) };
    }
    // Known before allocating: the offer's leg travels with the create (one worker round trip).
    call.media ??= media.allocate({
      ...this.mediaRequest(callId),
      ...(update ? { first: { leg: from, cfg: update } } : {}),
    });
    let alloc: MediaSessionInfo;
    try {
      alloc = await call.media;
      call.mediaId = String(alloc.id);
    } catch (err) {
      call.media = undefined;
      const refused = this.refuse(msg, from, this.allocationRefusal(err));
      if (call.state !== 'confirmed') await this.endCall(call, 'media refused');
      return refused;
    }
    const failed = async (r: Refusal): Promise<false> => {
      const refused = this.refuse(msg, from, r);
      if (!created) return refused;
      // Nothing else uses this session yet: give its ports back now, not at the call's end.
      call.media = undefined;
      call.mediaId = undefined;
      await media.release(alloc.id, 'refused').catch(() => undefined);
      if (call.state !== 'confirmed') await this.endCall(call, 'media refused');
      return refused;
    };
    if (audio && update) {
      try {
        // Already applied with the create when this offer allocated: the service sends nothing.
        await media.updateLeg(alloc.id, from, update);
        media.setDirection?.(alloc.id, audio.direction);
      } catch (err) {
        return failed({
          status: 500,
          phrase: 'Server Internal Error',
          counter: 'media-update',
          reason: `media termination refused the stream: ${(err as Error).message}`,
        });
      }
    }
    let cryptos: SdesCrypto[] | undefined;
    if (this.legMode(to) === 'srtp') {
      const agreed = call.sendKey[to];
      if (!agreed) call.offered[to] ??= this.offerKeys(call, to);
      cryptos = agreed ? [agreed] : call.offered[to];
    }
    let rewritten: string;
    try {
      // Toward the phone the media address is the one it can reach: public behind a NAT.
      const address = to === 'outside' ? (alloc.outside.advertised ?? alloc.outside.address) : alloc.inside.address;
      rewritten = rewriteParsedSdp(parsed, audio, { ...alloc[to], address, ...(cryptos ? { cryptos } : {}) });
    } catch (err) {
      return failed(sdpRefusal((err as Error).message));
    }
    msg.body = Buffer.from(rewritten, 'utf8');
    return true;
  }

  /** Who asks: admission counts the session against this phone and this connection. */
  private mediaRequest(callId: string): AllocateRequest {
    return {
      callId,
      outsideInterface: this.conn.outsideInterface,
      insideInterface: this.conn.insideInterface,
      ...(this.conn.deviceName ? { phone: this.conn.deviceName } : {}),
      connection: `sip-${this.conn.id}`,
      dialogAlive: () => !this.closing && this.calls.has(callId),
    };
  }

  private allocationRefusal(err: unknown): Refusal {
    const kind = (err as { kind?: unknown }).kind;
    const reason = `media allocation failed: ${(err as Error).message}`;
    if (typeof kind === 'string' && BUSY_CAUSES.has(kind))
      return { status: 486, phrase: 'Busy Here', counter: 'media-admission', reason };
    if (typeof kind === 'string' && UNAVAILABLE_CAUSES.has(kind))
      return { status: 503, phrase: 'Service Unavailable', counter: 'media-admission', reason };
    return { status: 488, phrase: 'Not Acceptable Here', counter: 'sdp', reason };
  }

  private popApplianceViaFromRequest(msg: SipMessage): void {
    const top = msg.headers.findIndex((h) => canonicalName(h.name) === 'via');
    if (top >= 0 && isApplianceVia(msg.headers[top]?.value ?? '')) msg.headers.splice(top, 1);
  }
}

/** A To tag: the message belongs to a dialog (an initial INVITE has none). */
function hasToTag(msg: SipMessage): boolean {
  return /;\s*tag=/i.test(getHeader(msg, 'to') ?? '');
}

export function createSipInspectorFactory(deps: SipInspectorDeps) {
  const live = new Set<SipInspector>();
  const factory = (conn: InspectedConnection, pipe: InspectorPipe): Inspector => {
    const inspector = new SipInspector(conn, pipe, deps, () => live.delete(inspector));
    live.add(inspector);
    return inspector;
  };
  return { factory, sessions: () => [...live].flatMap((i) => i.sessions()) };
}
