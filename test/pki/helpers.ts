/** Policies written to a temporary folder (so certificate paths resolve) and in-memory CLI I/O. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { parse, stringify } from 'yaml';
import type { CommandIo } from '../../src/commands/io';
import { type LoadedPolicy, loadPolicy } from '../../src/config/load-policy';

// biome-ignore lint/suspicious/noExplicitAny: policies are edited as plain YAML data in tests
export type PolicyData = any;

export const DEFAULT_POLICY = path.resolve(__dirname, '../../policies/default.yaml');

/** The default policy, edited by `mutate`, written as `<dir>/<name>` and loaded. */
export function writePolicy(
  dir: string,
  mutate: (p: PolicyData) => void = () => {},
  name = 'policy.yaml',
): LoadedPolicy {
  const data = parse(readFileSync(DEFAULT_POLICY, 'utf8'));
  mutate(data);
  const file = path.join(dir, name);
  writeFileSync(file, stringify(data));
  return loadPolicy(file);
}

export interface CapturedIo extends CommandIo {
  out(): string;
  err(): string;
}

export function captureIo(stdin = '', env: NodeJS.ProcessEnv = {}): CapturedIo {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  return {
    stdout,
    stderr,
    stdin: Readable.from([Buffer.from(stdin)]),
    env,
    out: () => Buffer.concat(out).toString(),
    err: () => Buffer.concat(err).toString(),
  };
}
