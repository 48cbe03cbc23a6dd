/**
 * Native libsrtp as the far end of the wasm tests: test/wasm/native-peer.c (Debian's libsrtp2,
 * NSS backend) compiled once per suite. Needs gcc and libsrtp2-dev; `available` says whether
 * they are here (the suites skip, and say so, without them).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SrtpProfile } from '../../wasm/srtp';

export const NATIVE_HEADER = '/usr/include/srtp2/srtp.h';

export const nativeAvailable = (() => {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return existsSync(NATIVE_HEADER);
  } catch {
    return false;
  }
})();

export type Line = { rtcp: boolean; pkt: Buffer };

export class NativePeer {
  private dir = '';
  private bin = '';

  /** Compiles native-peer.c (call in beforeAll). */
  build(): void {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'pp-native-peer-'));
    this.bin = path.join(this.dir, 'native-peer');
    execFileSync('gcc', ['-O2', '-o', this.bin, path.join(__dirname, 'native-peer.c'), '-lsrtp2'], { stdio: 'pipe' });
  }

  remove(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** One native session (one process): each line protected (outbound) or unprotected
   *  (inbound) in order; a packet, or libsrtp's status code as a negative number. */
  run(profile: SrtpProfile, direction: 'inbound' | 'outbound', key: Buffer, lines: Line[]): (Buffer | number)[] {
    const input = lines.map((l) => `${l.rtcp ? 'rtcp' : 'rtp'} ${l.pkt.toString('hex')}\n`).join('');
    const out = execFileSync(this.bin, [profile, direction, key.toString('hex')], { input, encoding: 'utf8' });
    return out
      .trim()
      .split('\n')
      .map((s) => (s.startsWith('ERR ') ? -Number(s.slice(4)) : Buffer.from(s, 'hex')));
  }
}
