/** What every CLI command gets and shares: its streams, defaults, error reporting, passphrases. */
import { readFileSync } from 'node:fs';
import { CommandError, catalogueCode } from '../errors';

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

export type CommandRunner = (argv: string[], io: CommandIo) => Promise<number>;

/** `--state` and `--policy` when not given: $PHONE_PROXY_STATE / $PHONE_PROXY_POLICY if set (the Debian
 *  package's /usr/bin/phone-proxy sets /var/lib/phone-proxy and /etc/phone-proxy/policy.yaml), else the
 *  checkout's ./var and default policy. */
export const DEFAULT_STATE_DIR = process.env.PHONE_PROXY_STATE || 'var';
export const DEFAULT_POLICY = process.env.PHONE_PROXY_POLICY || 'policies/default.yaml';
/** `--control-dir` when not given: $PHONE_PROXY_CONTROL_DIR (the package's wrapper: /run/phone-proxy), else
 *  the state directory. */
export const controlDirOf = (given: string | undefined, stateDir: string): string =>
  given || process.env.PHONE_PROXY_CONTROL_DIR || stateDir;

export function say(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A failed command's stderr line: `phone-proxy <cmd>: [EPX_… ]<message>`, the code when the error has one. */
export function errorLine(command: string, err: unknown): string {
  const code = catalogueCode(err);
  return `phone-proxy ${command}: ${code ? `${code} ` : ''}${err instanceof Error ? err.message : String(err)}`;
}

/** Runs a command body; any error becomes its errorLine and an exit code. */
export async function guarded(io: CommandIo, command: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    say(io.stderr, errorLine(command, err));
    if (err instanceof CommandError) return err.exitCode;
    return String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

/** Never from the command line (it would sit in shell history and `ps`): a file, the environment or stdin. */
export async function readPassphrase(
  values: { 'passphrase-file'?: string; 'passphrase-env'?: string },
  io: CommandIo,
): Promise<string> {
  let pass: string;
  if (values['passphrase-file'] && values['passphrase-env']) {
    throw new CommandError('give either --passphrase-file or --passphrase-env, not both');
  }
  if (values['passphrase-file']) {
    try {
      pass = readFileSync(values['passphrase-file'], 'utf8');
    } catch (err) {
      throw new CommandError(
        `${values['passphrase-file']}: cannot read passphrase file (${(err as NodeJS.ErrnoException).code})`,
      );
    }
  } else if (values['passphrase-env']) {
    const v = io.env[values['passphrase-env']];
    if (v === undefined) throw new CommandError(`environment variable ${values['passphrase-env']} is not set`);
    pass = v;
  } else {
    pass = await readAll(io.stdin);
  }
  pass = pass.replace(/\r?\n$/, '');
  if (pass.length === 0) throw new CommandError('the passphrase is empty');
  return pass;
}
