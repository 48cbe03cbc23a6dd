/**
 * CPU time of other processes, all their threads, from /proc: `schedstat` (nanoseconds on CPU,
 * per task) for precision, and `stat` utime+stime (1/100 s ticks) as the classic figure. Used
 * for Kamailio (several processes) and, as a cross-check of process.cpuUsage(), for the Node
 * children.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s. */
const TICK_MICROS = 10_000;

export interface ProcCpu {
  /** Sum over every task's schedstat, µs. */
  schedMicros: number;
  /** utime+stime of each process (threads included), µs, in 10 ms steps. */
  statMicros: number;
  /** Of statMicros, system time. */
  statSystemMicros: number;
  /** schedstat µs by thread name (/proc/<pid>/task/<tid>/comm): where a process spends it. */
  byThread: Record<string, number>;
}

export function procCpu(pids: number[]): ProcCpu {
  let sched = 0;
  let stat = 0;
  let system = 0;
  const byThread: Record<string, number> = {};
  for (const pid of pids) {
    try {
      const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // Fields 14 and 15 of stat (utime, stime), here 0-based after the comm field.
      stat += (Number(f[11]) + Number(f[12])) * TICK_MICROS;
      system += Number(f[12]) * TICK_MICROS;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const ss = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
        const micros = Number(ss.split(' ')[0]) / 1000;
        sched += micros;
        // Node names none of its threads: the main one is told apart by its id.
        const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        const name = process.env.SIP_TIDS
          ? `${comm}:${Number(tid) - pid}`
          : Number(tid) === pid
            ? `${comm} main`
            : `${comm} other`;
        byThread[name] = (byThread[name] ?? 0) + micros;
      }
    } catch {
      // a process or thread that ended meanwhile
    }
  }
  return { schedMicros: sched, statMicros: stat, statSystemMicros: system, byThread };
}

/** b − a per thread name, µs per call, rounded; threads under 1 µs per call left out. */
export function perCallByThread(a: ProcCpu, b: ProcCpu, calls: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.byThread)) {
    const d = (v - (a.byThread[k] ?? 0)) / calls;
    if (d >= 1) out[k] = Math.round(d);
  }
  return out;
}

/** Several processes' CPU as one, thread names prefixed by `label/` for all but the first. */
export function mergeCpu(parts: { label?: string; cpu: ProcCpu }[]): ProcCpu {
  const out: ProcCpu = { schedMicros: 0, statMicros: 0, statSystemMicros: 0, byThread: {} };
  for (const { label, cpu } of parts) {
    out.schedMicros += cpu.schedMicros;
    out.statMicros += cpu.statMicros;
    out.statSystemMicros += cpu.statSystemMicros;
    for (const [k, v] of Object.entries(cpu.byThread)) {
      const name = label ? `${label}/${k}` : k;
      out.byThread[name] = (out.byThread[name] ?? 0) + v;
    }
  }
  return out;
}
