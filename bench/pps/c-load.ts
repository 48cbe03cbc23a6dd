/**
 * The pps benchmark's C load generator and sink (loadgen.c, sink.c), built here from source
 * with `cc` against Debian's libsrtp2 (libsrtp2-dev) and driven line by line over stdio.
 * In C because a Node generator tops out near 50k packets/s on this machine (issue 17), below
 * the rates the relays must be measured at; these offer 150k+ with sendmmsg/recvmmsg.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';

export type LoadSuite = 'rtp' | 'srtp80';

// From dist-dev/bench/pps (the bench) or bench/pps itself (ts-jest: test/media/socket-gc.test.ts).
const SOURCES = __filename.endsWith('.ts') ? __dirname : path.resolve(__dirname, '../../../bench/pps');

/** Compiles both helpers into `dir` (once per bench run; a second or so). */
export function buildHelpers(dir: string): { loadgen: string; sink: string } {
  mkdirSync(dir, { recursive: true });
  const out = { loadgen: path.join(dir, 'loadgen'), sink: path.join(dir, 'sink') };
  for (const [name, bin] of Object.entries(out)) {
    const r = spawnSync('cc', ['-O2', '-Wall', '-o', bin, path.join(SOURCES, `${name}.c`), '-lsrtp2'], {
      encoding: 'utf8',
    });
    if (r.status !== 0)
      throw new Error(`cc ${name}.c failed (needs gcc and libsrtp2-dev): ${r.stderr || r.error?.message}`);
  }
  return out;
}

/** A child answering one line per command line, in order. */
class LineChild {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly early: string[] = [];

  constructor(bin: string, args: string[]) {
    this.child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(`${path.basename(bin)}: ${d}`));
    this.lines = createInterface({ input: this.child.stdout });
    this.child.once('exit', (code) => {
      for (const w of this.waiting.splice(0)) w(`exited ${code}`);
    });
    this.lines.on('line', (l) => {
      const w = this.waiting.shift();
      if (w) w(l);
      else this.early.push(l);
    });
  }

  next(): Promise<string> {
    const l = this.early.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  ask(command: string): Promise<string> {
    this.child.stdin.write(`${command}\n`);
    return this.next();
  }

  async quit(): Promise<void> {
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.write('quit\n');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    this.child.kill('SIGKILL');
  }
}

/** K calls from `from` to `to`:ports, SSRC base + i, key of call i = every byte i + 1. */
export class CLoadGen {
  private readonly c: LineChild;
  constructor(bin: string, from: string, to: string, suite: LoadSuite, ssrcBase: number, ports: number[]) {
    this.c = new LineChild(bin, [from, to, suite, String(ssrcBase), ports.join(',')]);
  }
  /** Offers `pps` for `ms`; resolves with the packets sent. */
  async run(pps: number, ms: number): Promise<number> {
    const r = await this.c.ask(`run ${pps} ${ms}`);
    const m = /^sent (\d+)$/.exec(r);
    if (!m) throw new Error(`loadgen: unexpected "${r}"`);
    return Number(m[1]);
  }
  quit(): Promise<void> {
    return this.c.quit();
  }
}

export interface SinkLane {
  address: string;
  suite: LoadSuite;
  ssrcBase: number;
  calls: number;
}

/** One socket per lane; counts of packets whose every byte checked out, and of the others. */
export class CSink {
  private readonly c: LineChild;
  ports: number[] = [];
  constructor(bin: string, lanes: SinkLane[]) {
    this.c = new LineChild(
      bin,
      lanes.map((l) => `${l.address}:${l.suite}:${l.ssrcBase}:${l.calls}`),
    );
  }
  async started(): Promise<number[]> {
    const l = await this.c.next();
    if (!l.startsWith('ports ')) throw new Error(`sink: unexpected "${l}"`);
    this.ports = l.slice(6).split(' ').map(Number);
    return this.ports;
  }
  async count(): Promise<{ good: number; bad: number }[]> {
    const r = await this.c.ask('count');
    const n = r.split(' ').slice(1).map(Number);
    return this.ports.map((_, i) => ({ good: n[2 * i] ?? 0, bad: n[2 * i + 1] ?? 0 }));
  }
  quit(): Promise<void> {
    return this.c.quit();
  }
}
