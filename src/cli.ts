#!/usr/bin/env node
/**
 * phone-proxy command line. The command tree (src/cli/spec.ts) answers help and usage errors
 * itself; a valid command line is handed, word for word, to its command's module, loaded only
 * then: `show` from a second shell should not pay for the daemon's modules.
 */
import { RUNNERS } from './cli/runners';
import { helpText, resolve } from './cli/tree';
import { type CommandIo, errorLine } from './commands/io';
import { CommandError } from './errors';

export async function main(argv: string[], io: CommandIo): Promise<number> {
  const r = resolve(argv);
  if (r.kind === 'version') {
    const { PACKAGE } = await import('./version');
    io.stdout.write(`${PACKAGE.name} ${PACKAGE.version}\n`);
    return 0;
  }
  if (r.kind === 'help' || r.kind === 'usage') {
    if (r.kind === 'help') {
      (r.toStderr ? io.stderr : io.stdout).write(helpText(r.path));
      return r.exitCode;
    }
    const where = r.path.map((c) => c.name).join(' ');
    io.stderr.write(`${where}: ${r.message}\nRun '${where} --help' for usage.\n`);
    return 2;
  }
  const name = r.command.name;
  const run = RUNNERS[name];
  try {
    if (!run) throw new Error(`no runner for ${name}`); // test/cli/spec-modules.test.ts: every command has one
    return await run(r.argv, io);
  } catch (err) {
    // Operator errors (bad policy, corrupted key, daemon not running) are one clear line, not a stack trace.
    io.stderr.write(`${errorLine(name ?? '', err)}\n`);
    if (io.env.PHONE_PROXY_TRACE && err instanceof Error) io.stderr.write(`${err.stack}\n`);
    // Same codes as the commands that report their own errors (src/commands/io.ts guarded).
    if (err instanceof CommandError) return err.exitCode;
    return String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  }
}

if (require.main === module) {
  // Exit explicitly: a stopped daemon may leave worker or socket handles closing in the background.
  // stdout/stderr are synchronous for files and pipes on Linux, so nothing printed is lost.
  main(process.argv.slice(2), process).then((code) => process.exit(code));
}
