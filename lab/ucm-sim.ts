/**
 * The UCM stand-in on the inside: a TFTP server with the phones' configuration files (through
 * the appliance's own TFTP server, lab/tftp-files.ts) and a minimal SIP
 * registrar over TCP that connects calls the way UCM does, as a back-to-back user agent: the
 * caller's INVITE ends here and a new INVITE (same SDP) goes to the callee's registered
 * connection; answers, ACK and BYE are relayed between the two dialogs.
 */
import net from 'node:net';
import { getHeader, type SipMessage } from '../src/sip/message';
import {
  contactUri,
  newBranch,
  newCallId,
  newTag,
  SipChannel,
  sipRequest,
  sipResponse,
  statusOf,
  userOf,
} from './sip-channel';
import { type Listener, startListener, TFTP_MESSAGES } from './tftp-files';

interface Leg {
  channel: SipChannel;
  callId: string;
  /** This side's From/To as the UCM sends them on this leg. */
  local: string;
  remote: string;
  remoteTarget: string;
  /** Last CSeq the UCM used on this leg. */
  cseq: number;
  inviteCseq: number;
  /** The CSeq of the INVITE the UCM sent on this leg whose 2xx it has to ACK when the other side ACKs. */
  ackCseq?: number;
}

interface Bridge {
  a: Leg;
  b: Leg;
  invite: SipMessage;
  answeredAt?: number;
}

export interface UcmStats {
  tftpServed: string[];
  registrations: Map<string, string>;
  callsConnected: number;
  callsEnded: number;
  errors: string[];
}

export class UcmSimulator {
  private tftp?: Listener;
  private sip?: net.Server;
  private readonly channels = new Set<SipChannel>();
  private readonly bound = new Map<string, { channel: SipChannel; contact: string | undefined }>();
  private readonly bridges = new Map<string, Bridge>();
  readonly stats: UcmStats = {
    tftpServed: [],
    registrations: new Map(),
    callsConnected: 0,
    callsEnded: 0,
    errors: [],
  };

  constructor(
    readonly address: string,
    readonly tftpPort: number,
    readonly sipPort: number,
    private readonly files: ReadonlyMap<string, Buffer>,
  ) {}

