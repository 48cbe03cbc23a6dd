/**
 * `capture NAME [options]` and `no capture NAME` (issue 15): asked of the running daemon, which
 * checks the request again (src/capture/request.ts) and writes the files. A relative --file is
 * made absolute here: the daemon's working directory is not the operator's.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CAPTURE_OPTIONS } from '../capture/request';
import { callDaemon } from '../control/api';
import { CommandError } from '../errors';
import { type CommandIo, controlDirOf, DEFAULT_STATE_DIR } from './io';

const COMMON = {
  state: { type: 'string', default: DEFAULT_STATE_DIR },
  'control-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

async function ask(
  values: { state: string; 'control-dir'?: string | undefined; json: boolean },
  words: string[],
  io: CommandIo,
): Promise<number> {
  const controlDir = controlDirOf(values['control-dir'], values.state);
  const result = (await callDaemon(controlDir, 'POST', ['command', ...words], values.state)) as { message: string };
  const json = values.json;
  io.stdout.write(json ? `${JSON.stringify(result)}\n` : `${result.message}\n`);
  return 0;
}

export async function capture(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...CAPTURE_OPTIONS, ...COMMON },
    allowPositionals: true,
  });
  const words = ['capture', ...positionals];
  for (const name of ['phone', 'duration', 'max-bytes'] as const) {
    const v = values[name];
    if (v !== undefined) words.push(`--${name}`, v);
  }
  if (values.file !== undefined) words.push('--file', path.resolve(values.file));
  if (values.media) words.push('--media');
  if (values.decrypted) words.push('--decrypted');
  return ask(values, words, io);
}

export async function no(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: COMMON, allowPositionals: true });
  const [what, ...rest] = positionals;
  if (what !== 'capture') throw new CommandError(`no ${what ?? ''}: only "no capture NAME" exists`.trim());
  return ask(values, ['no', 'capture', ...rest], io);
}
