/** Runs the compiled CLI (dist/, built by `npm test`) as a real process, the way an operator does. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const CLI = path.join(ROOT, 'dist/src/cli.js');

export function runCli(args: string[], timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Started {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Starts `phone-proxy start` and waits for its "ready" line (or its exit). */
export async function startCli(args: string[], readyTimeoutMs = 20_000): Promise<Started> {
  const child = spawn(process.execPath, [CLI, 'start', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ready line within ${readyTimeoutMs} ms:\n${out}`)),
      readyTimeoutMs,
    );
    const check = () => {
      if (out.includes('ready;')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    exited.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  return { child, output: () => out, exited };
}

export async function stopCli(s: Started, timeoutMs = 10_000): Promise<number | null> {
  if (s.child.exitCode !== null) return s.child.exitCode;
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), timeoutMs);
  const code = await s.exited;
  clearTimeout(timer);
  return code;
}