  async start(): Promise<void> {
    this.tftp = await startListener({
      address: this.address,
      port: this.tftpPort,
      onRequest: (req, res) => {
        const body = this.files.get(req.file);
        if (!body) {
          req.abort(TFTP_MESSAGES.notFound);
          return;
        }
        this.stats.tftpServed.push(req.file);
        res.setSize(body.length);
        res.end(body);
      },
    });
    this.sip = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      this.sip?.once('error', reject);
      this.sip?.listen(this.sipPort, this.address, () => resolve());
    });
  }

  private get hostPort(): string {
    return `${this.address}:${this.sipPort}`;
  }

  private accept(sock: net.Socket): void {
    const ch = new SipChannel(sock, `UCM←${sock.remoteAddress}:${sock.remotePort}`);
    this.channels.add(ch);
    sock.on('close', () => {
      this.channels.delete(ch);
      if (ch.error) this.stats.errors.push(ch.error);
    });
    ch.onRequest = (msg) => {
      try {
        this.onRequest(ch, msg);
      } catch (err) {
        this.stats.errors.push(`${ch.label}: ${(err as Error).message}`);
        ch.send(sipResponse(msg, 500, 'Server Internal Error'));
      }
    };
  }

  private onRequest(ch: SipChannel, msg: SipMessage): void {
    if (msg.start.kind !== 'request') return;
    const method = msg.start.method;
    const callId = getHeader(msg, 'call-id') ?? '';
    if (method === 'REGISTER') {
      const user = userOf(getHeader(msg, 'to'));
      if (!user) {
        ch.send(sipResponse(msg, 400, 'Bad Request - no user in To'));
        return;
      }
      this.bound.set(user, { channel: ch, contact: contactUri(getHeader(msg, 'contact')) });
      this.stats.registrations.set(user, ch.label);
      ch.send(
        sipResponse(msg, 200, 'OK', {
          toTag: newTag(),
          ...(getHeader(msg, 'contact') ? { contact: getHeader(msg, 'contact') } : {}),
          extra: [{ name: 'Expires', value: '3600' }],
        }),
      );
      return;
    }
    const bridge = this.bridges.get(callId);
    if (method === 'INVITE' && !bridge) {
      this.startBridge(ch, msg);
      return;
    }
    if (!bridge) {
      if (method !== 'ACK') ch.send(sipResponse(msg, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    const to = bridge.a.callId === callId ? bridge.b : bridge.a;
    if (method === 'ACK') {
      // The ACK for the 2xx the UCM relayed: acknowledge the INVITE it sent on the other leg.
      if (to.ackCseq !== undefined) this.sendInDialog(to, 'ACK', to.ackCseq);
      to.ackCseq = undefined;
    } else if (method === 'INVITE') {
      this.relayReInvite(ch, msg, to);
    } else if (method === 'BYE') {
      ch.send(sipResponse(msg, 200, 'OK'));
      this.sendInDialog(to, 'BYE', ++to.cseq);
      this.end(bridge);
    } else {
      ch.send(sipResponse(msg, 501, 'Not Implemented'));
    }
  }

  private startBridge(ch: SipChannel, invite: SipMessage): void {
    const target = userOf(invite.start.kind === 'request' ? invite.start.uri : undefined);
    const binding = target ? this.bound.get(target) : undefined;
    const callee = binding?.channel;
    if (!binding || !callee || callee.closed) {
      ch.send(sipResponse(invite, 404, 'Not Found', { toTag: newTag() }));
      return;
    }
    ch.send(sipResponse(invite, 100, 'Trying'));
    const aTag = newTag();
    const a: Leg = {
      channel: ch,
      callId: getHeader(invite, 'call-id') ?? '',
      local: `${getHeader(invite, 'to') ?? ''};tag=${aTag}`,
      remote: getHeader(invite, 'from') ?? '',
      remoteTarget: contactUri(getHeader(invite, 'contact')) ?? '',
      cseq: 0,
      inviteCseq: 0,
    };
    const caller = userOf(getHeader(invite, 'from')) ?? 'unknown';
    const b: Leg = {
      channel: callee,
      callId: newCallId(this.address),
      local: `<sip:${caller}@${this.address}>;tag=${newTag()}`,
      remote: `<sip:${target}@${this.address}>`,
      remoteTarget: binding.contact ?? `sip:${target}@${this.hostPort};transport=tcp`,
      cseq: 101,
      inviteCseq: 101,
      ackCseq: 101,
    };
    const bridge: Bridge = { a, b, invite };
    this.bridges.set(a.callId, bridge);
    this.bridges.set(b.callId, bridge);
    const bInvite = sipRequest(
      'INVITE',
      b.remoteTarget,
      {
        via: `SIP/2.0/TCP ${this.hostPort};branch=${newBranch()}`,
        from: b.local,
        to: b.remote,
        callId: b.callId,
        cseq: b.cseq,
        contact: `<sip:${caller}@${this.hostPort};transport=tcp>`,
      },
      invite.body.toString('latin1'),
    );
    callee.send(bInvite);
    const onAnswer = (res: SipMessage) => {
      const status = statusOf(res);
      if (status < 200) {
        if (status > 100)
          ch.send(sipResponse(invite, status, res.start.kind === 'response' ? res.start.reason : '', { toTag: aTag }));
        callee.waitFor(isAnswerToB, 'answer from the callee', 30_000).then(onAnswer, onFail);
        return;
      }
      b.remote = getHeader(res, 'to') ?? b.remote;
      b.remoteTarget = contactUri(getHeader(res, 'contact')) ?? b.remoteTarget;
      const sdp = res.body.length > 0 ? res.body.toString('latin1') : undefined;
      ch.send(
        sipResponse(invite, status, res.start.kind === 'response' ? res.start.reason : '', {
          toTag: aTag,
          contact: `<sip:${target}@${this.hostPort};transport=tcp>`,
          ...(sdp ? { sdp } : {}),
        }),
      );
      if (status >= 300) {
        this.sendInDialog(b, 'ACK', b.inviteCseq);
        this.forget(bridge);
      } else {
        bridge.answeredAt = performance.now();
        this.stats.callsConnected++;
      }
    };
    const onFail = (err: Error) => {
      this.stats.errors.push(err.message);
      ch.send(sipResponse(invite, 408, 'Request Timeout', { toTag: aTag }));
      this.forget(bridge);
    };
    const isAnswerToB = (m: SipMessage) =>
      m.start.kind === 'response' &&
      getHeader(m, 'call-id') === b.callId &&
      / INVITE$/i.test(getHeader(m, 'cseq') ?? '');
    callee.waitFor(isAnswerToB, 'answer from the callee', 30_000).then(onAnswer, onFail);
  }

  /**
   * A re-INVITE (hold, resume) from one side: a new INVITE in the other leg's dialog with the
   * same SDP, its answer relayed back; the ACK follows when the sender acknowledges.
   */
  private relayReInvite(ch: SipChannel, invite: SipMessage, to: Leg): void {
    this.follow(to);
    const cseq = ++to.cseq;
    to.channel.send(
      sipRequest(
        'INVITE',
        to.remoteTarget,
        {
          via: `SIP/2.0/TCP ${this.hostPort};branch=${newBranch()}`,
          from: to.local,
          to: to.remote,
          callId: to.callId,
          cseq,
          contact: `<sip:${userOf(to.local) ?? 'ucm'}@${this.hostPort};transport=tcp>`,
        },
        invite.body.toString('latin1'),
      ),
    );
    to.channel
      .waitFor(
        (m) =>
          m.start.kind === 'response' &&
          statusOf(m) >= 200 &&
          getHeader(m, 'call-id') === to.callId &&
          getHeader(m, 'cseq') === `${cseq} INVITE`,
        'answer to the relayed re-INVITE',
        10_000,
      )
      .then(
        (res) => {
          const sdp = res.body.length > 0 ? res.body.toString('latin1') : undefined;
          if (statusOf(res) < 300) to.ackCseq = cseq;
          else this.sendInDialog(to, 'ACK', cseq);
          ch.send(
            sipResponse(invite, statusOf(res), res.start.kind === 'response' ? res.start.reason : '', {
              contact: `<sip:ucm@${this.hostPort};transport=tcp>`,
              ...(sdp ? { sdp } : {}),
            }),
          );
        },
        (err: Error) => {
          this.stats.errors.push(err.message);
          ch.send(sipResponse(invite, 408, 'Request Timeout'));
        },
      );
  }

  /**
   * A leg whose connection closed (the appliance that carried it died) goes on over the
   * connection its phone registered on since, as UCM sends to a registered device.
   */
  private follow(leg: Leg): void {
    if (!leg.channel.closed) return;
    const user = userOf(leg.remote);
    const now = user ? this.bound.get(user)?.channel : undefined;
    if (now && !now.closed) leg.channel = now;
  }

  /** ACK or BYE on one leg of a bridge, as the UCM side of that dialog. */
  private sendInDialog(leg: Leg, method: 'ACK' | 'BYE', cseq: number): void {
    this.follow(leg);
    const req = sipRequest(method, leg.remoteTarget, {
      via: `SIP/2.0/TCP ${this.hostPort};branch=${newBranch()}`,
      from: leg.local,
      to: leg.remote,
      callId: leg.callId,
      cseq,
    });
    leg.channel.send(req);
    if (method === 'BYE') {
      // The call is over only when the other side answered our BYE.
      this.pendingByes++;
      leg.channel
        .waitFor((m) => m.start.kind === 'response' && getHeader(m, 'call-id') === leg.callId, '200 to BYE', 5000)
        .then(
          (res) => {
            if (statusOf(res) !== 200) this.stats.errors.push(`BYE on ${leg.channel.label} answered ${statusOf(res)}`);
          },
          (err: Error) => this.stats.errors.push(err.message),
        )
        .finally(() => this.pendingByes--);
    }
  }

  private end(bridge: Bridge): void {
    this.stats.callsEnded++;
    this.forget(bridge);
  }

  private forget(bridge: Bridge): void {
    this.bridges.delete(bridge.a.callId);
    this.bridges.delete(bridge.b.callId);
  }

  /** BYEs the UCM sent that are not answered yet. */
  pendingByes = 0;

  get activeCalls(): number {
    return new Set(this.bridges.values()).size;
  }

  async stop(): Promise<void> {
    for (const ch of this.channels) ch.close();
    this.channels.clear();
    const sip = this.sip;
    if (sip) await new Promise<void>((resolve) => sip.close(() => resolve()));
    await this.tftp?.close();
    this.sip = undefined;
    this.tftp = undefined;
  }
}
