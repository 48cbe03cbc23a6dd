/**
 * Optional third relay of the pps benchmark: Debian's rtpengine (userspace forwarding only,
 * --table=-1, one worker thread), set up for K SRTP→RTP calls through its ng control protocol
 * (bencoded dictionaries over UDP). Used only when /usr/bin/rtpengine exists.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import type { Endpoint } from './relay';

export const RTPENGINE_BIN = '/usr/bin/rtpengine';
export const RTPENGINE_ADDRESS = '127.0.3.10';
const NG_PORT = 22299;
/** Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s. */
const TICK_MICROS = 10_000;

type BValue = string | number | BValue[] | { [k: string]: BValue };

export function bencode(v: BValue): string {
  if (typeof v === 'number') return `i${Math.trunc(v)}e`;
  if (typeof v === 'string') return `${Buffer.byteLength(v)}:${v}`;
  if (Array.isArray(v)) return `l${v.map(bencode).join('')}e`;
  return `d${Object.keys(v)
    .sort()
    .map((k) => bencode(k) + bencode(v[k] as BValue))
    .join('')}e`;
}

export function bdecode(s: Buffer): BValue {
  let i = 0;
  const next = (): BValue => {
    const c = String.fromCharCode(s[i] as number);
    if (c === 'i') {
      const end = s.indexOf('e', i);
      const n = Number(s.toString('latin1', i + 1, end));
      i = end + 1;
      return n;
    }
    if (c === 'l' || c === 'd') {
      i++;
      const items: BValue[] = [];
      while (s[i] !== 0x65) items.push(next());
      i++;
      if (c === 'l') return items;
      const o: Record<string, BValue> = {};
      for (let k = 0; k < items.length; k += 2) o[String(items[k])] = items[k + 1] as BValue;
      return o;
    }
    const colon = s.indexOf(':', i);
    const len = Number(s.toString('latin1', i, colon));
    const out = s.toString('utf8', colon + 1, colon + 1 + len);
    i = colon + 1 + len;
    return out;
  };
  return next();
}

function sdp(address: string, port: number, savp: boolean, key?: Buffer): string {
  const lines = ['v=0', `o=- 1 1 IN IP4 ${address}`, 's=-', `c=IN IP4 ${address}`, 't=0 0'];
  lines.push(`m=audio ${port} ${savp ? 'RTP/SAVP' : 'RTP/AVP'} 0`, 'a=rtpmap:0 PCMU/8000');
  if (key) lines.push(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key.toString('base64')}`);
  lines.push('a=sendrecv', '');
  return lines.join('\r\n');
}

export class Rtpengine {
  private constructor(
    private readonly child: ChildProcess,
    private readonly ng: dgram.Socket,
  ) {}

  static available(): boolean {
    return existsSync(RTPENGINE_BIN);
  }

  static version(): string {
    const r = spawnSync(RTPENGINE_BIN, ['--version'], { encoding: 'utf8' });
    return (`${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? 'unknown').replace(/^Version: /, '');
  }

  static async start(portMin: number, portMax: number): Promise<Rtpengine> {
    const child = spawn(
      RTPENGINE_BIN,
      [
        '--config-file=none',
        '--foreground',
        '--log-stderr',
        // CRIT only: its per-packet overload errors would otherwise cost it more than the packets.
        '--log-level=2',
        '--table=-1',
        `--interface=${RTPENGINE_ADDRESS}`,
        `--listen-ng=127.0.0.1:${NG_PORT}`,
        `--port-min=${portMin}`,
        `--port-max=${portMax}`,
        '--num-threads=1',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    // Never outlive the benchmark, whatever way it ends.
    process.once('exit', () => child.kill('SIGKILL'));
    const ng = dgram.createSocket('udp4');
    await new Promise<void>((r) => ng.bind(0, '127.0.0.1', () => r()));
    const r = new Rtpengine(child, ng);
    for (let attempt = 0; attempt < 50; attempt++) {
      const pong = await r.command({ command: 'ping' }, 100).catch(() => undefined);
      if (pong?.result === 'pong') return r;
    }
    await r.exit();
    throw new Error('rtpengine did not answer ping on its ng port');
  }

  private seq = 0;

  command(msg: Record<string, BValue>, timeoutMs = 2000): Promise<Record<string, BValue>> {
    const cookie = `c${++this.seq}`;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.ng.off('message', onMessage);
        reject(new Error(`rtpengine: no reply to ${String(msg.command)}`));
      }, timeoutMs);
      const onMessage = (m: Buffer) => {
        const space = m.indexOf(0x20);
        if (m.toString('latin1', 0, space) !== cookie) return;
        clearTimeout(t);
        this.ng.off('message', onMessage);
        resolve(bdecode(m.subarray(space + 1)) as Record<string, BValue>);
      };
      this.ng.on('message', onMessage);
      this.ng.send(`${cookie} ${bencode(msg)}`, NG_PORT, '127.0.0.1');
    });
  }

  /** K calls phone (SRTP, `keys[i]`) → peer (RTP, delivered to `sink`); returns the phones' target ports. */
  async srtpToRtpCalls(keys: Buffer[], phone: Endpoint, sink: Endpoint): Promise<number[]> {
    const ports: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const callId = `pps-${i}`;
      const offer = await this.command({
        command: 'offer',
        'call-id': callId,
        'from-tag': 'phone',
        sdp: sdp(phone.address, phone.port, true, keys[i]),
        'transport-protocol': 'RTP/AVP',
      });
      if (offer.result !== 'ok') throw new Error(`rtpengine offer: ${JSON.stringify(offer)}`);
      const answer = await this.command({
        command: 'answer',
        'call-id': callId,
        'from-tag': 'phone',
        'to-tag': 'peer',
        sdp: sdp(sink.address, sink.port, false),
      });
      const port = /m=audio (\d+)/.exec(String(answer.sdp))?.[1];
      if (answer.result !== 'ok' || !port) throw new Error(`rtpengine answer: ${JSON.stringify(answer)}`);
      ports.push(Number(port));
    }
    return ports;
  }

  /** CPU time of the daemon (all its threads), from /proc. */
  async cpu(): Promise<{ micros: number }> {
    const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { micros: (Number(f[11]) + Number(f[12])) * TICK_MICROS };
  }

  async exit(): Promise<void> {
    this.ng.close();
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
