#!/usr/bin/env node
/** phone-proxy command line: one word picks the command, the rest is its arguments. */
import { type CommandIo, type CommandRunner, errorLine } from './commands/io';

// Commands load lazily: `show` from a second shell should not pay for the daemon's modules.
const COMMANDS: Record<string, { run: CommandRunner; help: string }> = {
  start: {
    run: async (a, io) => (await import('./commands/start')).run(a, io),
    help: 'start [--policy FILE] [--state DIR]      run the appliance',
  },
  check: {
    run: async (a, io) => (await import('./commands/check')).run(a, io),
    help: 'check [--policy FILE]...                 validate policies without starting',
  },
  'import-asa': {
    run: async (a, io) => (await import('./commands/import-asa')).run(a, io),
    help: 'import-asa RUNNING-CONFIG [--certs DIR]   ASA phone-proxy configuration to a policy (stdout)',
  },
  show: {
    run: async (a, io) => (await import('./commands/operate')).show(a, io),
    help: 'show <what> [--json] [--state DIR]       ask the running appliance',
  },
  clear: {
    run: async (a, io) => (await import('./commands/operate')).clear(a, io),
    help: 'clear <what> [--state DIR]               clear sessions, connections, records',
  },
  ctl: {
    run: async (a, io) => (await import('./commands/ctl')).run(a, io),
    help: 'ctl show|build|accept ...                 CTL files: inspect, build, phone acceptance check',
  },
  sign: {
    run: async (a, io) => (await import('./commands/sign')).run(a, io),
    help: 'sign FILE | sign --verify FILE.sgn        signed (.sgn) configuration files',
  },
  sast: {
    run: async (a, io) => (await import('./commands/sast')).run(a, io),
    help: 'sast export|import ...                    SAST keys as PKCS#12, for a replacement box',
  },
  pki: {
    run: async (a, io) => (await import('./commands/pki')).runPki(a, io),
    help: 'pki export ldc-issuer [--policy FILE] [--state DIR]  LDC issuer certificate to upload to UCM',
  },
  debug: {
    run: async (a, io) => (await import('./commands/operate')).debug(a, io),
    help: 'debug <tftp|signaling|media|events|errors> on|off [--state DIR]',
  },
};

export async function main(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    const asked = name === 'help' || name === '--help';
    io.stderr.write(`${name && !asked ? `unknown command "${name}"\n` : ''}usage: phone-proxy <command>\n`);
    for (const c of Object.values(COMMANDS)) io.stderr.write(`  phone-proxy ${c.help}\n`);
    return asked ? 0 : 2;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    // Operator errors (bad policy, corrupted key, daemon not running) are one clear line, not a stack trace.
    io.stderr.write(`${errorLine(name ?? '', err)}\n`);
    if (io.env.PHONE_PROXY_TRACE && err instanceof Error) io.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

if (require.main === module) {
  // Exit explicitly: a stopped daemon may leave worker or socket handles closing in the background.
  // stdout/stderr are synchronous for files and pipes on Linux, so nothing printed is lost.
  main(process.argv.slice(2), process).then((code) => process.exit(code));
}
